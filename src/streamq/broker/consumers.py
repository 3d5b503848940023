"""A worker's consumer in the ready streams' group: the blocking read, and its removal."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from streamq.broker.connection import translate_errors
from streamq.broker.keys import GROUP, QueueKeys


async def blocking_read(
    client: aioredis.Redis, url: str, keys: QueueKeys, consumer: str, block_ms: int
) -> list[tuple[int, str, str]]:
    """Wait up to ``block_ms`` for new entries in any priority stream (real Redis only).

    The entries returned are delivered to ``consumer`` (in its pending list); pass them to
    the claim script, which starts or hands them back. Returns (priority, entry, job id).
    """
    with translate_errors(url):
        reply: Any = await client.xreadgroup(
            GROUP, consumer, dict.fromkeys(keys.ready, ">"), count=1, block=block_ms
        )
    index = {stream: prio for prio, stream in enumerate(keys.ready)}
    return [
        (index[stream], entry, fields["id"])
        for stream, entries in reply or ()
        for entry, fields in entries
        if fields
    ]


async def delete_consumer(client: aioredis.Redis, url: str, keys: QueueKeys, consumer: str) -> None:
    """Remove a stopped worker's consumer from the group (it owns no entries any more)."""
    with translate_errors(url):
        async with client.pipeline(transaction=False) as pipe:
            for stream in keys.ready:
                pipe.xgroup_delconsumer(stream, GROUP, consumer)
            await pipe.execute(raise_on_error=False)
