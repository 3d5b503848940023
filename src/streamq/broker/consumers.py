"""A worker's consumer in the ready streams' group: the blocking read, and its removal."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from streamq.broker.clients import close_client
from streamq.broker.connection import Connection, translate_errors
from streamq.broker.keys import GROUP, QueueKeys


class BlockingReader:
    """An idle worker's wait for new jobs: ``XREADGROUP BLOCK`` on a connection of its own,
    so the shared pool never waits behind it (real Redis only)."""

    def __init__(self, connection: Connection, keys: QueueKeys, consumer: str) -> None:
        self._connection = connection
        self._keys = keys
        self._consumer = consumer
        self._streams: dict[Any, Any] = dict.fromkeys(keys.ready, ">")
        self._priority = {stream: prio for prio, stream in enumerate(keys.ready)}
        self._client: aioredis.Redis | None = None

    async def read(self, block_ms: int) -> list[tuple[int, str, str]]:
        """Wait up to ``block_ms`` for new entries in any priority stream.

        The entries returned are delivered to the consumer (in its pending list); pass them
        to the claim script, which starts them or hands them back. Returns
        (priority, entry id, job id) tuples.
        """
        if self._client is None:
            self._client = self._connection.blocking_client()
        with translate_errors(self._connection.url):
            reply: Any = await self._client.xreadgroup(
                GROUP, self._consumer, self._streams, count=1, block=block_ms
            )
        return [
            (self._priority[stream], entry, fields["id"])
            for stream, entries in reply or ()
            for entry, fields in entries
            if fields
        ]

    async def aclose(self) -> None:
        """Close the reader's connection."""
        if self._client is not None:
            await close_client(self._client)
            self._client = None


async def delete_consumer(client: aioredis.Redis, url: str, keys: QueueKeys, consumer: str) -> None:
    """Remove a stopped worker's consumer from the group (it owns no entries any more)."""
    with translate_errors(url):
        async with client.pipeline(transaction=False) as pipe:
            for stream in keys.ready:
                pipe.xgroup_delconsumer(stream, GROUP, consumer)
            await pipe.execute(raise_on_error=False)
