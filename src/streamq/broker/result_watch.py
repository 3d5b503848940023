"""Waiting for jobs to finish (``Job.result``): one reader of a tier's events stream per
connection, shared by every waiter on a job of that tier.

A waiter is woken when an event names its job (``completed`` names a batch of ids;
``failed`` and ``removed`` one id) or every job (``drained``), and then reads the job. Each
waiter used to run its own blocking ``XREAD`` on a connection of its own and read its job
again on every event of the tier, whoever it was for: with 100 waiters and 500 events a
second, 150,000 commands a second. Now the tier's events are read once, and a waiter reads
its job when it starts waiting, when an event names it, and at least every ``RECHECK_S`` (an
event trimmed from the stream before the reader saw it costs a wait of at most that long).

The reader starts with the first waiter, from the newest event at that moment: it is read
before the waiter reads its job, so nothing in between is missed. It ends after a read that
finds nobody waiting; a blocking read lasts at most ``BLOCK_MS``, so sequential ``result()``
calls share one reader. A reader whose read failed wakes every waiter a second later (each
reads its job and meets the error itself), and the next wait starts it again from where it
was. On the
embedded backend the App's in-process counter wakes waiters instead (fakeredis's XREAD
BLOCK does not block).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Protocol

import redis.asyncio as aioredis

from streamq import errors
from streamq.broker import reads
from streamq.broker.clients import close_client
from streamq.broker.connection import SOCKET_TIMEOUT_S
from streamq.broker.consumers import field_dict
from streamq.broker.keys import QueueKeys
from streamq.broker.multiplex import Multiplexer

if TYPE_CHECKING:
    from streamq.broker.connection import Connection
    from streamq.broker.wakeup import Wakeup

BLOCK_MS = 5_000
CLUSTER_BLOCK_MS = 1_000
"""A cluster client's read cannot be cut short (closing it mid-read makes it reconnect), so
closing the App waits for the read to end."""
RECHECK_S = 5.0
FAILED_READ_PAUSE_S = 1.0


class Waiter(Protocol):
    """One caller waiting for one job: read the job, then ``wait``, until it is done."""

    async def wait(self, seconds: float) -> None:
        """Return when the job may have changed, or after ``seconds`` (``RECHECK_S`` at
        most)."""


class ResultWatch:
    """The waiters on jobs of one tier, and the reader of its events stream."""

    def __init__(self, connection: Connection, keys: QueueKeys) -> None:
        self._connection, self._keys, self._wakeup = connection, keys, connection.wakeup
        self._blocking: aioredis.Redis | None = None
        self._multiplexer: Multiplexer | None = None
        """The reader's connection, its own: closing it ends a read at once (redis-py lets a
        cancelled read run to its end, up to BLOCK_MS). A cluster's reader has none, and
        reads for CLUSTER_BLOCK_MS at a time."""
        self._waiters: dict[str, set[_EventWaiter]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._after: str | None = None
        """The last event read, while a failed reader is to go on from it."""
        self._starting = asyncio.Lock()
        self._closing = False

    @contextlib.asynccontextmanager
    async def waiting_for(self, job_id: str) -> AsyncIterator[Waiter]:
        """A waiter for ``job_id``, woken from the moment this yields: read the job after
        entering, so that nothing it does afterwards goes unseen."""
        if self._wakeup is not None:
            yield _CounterWaiter(self, self._wakeup, self._keys.tier + "#events")
            return
        waiter = _EventWaiter(self)
        self._waiters.setdefault(job_id, set()).add(waiter)
        try:
            await self.start_reader()
            yield waiter
        finally:
            waiters = self._waiters.get(job_id, set())
            waiters.discard(waiter)
            if not waiters:
                self._waiters.pop(job_id, None)

    def check_open(self) -> None:
        """``ConnectionError`` once the App closed its connection: a waiter stops there,
        rather than reading its job on the closed client (which would connect again)."""
        if self._closing:
            raise errors.ConnectionError(
                "the App's connection was closed (App.aclose()) while waiting for a job's "
                "result; call result() again to keep waiting")

    async def start_reader(self) -> None:
        """Start the reader unless it is running."""
        self.check_open()
        async with self._starting:
            if self._reader is not None and not self._reader.done():
                return
            after = self._after or await reads.last_event_id(self._connection.client,
                                                             self._keys)
            self._reader = asyncio.get_running_loop().create_task(self._read(after))

    async def aclose(self) -> None:
        """Stop the reader (the App is closing its connection); waiters end with
        ``ConnectionError``."""
        self._closing = True
        self._wake(None)
        if self._wakeup is not None:
            self._wakeup.notify(self._keys.tier + "#events")
        reader, self._reader = self._reader, None
        if reader is not None and not reader.done():
            reader.cancel()
        if self._multiplexer is not None:
            await self._multiplexer.aclose()
            self._multiplexer = None
        if reader is not None:  # a cluster's read ends within CLUSTER_BLOCK_MS
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        if self._blocking is not None:  # not before: a cluster client would reconnect
            await close_client(self._blocking)
            self._blocking = None

    async def _read(self, after: str) -> None:
        try:
            while self._waiters and not self._closing:
                for entry_id, fields in await self._events_after(after):
                    after = entry_id
                    self._wake(_jobs_named(fields))
            self._after = None
        except Exception:
            if self._closing:
                return
            self._after = after
            await asyncio.sleep(FAILED_READ_PAUSE_S)  # no read-wake-read loop while it fails
            self._wake(None)

    def _wake(self, job_ids: list[str] | None) -> None:
        """Wake the waiters on ``job_ids``; None: every waiter."""
        named = (self._waiters.values() if job_ids is None
                 else [self._waiters.get(job_id, set()) for job_id in job_ids])
        for waiters in named:
            for waiter in waiters:
                waiter.woken.set()

    async def _events_after(self, after: str) -> list[tuple[str, dict[str, str]]]:
        if self._blocking is None:
            self._blocking = self._connection.blocking_client()
            if not self._connection.is_cluster:
                self._multiplexer = Multiplexer(self._blocking, SOCKET_TIMEOUT_S)
        if self._multiplexer is None:
            return await reads.events_after(self._blocking, self._keys, after,
                                            CLUSTER_BLOCK_MS)
        reply = await self._multiplexer.execute("XREAD", "COUNT", 1000, "BLOCK", BLOCK_MS,
                                                "STREAMS", self._keys.events, after)
        return [(entry_id, field_dict(fields))
                for _, entries in reply or () for entry_id, fields in entries]


class _EventWaiter:
    def __init__(self, watch: ResultWatch) -> None:
        self._watch = watch
        self.woken = asyncio.Event()

    async def wait(self, seconds: float) -> None:
        await self._watch.start_reader()  # again, if it failed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.woken.wait(), min(seconds, RECHECK_S))
        self.woken.clear()
        self._watch.check_open()


class _CounterWaiter:
    def __init__(self, watch: ResultWatch, wakeup: Wakeup, key: str) -> None:
        self._watch, self._wakeup, self._key = watch, wakeup, key
        self._seen = wakeup.version(key)

    async def wait(self, seconds: float) -> None:
        self._watch.check_open()
        await self._wakeup.wait(self._key, self._seen, min(seconds, RECHECK_S))
        self._seen = self._wakeup.version(self._key)
        self._watch.check_open()


def _jobs_named(fields: dict[str, str]) -> list[str] | None:
    """The job ids an event names; None for an event about every job of the tier."""
    if fields.get("ev") == "drained":
        return None
    if "ids" in fields:
        ids: list[str] = json.loads(fields["ids"])
        return ids
    return [fields["id"]] if "id" in fields else []
