"""A queue's streams and consumer group vanish while a job runs (Redis restarted without
persistence, or the keys were deleted): the worker reports "queue state lost", recreates
the group and keeps serving the tier instead of stopping with ``QueueStateLost``."""

from __future__ import annotations

import asyncio

import pytest

from streamq import App, Job
from tests.helpers import running


@pytest.mark.parametrize("first_job", ["completes", "fails"])
async def test_state_lost_while_a_job_runs_does_not_stop_the_worker(
    app: App, first_job: str
) -> None:
    """Recording the first job's outcome (complete, or fail) finds no consumer group
    (NOGROUP); the worker recreates it, frees the slot at once (not after a lease renewal,
    10 s) and runs the next job."""
    queue = app.queue()
    backend = await app.backend(queue.keys)
    vanished = asyncio.Event()

    @app.processor("vanish")
    async def vanish(job: Job) -> str:
        if job.data == "first":
            await backend.client.delete(*queue.keys.ready)
            vanished.set()
            if first_job == "fails":
                raise RuntimeError("boom")
        return str(job.data)

    await app.enqueue("vanish", "first")
    async with running(app.worker(concurrency=1)) as task:
        await asyncio.wait_for(vanished.wait(), 10)
        second = await app.enqueue("vanish", "second")
        assert await second.result(timeout=5) == "second"
        assert not task.done()
