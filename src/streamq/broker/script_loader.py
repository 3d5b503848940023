"""Loading the Lua scripts into Redis: when an App connects, and again when a call meets
NOSCRIPT (Redis restarted or failed over, or its script cache was flushed).

Every call in flight meets NOSCRIPT together; one load serves them all. A call sent before
a load finished skips loading again (the scripts are back) and is sent once more. The
scripts go out over the multiplexer when there is one, so they reach the server the calls
go to, with no pooled connection opened for them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from streamq.broker.connection import Connection, translate_errors


class ScriptLoader:
    """Loads ``sources`` into the server of ``connection``, once per NOSCRIPT wave."""

    def __init__(self, connection: Connection, sources: Iterable[str]) -> None:
        self._connection = connection
        self._sources = list(sources)
        self._loading: asyncio.Future[None] | None = None
        self.generation = 0
        """How many loads finished: a call notes it when sent, to know whether a load
        happened since."""

    async def load(self) -> None:
        """Load every script (one round trip; on a cluster, one per script, on every
        master)."""
        connection = self._connection
        with translate_errors(connection.url):
            if connection.multiplexer is not None:
                await connection.multiplexer.execute_many(
                    *(("SCRIPT", "LOAD", source) for source in self._sources))
            elif connection.is_cluster:  # a cluster pipeline refuses SCRIPT LOAD
                for source in self._sources:
                    await connection.client.script_load(source)
            else:
                async with connection.client.pipeline(transaction=False) as pipe:
                    for source in self._sources:
                        pipe.script_load(source)
                    await pipe.execute()
        self.generation += 1

    async def reload(self, sent_generation: int) -> None:
        """The scripts were missing for a call sent at ``sent_generation``: load them,
        unless a load finished since, and share a load already under way."""
        if self.generation != sent_generation:
            return
        if self._loading is None:
            self._loading = asyncio.ensure_future(self._load_once())
        await asyncio.shield(self._loading)

    async def _load_once(self) -> None:
        try:
            await self.load()
        finally:
            self._loading = None
