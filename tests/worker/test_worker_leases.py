"""Leases on both backends (Tier lease = 1 s): renewal keeps a long job with its worker,
a job whose consumer stops renewing is reclaimed (a stall counts as an attempt), a
worker whose job is taken away stops running it, and a starting worker's upkeep (renewal,
reclaim, promotion) waits for its first claim."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import streamq
from streamq import App, Fail, Job, JobState, Tier
from streamq.broker.keys import GROUP
from streamq.broker.records import ClaimedJob, Finished
from tests.helpers import running, until


@pytest.fixture
def tiers() -> list[Tier]:
    """The standard tier with the shortest lease allowed."""
    return [Tier("standard", lease=1)]


async def pending_entries(app: App) -> list[dict[str, Any]]:
    """Every pending entry of the standard tier's ready streams (XPENDING)."""
    backend = await app.backend()
    found: list[dict[str, Any]] = []
    for stream in app.queue().keys.ready:
        found += await backend.client.xpending_range(stream, GROUP, "-", "+", 100)
    return found


async def ghost_claim(app: App, count: int) -> list[ClaimedJob]:
    """Claim jobs for a consumer that will never renew them (a worker that died)."""
    backend = await app.backend(app.queue().keys)
    claimed = await backend.scripts.claim(app.queue().keys, "ghost", app.now_ms(), count)
    assert claimed is not None
    assert len(claimed) == count
    return claimed


async def test_lease_renewal_keeps_a_long_job(app: App) -> None:
    """A job running 2.5 s under a 1 s lease is renewed: it runs once, attempt 1, and its
    pending entry never goes idle for a whole lease."""
    calls: list[int] = []
    idle_seen: list[int] = []

    @app.processor("long")
    async def long(job: Job) -> str:
        calls.append(job.attempt)
        for _ in range(5):
            await asyncio.sleep(0.5)
            idle_seen.extend(e["time_since_delivered"] for e in await pending_entries(app))
        return "done"

    job = await app.enqueue("long", attempts=3)
    worker = app.worker(concurrency=2)
    async with running(worker):
        assert await job.result(timeout=10) == "done"
    assert calls == [1]
    assert len(idle_seen) == 5
    assert max(idle_seen) < 1000, idle_seen
    info = await job.info()
    assert info.attempt == 1
    assert info.worker == worker.consumer
    assert await pending_entries(app) == []


async def test_stalled_jobs_are_reclaimed_or_dead_lettered(app: App) -> None:
    """Jobs claimed by a consumer that never renews are taken back after the 1 s lease: one
    with attempts left runs again on a live worker (attempt 2, the stall counted), one out
    of attempts ends FAILED without running. The stale consumer can no longer finish or
    renew either."""
    ran: list[tuple[str, int]] = []

    @app.processor("work")
    async def work(job: Job) -> int:
        ran.append((job.id, job.attempt))
        return job.attempt

    queue = app.queue()
    retried = await app.enqueue("work", attempts=3, job_id="has-attempts-left")
    dead = await app.enqueue("work", attempts=1, job_id="out-of-attempts")
    claimed = await ghost_claim(app, 2)
    assert {(c.id, c.attempt) for c in claimed} == {(retried.id, 1), (dead.id, 1)}
    assert {e["consumer"] for e in await pending_entries(app)} == {"ghost"}

    began = time.monotonic()
    worker = app.worker()
    async with running(worker):
        assert await retried.result(timeout=5) == 2
        await until(lambda: _state_is(queue, dead.id, JobState.FAILED))
    assert time.monotonic() - began >= 0.9  # not before the lease ran out

    assert ran == [(retried.id, 2)]
    info = await retried.info()
    assert info.attempt == 2
    assert info.worker == worker.consumer
    dead_info = await dead.info()
    assert dead_info.attempt == 1
    assert dead_info.error is not None
    assert dead_info.error.startswith("stalled")
    assert [d.id for d in await queue.dead_letters()] == [dead.id]
    assert await pending_entries(app) == []

    backend = await app.backend()
    keys = queue.keys
    for job in claimed:
        assert await backend.scripts.extend(keys, "ghost", [(job.priority, job.entry)]) == [
            False]
        assert await backend.scripts.complete(
            keys, "ghost", app.now_ms(), 100,
            [Finished(job.id, job.priority, job.entry, '"late"')]) == [False]
    assert await retried.result(timeout=1) == 2
    assert await dead.state() is JobState.FAILED


async def _state_is(queue: Any, job_id: str, state: JobState) -> bool:
    return bool(await queue.state_of(job_id) is state)


async def test_renewal_cancels_a_job_removed_while_running(app: App) -> None:
    """When a running job is removed, the worker's next renewal finds the lease lost and
    cancels the processor instead of letting it run on; the job stays gone."""
    started = asyncio.Event()
    cancelled = asyncio.Event()

    @app.processor("long")
    async def long(job: Job) -> None:
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    job = await app.enqueue("long")
    worker = app.worker()
    async with running(worker):
        await asyncio.wait_for(started.wait(), 3)
        await app.queue().remove(job.id)
        await asyncio.wait_for(cancelled.wait(), 2)
        await until(lambda: _no_active(worker))
    assert await app.queue().get_job(job.id) is None
    assert await pending_entries(app) == []
    counts = await app.queue().counts()
    assert counts == {"waiting": 0, "active": 0, "delayed": 0, "completed": 0, "failed": 0}


async def test_a_job_still_unwinding_after_its_lease_was_lost_ends_before_on_shutdown(
    app: App,
) -> None:
    """A job taken out of the worker (removed, so its lease is lost) whose processor
    awaits clean-up once cancelled: the stopping worker waits for it, so on_shutdown does
    not close what the clean-up still uses."""
    started = asyncio.Event()
    calls: list[str] = []

    @app.on_shutdown
    async def close_clients() -> None:
        calls.append("shutdown")

    @app.processor("long")
    async def long(job: Job) -> None:
        started.set()
        try:
            await asyncio.sleep(10)
        finally:
            await asyncio.sleep(0.5)
            calls.append("cleaned up")

    job = await app.enqueue("long")
    worker = app.worker()
    async with running(worker):
        await asyncio.wait_for(started.wait(), 3)
        await app.queue().remove(job.id)
        await until(lambda: _no_active(worker))
    assert calls == ["cleaned up", "shutdown"]


async def doomed_with_dropped_fails(
    app: App, monkeypatch: pytest.MonkeyPatch, drops: int,
) -> tuple[Job, list[int], asyncio.Event]:
    """A "doomed" job whose processor raises Fail, and whose first ``drops`` fail calls
    meet a dropped connection: the job, the attempts its processor ran, and an event set
    when a fail call is dropped."""
    runs: list[int] = []
    dropped = asyncio.Event()

    @app.processor("doomed", attempts=3)
    async def doomed(job: Job) -> None:
        runs.append(job.attempt)
        raise Fail("bad address")

    job = await app.enqueue("doomed")
    backend = await app.backend(app.queue().keys)
    real_fail = backend.scripts.fail
    errors = [streamq.ConnectionError("connection dropped")] * drops

    async def flaky_fail(*args: Any, **kwargs: Any) -> str:
        if errors:
            dropped.set()
            raise errors.pop()
        return await real_fail(*args, **kwargs)

    monkeypatch.setattr(backend.scripts, "fail", flaky_fail)
    return job, runs, dropped


async def test_a_failure_that_cannot_be_recorded_is_sent_again(
    app: App, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fail("...") on attempt 1 of 3, and the fail call meets a dropped connection: the
    worker sends it again (the job stays with it, its lease renewed) rather than leaving
    the job to come back after its lease and run again despite Fail."""
    monkeypatch.setattr("streamq.worker.failures.RETRY_PAUSE_S", 0.05)
    job, runs, _ = await doomed_with_dropped_fails(app, monkeypatch, drops=2)
    await asyncio.wait_for(app.worker().run(burst=True), 10)
    info = await app.queue().get_job(job.id)
    assert info is not None
    assert (info.state, info.error, runs) == (JobState.FAILED, "bad address", [1])


async def test_a_stop_waits_for_a_failure_being_recorded_rather_than_hand_it_back(
    app: App, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """stop(grace=0) while a Fail is being sent again after a dropped connection: the job
    was handed back, its attempt given back, to run again despite Fail. The stopping worker
    now waits for the failure to be recorded, as it does for completions."""
    monkeypatch.setattr("streamq.worker.failures.RETRY_PAUSE_S", 0.1)
    job, runs, dropped = await doomed_with_dropped_fails(app, monkeypatch, drops=3)
    worker = app.worker()
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(dropped.wait(), 5)
    await asyncio.wait_for(worker.stop(grace=0), 5)
    await asyncio.wait_for(task, 1)
    info = await app.queue().get_job(job.id)
    assert info is not None
    assert (info.state, info.error, info.attempt, runs) == (JobState.FAILED, "bad address", 1,
                                                            [1])


async def _no_active(worker: Any) -> bool:
    return not any(runner.active for runner in worker.runners)


async def test_the_upkeep_starts_once_the_first_claim_has_answered(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker's first claim goes to Redis alone: its first reclaim and promotion are sent
    after the claim's answer, so the first jobs do not wait in Redis behind them."""
    backend = await app.backend(app.queue().keys)
    calls: list[str] = []
    for name in ("claim", "reclaim", "promote_due"):
        monkeypatch.setattr(backend.scripts, name, recording(name, getattr(backend.scripts, name),
                                                             calls))

    @app.processor("noop")
    async def noop(job: Job) -> None:
        pass

    await app.enqueue("noop")
    async with running(app.worker()):
        await until(lambda: asyncio.sleep(0, "promote_due answered" in calls))
    assert calls.index("claim answered") < calls.index("reclaim sent")
    assert calls.index("claim answered") < calls.index("promote_due sent")


def recording(name: str, call: Any, calls: list[str]) -> Any:
    """``call``, noting in ``calls`` when it is sent and when it has answered."""
    async def recorded(*args: Any, **kwargs: Any) -> Any:
        calls.append(f"{name} sent")
        try:
            return await call(*args, **kwargs)
        finally:
            calls.append(f"{name} answered")
    return recorded
