"""``Backend``: an App's live connection, its scripts, and the queues prepared on it."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis.asyncio as aioredis

from streamq.broker.connection import Connection
from streamq.broker.keys import QueueKeys
from streamq.broker.result_watch import ResultWatch
from streamq.broker.scripts import Scripts


@dataclass(slots=True)
class Backend:
    """The live connection of an App: client, scripts, and the queues prepared on it."""

    connection: Connection
    scripts: Scripts
    prepared: set[str] = field(default_factory=set)
    result_watches: dict[str, ResultWatch] = field(default_factory=dict)

    @property
    def client(self) -> aioredis.Redis:
        """The shared redis-py client."""
        return self.connection.client

    def result_watch(self, keys: QueueKeys) -> ResultWatch:
        """The waiters on jobs of ``keys``'s tier (``Job.result``), and their reader."""
        watch = self.result_watches.get(keys.tier)
        if watch is None:
            watch = ResultWatch(self.connection, keys)
            self.result_watches[keys.tier] = watch
        return watch

    async def aclose(self) -> None:
        """Stop the result readers, then close the connection."""
        for watch in self.result_watches.values():
            await watch.aclose()
        await self.connection.aclose()
