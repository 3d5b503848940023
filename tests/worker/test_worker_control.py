"""Controlling running workers on both backends: pause and resume, removing a job while it
runs, and retention of finished jobs (keep_completed / keep_failed)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streamq import App, Job, JobState, Tier
from streamq.broker.keys import GROUP
from tests.helpers import FakeClock, gated_processor, running, until


@pytest.fixture
def tiers() -> list[Tier]:
    """Small retention limits for the retention tests."""
    return [Tier("kept", keep_completed=2, keep_failed=1, attempts=1),
            Tier("nokeep", keep_completed=0)]






async def pending_count(app: App, tier: str = "standard") -> int:
    backend = await app.backend()
    total = 0
    for stream in app.queue(tier).keys.ready:
        reply: Any = await backend.client.xpending(stream, GROUP)
        total += reply["pending"]
    return total


# ------------------------------------------------------------------------- pause


@pytest.mark.parametrize("start_worker_first", [False, True])
async def test_pause_stops_claiming_and_resume_restarts(
    app: App, start_worker_first: bool
) -> None:
    """Jobs enqueued while the queue is paused do not run (whether the worker was already
    waiting for jobs or started after the pause); after resume they all run."""
    ran: list[int] = []

    @app.processor("p")
    async def p(job: Job) -> None:
        ran.append(job.data)

    queue = app.queue()
    worker = app.worker()
    async with running(worker):
        if start_worker_first:
            await asyncio.sleep(0.1)  # the worker is now idle, waiting for jobs
        await queue.pause()
        assert await queue.is_paused()
        await queue.enqueue_many([("p", i) for i in range(3)])
        await asyncio.sleep(0.4)
        assert ran == []
        counts = await queue.counts()
        assert (counts["waiting"], counts["active"]) == (3, 0)
        assert await pending_count(app) == 0

        await queue.resume()
        assert not await queue.is_paused()
        await until(lambda: _completed(queue, 3))
    assert sorted(ran) == [0, 1, 2]


async def _completed(queue: Any, n: int) -> bool:
    return bool((await queue.counts())["completed"] == n)


@pytest.mark.parametrize("burst", [False, True])
async def test_pause_lets_running_jobs_finish(app: App, burst: bool) -> None:
    """Pausing does not stop a job that is already running; it completes, and nothing else
    starts. A burst run then ends: nothing can start, so nothing is left to do (on a paused
    tier it claimed again and again, forever, and run_until_idle hung with it)."""
    started, gate = gated_processor(app)
    job = await app.enqueue("gated")
    worker = app.worker()
    run = asyncio.create_task(worker.run(burst=burst))
    await asyncio.wait_for(started.wait(), 3)
    await app.queue().pause()
    second = await app.enqueue("gated")
    gate.set()
    assert await job.result(timeout=3) == "done"
    if burst:
        await asyncio.wait_for(run, 5)
    else:
        await asyncio.sleep(0.2)
        await worker.stop()
        await asyncio.wait_for(run, 10)
    assert await second.state() is JobState.WAITING


# ------------------------------------------------------------------------- remove


@pytest.mark.parametrize("outcome", ["return", "raise"])
async def test_removing_an_active_job_discards_its_outcome(app: App, outcome: str) -> None:
    """``remove()`` of a running job: when the processor then finishes (returns or raises),
    the worker's completion finds the lease lost and writes nothing; the job stays gone and
    the worker keeps working."""
    started, gate = asyncio.Event(), asyncio.Event()

    @app.processor("victim")
    async def victim(job: Job) -> str:
        started.set()
        await gate.wait()
        if outcome == "raise":
            raise RuntimeError("too late")
        return "too late"

    @app.processor("next")
    async def next_job(job: Job) -> str:
        return "next"

    queue = app.queue()
    job = await app.enqueue("victim", attempts=3)
    worker = app.worker()
    async with running(worker):
        await asyncio.wait_for(started.wait(), 3)
        assert await job.state() is JobState.ACTIVE
        await queue.remove(job.id)
        gate.set()
        await until(lambda: _processed(worker, 1))
        assert await queue.get_job(job.id) is None
        after = await app.enqueue("next")
        assert await after.result(timeout=3) == "next"

    assert await queue.get_job(job.id) is None
    backend = await app.backend()
    keys = queue.keys
    assert not await backend.client.exists(keys.job(job.id), keys.logs(job.id))
    for finished in (keys.delayed, keys.failed):
        assert await backend.client.zcard(finished) == 0
    assert await backend.client.zrange(keys.completed, 0, -1) == [after.id]
    assert await pending_count(app) == 0


async def _processed(worker: Any, n: int) -> bool:
    return bool(worker.processed >= n)


# ------------------------------------------------------------------------- retention


async def test_keep_completed_trims_oldest(clock_app: App, clock: FakeClock) -> None:
    """With keep_completed=2, only the two newest completed jobs remain; older ones lose
    their hash and log."""

    @clock_app.processor("tick", tier="kept")
    async def tick(job: Job) -> int:
        clock.advance(1)
        await job.log("ran")
        return int(job.data)

    queue = clock_app.queue("kept")
    jobs = [await queue.enqueue("tick", i) for i in range(5)]
    await clock_app.worker("kept", concurrency=1).run(burst=True)

    backend = await clock_app.backend()
    keys = queue.keys
    assert await backend.client.zrange(keys.completed, 0, -1) == [jobs[3].id, jobs[4].id]
    for old in jobs[:3]:
        assert not await backend.client.exists(keys.job(old.id), keys.logs(old.id))
        assert await queue.get_job(old.id) is None
    for kept in jobs[3:]:
        info = await queue.get_job(kept.id)
        assert info is not None
        assert info.state is JobState.COMPLETED
        assert info.logs == ["ran"]
    assert (await queue.counts())["completed"] == 2


async def test_keep_failed_trims_oldest(clock_app: App, clock: FakeClock) -> None:
    """With keep_failed=1, only the newest failed job remains in the dead-letter queue."""

    @clock_app.processor("bad", tier="kept")
    async def bad(job: Job) -> None:
        clock.advance(1)
        await job.log("failing")
        raise ValueError(job.data)

    queue = clock_app.queue("kept")
    jobs = [await queue.enqueue("bad", i) for i in range(3)]
    await clock_app.worker("kept", concurrency=1).run(burst=True)

    backend = await clock_app.backend()
    keys = queue.keys
    assert await backend.client.zrange(keys.failed, 0, -1) == [jobs[2].id]
    for old in jobs[:2]:
        assert not await backend.client.exists(keys.job(old.id), keys.logs(old.id))
    assert [d.id for d in await queue.dead_letters()] == [jobs[2].id]
    info = await queue.get_job(jobs[2].id)
    assert info is not None
    assert info.error == "ValueError: 2"


async def test_keep_completed_zero_deletes_on_completion(app: App) -> None:
    """keep_completed=0 deletes a job (hash and log) as soon as it completes."""
    ran: list[str] = []

    @app.processor("gone", tier="nokeep")
    async def gone(job: Job) -> str:
        ran.append(job.id)
        await job.log("bye")
        return "x"

    queue = app.queue("nokeep")
    job = await queue.enqueue("gone")
    await app.worker("nokeep").run(burst=True)
    assert ran == [job.id]
    assert await queue.get_job(job.id) is None
    backend = await app.backend()
    assert not await backend.client.exists(queue.keys.job(job.id), queue.keys.logs(job.id))
    assert await backend.client.zcard(queue.keys.completed) == 0
    assert await queue.counts() == {
        "waiting": 0, "active": 0, "delayed": 0, "completed": 0, "failed": 0}
