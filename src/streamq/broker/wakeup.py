"""In-process wake-up for the embedded backend, where a blocking XREADGROUP cannot be used.

Every producer and consumer of a ``memory://`` server lives in this process, so a counter
per queue that writers bump and idle workers wait on is exact.
"""

from __future__ import annotations

import asyncio
import contextlib


class Wakeup:
    """Per-queue change counters that idle workers wait on."""

    def __init__(self) -> None:
        self._versions: dict[str, int] = {}
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}

    def version(self, queue: str) -> int:
        """The change counter of ``queue``: read it before looking for work."""
        return self._versions.get(queue, 0)

    def notify(self, queue: str) -> None:
        """Something changed in ``queue`` that an idle worker should look at."""
        self._versions[queue] = self._versions.get(queue, 0) + 1
        for waiter in self._waiters.pop(queue, ()):
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self, queue: str, seen: int, timeout: float) -> None:
        """Return once ``queue`` changed after ``seen`` was read, or after ``timeout`` s."""
        if self.version(queue) != seen:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(queue, set())
        waiters.add(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter, timeout)
        finally:
            waiters.discard(waiter)
