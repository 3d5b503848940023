"""Worker lifecycle on both backends: ``stop(grace)`` finishes what it can and hands the
rest back at once, ``run()`` returns after ``stop``, ``run(burst=True)`` returns when
nothing is ready or running."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta
from typing import Any

import pytest

from streamq import App, ConfigurationError, Job, JobState, Worker
from streamq.broker.keys import GROUP
from tests.helpers import gated_processor, running


async def consumers(app: App) -> set[str]:
    """Names of every consumer in the standard tier's group, across priority streams."""
    backend = await app.backend()
    names: set[str] = set()
    for stream in app.queue().keys.ready:
        for consumer in await backend.client.xinfo_consumers(stream, GROUP):
            names.add(consumer["name"])
    return names


async def pending_count(app: App) -> int:
    backend = await app.backend()
    total = 0
    for stream in app.queue().keys.ready:
        reply: Any = await backend.client.xpending(stream, GROUP)
        total += reply["pending"]
    return total


async def test_stop_completes_jobs_within_grace_and_hands_back_the_rest(app: App) -> None:
    """On ``stop(grace)``, a job finishing within the grace completes; one that does not is
    handed back at once (waiting, attempt not counted) and another worker runs it right
    away, without waiting for the lease (30 s by default)."""
    stuck_started = asyncio.Event()
    quick_started = asyncio.Event()
    stuck_cancelled = asyncio.Event()
    stuck_runs: list[int] = []

    @app.processor("quick")
    async def quick(job: Job) -> str:
        quick_started.set()
        await asyncio.sleep(0.2)
        return "quick done"

    @app.processor("stuck")
    async def stuck(job: Job) -> str:
        stuck_runs.append(job.attempt)
        if len(stuck_runs) == 1:
            stuck_started.set()
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                stuck_cancelled.set()
                raise
        return "stuck done"

    quick_job = await app.enqueue("quick")
    stuck_job = await app.enqueue("stuck", attempts=3)
    first = app.worker(concurrency=4)
    task = asyncio.create_task(first.run())
    await asyncio.wait_for(asyncio.gather(quick_started.wait(), stuck_started.wait()), 3)

    began = time.monotonic()
    await first.stop(grace=0.6)
    stopped_after = time.monotonic() - began
    assert task.done()
    await task
    assert 0.5 <= stopped_after < 1.5, stopped_after
    assert stuck_cancelled.is_set()

    assert await quick_job.result(timeout=1) == "quick done"
    backend = await app.backend()
    fields = await backend.client.hgetall(app.queue().keys.job(stuck_job.id))
    assert fields["state"] == "waiting"
    assert fields["attempt"] == "0"
    assert "worker" not in fields
    assert "start" not in fields
    assert await pending_count(app) == 0
    counts = await app.queue().counts()
    assert (counts["waiting"], counts["active"], counts["completed"]) == (1, 0, 1)
    assert first.consumer not in await consumers(app)

    began = time.monotonic()
    second = app.worker()
    await second.run(burst=True)
    assert time.monotonic() - began < 1
    assert await stuck_job.result(timeout=1) == "stuck done"
    assert stuck_runs == [1, 1]
    info = await stuck_job.info()
    assert info.attempt == 1
    assert info.worker == second.consumer


async def test_stop_waits_for_running_jobs_within_grace(app: App) -> None:
    """``stop`` returns once running jobs are done when they finish within the grace."""
    started = asyncio.Event()

    @app.processor("short")
    async def short(job: Job) -> int:
        started.set()
        await asyncio.sleep(0.3)
        return 1

    job = await app.enqueue("short")
    worker = app.worker()
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 3)
    began = time.monotonic()
    await worker.stop(grace=5)
    assert time.monotonic() - began < 1
    assert task.done()
    assert await job.state() is JobState.COMPLETED
    assert worker.processed == 1
    assert worker.consumer not in await consumers(app)


async def test_stop_with_zero_grace_hands_back_everything(app: App) -> None:
    """``stop(grace=0)`` hands every running job back at once."""
    started = asyncio.Event()
    count = 0

    @app.processor("slow")
    async def slow(job: Job) -> None:
        nonlocal count
        count += 1
        if count == 3:
            started.set()
        await asyncio.sleep(30)

    jobs = await app.queue().enqueue_many([("slow", i) for i in range(3)])
    worker = app.worker(concurrency=3)
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 3)
    began = time.monotonic()
    await worker.stop(grace=0)
    assert time.monotonic() - began < 0.5
    await task
    assert [await job.state() for job in jobs] == [JobState.WAITING] * 3
    assert [(await job.info()).attempt for job in jobs] == [0, 0, 0]
    assert await pending_count(app) == 0
    assert worker.processed == 0


async def test_second_stop_with_shorter_grace_cuts_the_wait(app: App) -> None:
    """While ``stop(grace=30)`` waits for a running job, ``stop(grace=0)`` ends the wait:
    the job is handed back at once (what a second SIGTERM does)."""
    started = asyncio.Event()

    @app.processor("slow")
    async def slow(job: Job) -> None:
        started.set()
        await asyncio.sleep(30)

    job = await app.enqueue("slow")
    worker = app.worker()
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 3)
    patient = asyncio.create_task(worker.stop(grace=30))
    await asyncio.sleep(0.2)
    assert not patient.done()
    began = time.monotonic()
    await worker.stop(grace=0)
    assert time.monotonic() - began < 0.5
    await asyncio.wait_for(patient, 1)
    await task
    assert await job.state() is JobState.WAITING
    assert (await job.info()).attempt == 0


async def test_idle_worker_run_returns_promptly_after_stop(app: App) -> None:
    """An idle worker (blocked waiting for jobs) returns from ``run()`` soon after ``stop``."""
    worker = app.worker()
    task = asyncio.create_task(worker.run())
    await asyncio.sleep(0.2)
    assert not task.done()
    began = time.monotonic()
    await worker.stop(grace=5)
    assert time.monotonic() - began < 0.5
    assert task.done()
    await task


async def test_stop_before_run_returns_at_once(app: App) -> None:
    """``stop()`` on a worker that is not running does not wait."""
    worker = app.worker()
    await asyncio.wait_for(worker.stop(grace=5), 1)


async def test_burst_returns_at_once_on_an_empty_queue(app: App) -> None:
    """``run(burst=True)`` with nothing to do returns at once."""
    began = time.monotonic()
    await app.worker().run(burst=True)
    assert time.monotonic() - began < 0.5


async def test_burst_returns_when_nothing_ready_or_running(app: App) -> None:
    """A burst run finishes every ready job, waits for running ones, and leaves a job that
    is not due yet alone."""

    @app.processor("step")
    async def step(job: Job) -> int:
        await asyncio.sleep(0.05 * job.data)
        return int(job.data)

    ready = await app.queue().enqueue_many([("step", i) for i in range(5)])
    later = await app.enqueue("step", 0, delay=3600)
    worker: Worker = app.worker(concurrency=2)
    await worker.run(burst=True)
    assert [await job.result(timeout=0.1) for job in ready] == list(range(5))
    assert await later.state() is JobState.DELAYED
    assert worker.processed == 5
    counts = await app.queue().counts()
    assert counts == {"waiting": 0, "active": 0, "delayed": 1, "completed": 5, "failed": 0}


async def test_a_burst_run_waits_for_its_running_job_without_claiming_again_and_again(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a job running, slots free and nothing ready, a burst run claims again when the
    job finishes (or a second later), not back to back: it sent a claim every round trip
    for as long as the job ran."""

    @app.processor("long")
    async def long(job: Job) -> None:
        await asyncio.sleep(0.5)

    scripts = (await app.backend()).scripts
    real_claim, claims = scripts.claim, []

    async def counted(*args: Any, **kwargs: Any) -> Any:
        claims.append(time.monotonic())
        return await real_claim(*args, **kwargs)

    monkeypatch.setattr(scripts, "claim", counted)
    job = await app.enqueue("long")
    await asyncio.wait_for(app.worker(concurrency=4).run(burst=True), 5)
    assert (await job.info()).state is JobState.COMPLETED
    assert len(claims) <= 6, len(claims)


async def test_background_helper_stops_cleanly(app: App) -> None:
    """A worker run in the background completes jobs enqueued while it runs."""

    @app.processor("echo")
    async def echo(job: Job) -> Any:
        return job.data

    async with running(app.worker()):
        jobs = [await app.enqueue("echo", {"n": i}) for i in range(3)]
        results = [await job.result(timeout=3) for job in jobs]
    assert results == [{"n": 0}, {"n": 1}, {"n": 2}]


async def test_cancelling_run_cancels_running_jobs_too(app: App) -> None:
    """If the task running the worker is cancelled, no job task outlives it: each running
    processor is cancelled before run() finishes."""
    started, cancelled = asyncio.Event(), asyncio.Event()

    @app.processor("forever")
    async def forever(job: Job) -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    await app.enqueue("forever", {})
    task = asyncio.create_task(app.worker().run())
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)
    assert cancelled.is_set()


async def test_stop_returns_when_a_redis_call_loses_the_cancellation(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Python 3.11's ``asyncio.wait_for`` loses a cancellation that arrives as its inner
    call finishes (fixed in 3.12), and redis-py writes every command inside one when a
    socket timeout is set, as streamq sets it: cancelled at random points, a reconnect and
    its handshake lost 180 of 300 cancellations. A stopping worker cancels its tier's
    upkeep; here one upkeep call loses that cancellation, and the stop must still return
    (anyio's cancel scope delivers it again at the next await; docs/architecture.md)."""
    import streamq.worker.upkeep as upkeep_module

    real_fire_due = upkeep_module.fire_due
    armed, inside, lost = asyncio.Event(), asyncio.Event(), []

    async def fire_due_losing_a_cancellation(*args: Any) -> float:
        if lost or not armed.is_set():
            return await real_fire_due(*args)
        inside.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            lost.append(True)  # and go on as if the call had just returned
        return 1.0

    monkeypatch.setattr(upkeep_module, "fire_due", fire_due_losing_a_cancellation)
    worker = app.worker()
    task = asyncio.create_task(worker.run())
    await asyncio.sleep(0.1)
    armed.set()
    await asyncio.wait_for(inside.wait(), 5)
    await asyncio.wait_for(worker.stop(grace=1), 5)
    assert lost == [True]
    await asyncio.wait_for(task, 1)


async def test_stop_takes_a_timedelta_grace(app: App) -> None:
    """``stop(grace=timedelta(...))`` works like seconds, as every other duration does: it
    used to return while ``run()`` then raised ``TypeError`` in the grace deadline and left
    the running job active until its lease ran out."""
    started, release = gated_processor(app)

    job = await app.enqueue("gated")
    worker = app.worker()
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 3)
    stopping = asyncio.create_task(worker.stop(grace=timedelta(seconds=5)))
    await asyncio.sleep(0.1)
    assert not stopping.done()  # waiting for the running job, within the grace
    release.set()
    await asyncio.wait_for(stopping, 3)
    await asyncio.wait_for(task, 1)
    assert await job.state() is JobState.COMPLETED
    assert worker.processed == 1


async def test_stop_refuses_a_bad_grace_and_the_worker_runs_on(app: App) -> None:
    """A grace that is not a duration (a string, negative, NaN) raises
    ``ConfigurationError`` before anything changes: the worker keeps running and claiming,
    and a later ``stop`` works. It used to stop the worker with the bad value (a string
    failed ``run()`` with ``TypeError``, -1 was taken as 0)."""
    started, release = gated_processor(app)

    @app.processor("echo")
    async def echo(job: Job) -> Any:
        return job.data

    first = await app.enqueue("gated")
    worker = app.worker(concurrency=2)
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 3)
    for bad in ("30", -1, float("nan"), None):
        with pytest.raises(ConfigurationError, match="grace must be"):
            await asyncio.wait_for(worker.stop(grace=bad), 1)  # type: ignore[arg-type]
    assert not task.done()
    second = await app.enqueue("echo", {"n": 1})
    assert await second.result(timeout=3) == {"n": 1}  # still claiming
    release.set()
    assert await first.result(timeout=3) == "done"
    await asyncio.wait_for(worker.stop(grace=5), 3)
    await asyncio.wait_for(task, 1)
    assert worker.processed == 2
