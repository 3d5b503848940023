"""A worker's consumer in the ready streams' group: the blocking read, and its removal."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis

from streamq.broker.clients import close_client
from streamq.broker.connection import SOCKET_TIMEOUT_S, Connection, translate_errors
from streamq.broker.keys import GROUP, QueueKeys
from streamq.broker.multiplex import Multiplexer
from streamq.broker.records import ClaimedJob, Delivered

if TYPE_CHECKING:
    from streamq.broker.backend import Backend


class BlockingReader:
    """An idle worker's wait for new jobs: ``XREADGROUP BLOCK`` on a connection of its own,
    so the shared pool never waits behind it (real Redis only). The read and the queue's
    paused flag go out back to back on a pipelined connection of the reader's own
    (redis-py's pipeline costs about 150 µs of Python on the path that wakes a worker);
    a cluster's client routes each command itself."""

    def __init__(self, connection: Connection, keys: QueueKeys, consumer: str) -> None:
        self._connection = connection
        self._keys = keys
        self._consumer = consumer
        self._streams = ("STREAMS", *keys.ready, *[">"] * len(keys.ready))
        self._priority = {stream: prio for prio, stream in enumerate(keys.ready)}
        self._client: aioredis.Redis | None = None
        self._multiplexer: Multiplexer | None = None

    async def read(self, block_ms: int) -> list[Delivered]:
        """Wait up to ``block_ms`` for new entries in any priority stream.

        The entries returned are delivered to the consumer (in its pending list); pass them
        to the claim script, which starts them or hands them back. The queue's paused flag
        is read right after the entries arrive; a job delivered to a paused queue is not
        offered for an early start. (A RESP3 connection answers the read with a map.)
        """
        with translate_errors(self._connection.url):
            reply, paused = await self._read(block_ms)
        return [
            _delivered(self._priority[stream], entry, field_dict(fields), paused != "1")
            for stream, entries in (reply.items() if isinstance(reply, dict) else reply or ())
            for entry, fields in entries
            if fields
        ]

    async def _read(self, block_ms: int) -> list[Any]:
        if self._client is None:
            self._client = self._connection.blocking_client()
            if not self._connection.is_cluster:
                self._multiplexer = Multiplexer(self._client, SOCKET_TIMEOUT_S)
        if self._multiplexer is None:
            streams: dict[Any, Any] = dict.fromkeys(self._keys.ready, ">")
            reply = await self._client.xreadgroup(GROUP, self._consumer, streams, count=1,
                                                  block=block_ms)
            return [reply, await self._client.hget(self._keys.meta, "paused")]
        return await self._multiplexer.execute_many(
            ("XREADGROUP", "GROUP", GROUP, self._consumer, "COUNT", 1, "BLOCK", block_ms,
             *self._streams),
            ("HGET", self._keys.meta, "paused"))

    async def aclose(self) -> None:
        """Close the reader's connection."""
        if self._multiplexer is not None:
            await self._multiplexer.aclose()
            self._multiplexer = None
        if self._client is not None:
            await close_client(self._client)
            self._client = None


def field_dict(fields: dict[str, str] | list[str]) -> dict[str, str]:
    """An entry's fields as a dict (a RESP2 reply read raw gives a flat list)."""
    if isinstance(fields, dict):
        return fields
    return dict(zip(fields[::2], fields[1::2], strict=True))


def _delivered(priority: int, entry: str, fields: dict[str, str], startable: bool) -> Delivered:
    held = None
    if startable and "name" in fields:  # the entry holds the job, at its first attempt
        with contextlib.suppress(KeyError, ValueError):
            held = ClaimedJob(fields["id"], priority, entry, fields["name"], fields["data"], 1,
                              int(fields["max"]), fields.get("opts", ""))
    return Delivered(priority, entry, fields["id"], held)


async def retire_consumer(backend: Backend, keys: QueueKeys, consumer: str, now_ms: int) -> None:
    """Remove a stopped worker's consumer from the group, once every job it started is
    recorded or handed back. Entries still in its pending list were mostly delivered by its
    last blocking read (the stop cancelled the read as Redis answered it) and never claimed:
    they go back to the queue first, since deleting a consumer makes its pending entries
    unreachable. An entry whose job did start (a claim whose reply was lost, so the worker
    never knew) stays: the consumer is kept on that stream, and reclaim takes the job once
    its lease runs out."""
    url, client = backend.connection.url, backend.client
    with translate_errors(url):
        left = await _pending_entries(client, keys, consumer)
        if left:
            await backend.scripts.claim(keys, consumer, now_ms, 0, [
                (prio, entry, await _job_id(client, keys.ready[prio], entry))
                for prio, entry in left])
            left = await _pending_entries(client, keys, consumer)
        holding = {prio for prio, _ in left}
        async with client.pipeline(transaction=False) as pipe:
            for prio, stream in enumerate(keys.ready):
                if prio not in holding:
                    pipe.xgroup_delconsumer(stream, GROUP, consumer)
            await pipe.execute(raise_on_error=False)


async def _pending_entries(
    client: aioredis.Redis, keys: QueueKeys, consumer: str
) -> list[tuple[int, str]]:
    """(priority, entry id) of each entry in ``consumer``'s pending lists."""
    async with client.pipeline(transaction=False) as pipe:
        for stream in keys.ready:
            pipe.xpending_range(stream, GROUP, "-", "+", 1000, consumername=consumer)
        pending: list[Any] = await pipe.execute(raise_on_error=False)
    return [(prio, entry["message_id"]) for prio, entries in enumerate(pending)
            if isinstance(entries, list) for entry in entries]


async def _job_id(client: aioredis.Redis, stream: str, entry: str) -> str:
    found: Any = await client.xrange(stream, entry, entry)
    return str(found[0][1].get("id", "")) if found else ""
