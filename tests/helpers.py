"""Small helpers shared by the tests: a settable clock, waiting for a condition, running a
worker in the background, counting processors running at once, a processor held until
released."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

import pytest

from streamq import App, Job, Worker


def gated_processor(app: App) -> tuple[asyncio.Event, asyncio.Event]:
    """Register "gated", which returns "done" once released: (started, release)."""
    started, release = asyncio.Event(), asyncio.Event()

    @app.processor("gated")
    async def gated(job: Job) -> str:
        started.set()
        await release.wait()
        return "done"

    return started, release


def fan_out_processors(app: App) -> None:
    """Register "fan_out" (high), which enqueues a "leaf" (low) 50 ms in: by then a burst
    run's low tier has found nothing to do."""

    @app.processor("fan_out", tier="high")
    async def fan_out(job: Job) -> None:
        await asyncio.sleep(0.05)
        await app.enqueue("leaf", {})

    @app.processor("leaf", tier="low")
    async def leaf(job: Job) -> str:
        return "done"


class Gauge:
    """How many processors run at once (``now``) and the most seen (``most``): a processor
    wraps its body in ``with gauge.running():``."""

    def __init__(self) -> None:
        self.now = self.most = 0

    @contextmanager
    def running(self) -> Iterator[None]:
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            yield
        finally:
            self.now -= 1


class FakeClock:
    """A settable clock for ``App(clock=...)``: epoch seconds, moved by hand."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    """Poll ``check`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        await asyncio.sleep(0.01)


@asynccontextmanager
async def running(worker: Worker, grace: float = 5.0) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``worker`` in the background for the block, then stop it and wait for it."""
    task = asyncio.create_task(worker.run())
    await asyncio.sleep(0)
    try:
        yield task
    finally:
        await worker.stop(grace)
        await asyncio.wait_for(task, 10)
