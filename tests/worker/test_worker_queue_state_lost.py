"""A queue's streams and consumer group vanish while a job runs (Redis restarted without
persistence, or the keys were deleted): the worker reports "queue state lost", recreates
the group and keeps serving the tier instead of stopping with ``QueueStateLost``."""

from __future__ import annotations

import asyncio

from streamq import App, Job
from tests.helpers import running


async def test_state_lost_before_completion_does_not_stop_the_worker(app: App) -> None:
    queue = app.queue()
    backend = await app.backend(queue.keys)
    vanished = asyncio.Event()

    @app.processor("vanish")
    async def vanish(job: Job) -> str:
        if job.data == "first":  # its completion then finds no consumer group: NOGROUP
            await backend.client.delete(*queue.keys.ready)
            vanished.set()
        return str(job.data)

    await app.enqueue("vanish", "first")
    worker = app.worker(concurrency=1)
    async with running(worker) as task:
        await asyncio.wait_for(vanished.wait(), 10)
        second = await app.enqueue("vanish", "second")
        assert await second.result(timeout=10) == "second"
        assert not task.done()


async def test_state_lost_before_a_failure_is_recorded_frees_the_slot(app: App) -> None:
    queue = app.queue()
    backend = await app.backend(queue.keys)
    vanished = asyncio.Event()

    @app.processor("vanish")
    async def vanish(job: Job) -> str:
        if job.data == "first":  # recording the failure then finds no consumer group
            await backend.client.delete(*queue.keys.ready)
            vanished.set()
            raise RuntimeError("boom")
        return str(job.data)

    await app.enqueue("vanish", "first")
    worker = app.worker(concurrency=1)
    async with running(worker) as task:
        await asyncio.wait_for(vanished.wait(), 10)
        second = await app.enqueue("vanish", "second")
        assert await second.result(timeout=5) == "second"  # before a lease renewal (10 s)
        assert not task.done()
