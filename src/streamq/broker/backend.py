"""``Backend``: an App's live connection, its scripts, and the queues prepared on it."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis.asyncio as aioredis

from streamq.broker.connection import Connection
from streamq.broker.scripts import Scripts


@dataclass(slots=True)
class Backend:
    """The live connection of an App: client, scripts, and the queues prepared on it."""

    connection: Connection
    scripts: Scripts
    prepared: set[str] = field(default_factory=set)

    @property
    def client(self) -> aioredis.Redis:
        """The shared redis-py client."""
        return self.connection.client
