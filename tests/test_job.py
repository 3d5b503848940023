"""Job: the handle enqueue returns and processors receive, on both backends."""

from __future__ import annotations

import asyncio
import math
import time
from datetime import timedelta
from typing import Any

import pytest

from streamq import (
    App,
    Backoff,
    ConfigurationError,
    Fail,
    Job,
    JobFailed,
    JobInfo,
    JobNotFound,
    JobState,
    JobStateError,
    StreamqError,
)
from tests.helpers import running, until


async def run_burst(app: App, tier: str = "standard") -> None:
    """Run a burst worker until nothing is ready or running."""
    await asyncio.wait_for(app.worker(tier).run(burst=True), 10)


async def test_handle_attributes(app: App) -> None:
    """The handle carries id, name, tier and data; attempt is 0 before the first run."""
    job = await app.queue("critical").enqueue("resize", {"w": 10}, job_id="img-1")
    assert (job.id, job.name, job.tier, job.data, job.attempt) == (
        "img-1", "resize", "critical", {"w": 10}, 0)
    assert job.attempts == 5
    assert "img-1" in repr(job)
    assert "critical" in repr(job)


async def test_state_follows_the_job(app: App) -> None:
    """state() reads the stored state: WAITING, then COMPLETED; DELAYED for a delayed job."""

    @app.processor("ok")
    async def ok(job: Job) -> int:
        return 1

    queue = app.queue()
    job = await queue.enqueue("ok", None)
    later = await queue.enqueue("ok", None, delay=3600)
    assert await job.state() is JobState.WAITING
    assert await later.state() is JobState.DELAYED
    await run_burst(app)
    assert await job.state() is JobState.COMPLETED
    assert await later.state() is JobState.DELAYED


async def test_state_and_info_of_a_removed_job_raise(app: App) -> None:
    """Once removed, state(), info() and result() raise JobNotFound."""
    queue = app.queue()
    job = await queue.enqueue("x", None)
    assert isinstance(await job.info(), JobInfo)
    await queue.remove(job.id)
    with pytest.raises(JobNotFound):
        await job.state()
    with pytest.raises(JobNotFound):
        await job.info()
    with pytest.raises(JobNotFound):
        await job.result(timeout=1)


async def test_attempt_inside_the_processor_is_one_based(app: App) -> None:
    """The processor's handle has attempt 1 on the first run, 2 on the next."""
    seen: list[tuple[int, int]] = []

    @app.processor("count", tier="high")
    async def count(job: Job) -> None:
        seen.append((job.attempt, job.attempts))
        if job.attempt < 2:
            raise RuntimeError("again")

    job = await app.queue("high").enqueue("count", None, backoff=Backoff.fixed(0))
    await run_burst(app, "high")
    assert seen == [(1, 3), (2, 3)]
    assert await job.state() is JobState.COMPLETED


async def test_result_is_woken_by_completion(app: App) -> None:
    """result() waiting before any worker exists returns as soon as a worker completes the job,
    far sooner than its timeout (woken by the completion, not by polling)."""
    gate = asyncio.Event()

    @app.processor("double")
    async def double(job: Job) -> int:
        await gate.wait()
        return int(job.data) * 2

    job = await app.queue().enqueue("double", 21)
    waiter = asyncio.create_task(job.result(timeout=30))
    await asyncio.sleep(0.2)
    assert not waiter.done()
    worker = asyncio.create_task(app.worker("standard").run(burst=True))
    await asyncio.sleep(0.1)
    assert not waiter.done()
    released = time.monotonic()
    gate.set()
    assert await asyncio.wait_for(waiter, 30) == 42
    assert time.monotonic() - released < 0.5  # the fallback re-check is every 5 s
    await asyncio.wait_for(worker, 10)


async def test_result_of_a_finished_job_is_immediate(app: App) -> None:
    """result() of a completed job returns at once; a processor returning None gives None."""

    @app.processor("value")
    async def value(job: Job) -> Any:
        return job.data

    queue = app.queue()
    a = await queue.enqueue("value", {"k": [1, "two"]})
    b = await queue.enqueue("value", None)
    await run_burst(app)
    started = time.monotonic()
    assert await a.result(timeout=0) == {"k": [1, "two"]}
    assert await b.result() is None
    assert time.monotonic() - started < 0.5


async def test_result_raises_job_failed(app: App) -> None:
    """A job that ended FAILED makes result() raise JobFailed with its error and traceback."""

    @app.processor("refuse")
    async def refuse(job: Job) -> None:
        raise Fail("bad address")

    @app.processor("crash")
    async def crash(job: Job) -> None:
        raise ZeroDivisionError("division by zero")

    queue = app.queue()
    refused = await queue.enqueue("refuse", None)
    crashed = await queue.enqueue("crash", None, attempts=1)
    await run_burst(app)
    with pytest.raises(JobFailed) as caught:
        await refused.result(timeout=1)
    assert caught.value.job_id == refused.id
    assert caught.value.error == "bad address"
    assert "queue.retry" in str(caught.value)
    with pytest.raises(JobFailed) as crash_caught:
        await crashed.result(timeout=1)
    assert "ZeroDivisionError" in (crash_caught.value.error or "")
    assert "Traceback" in (crash_caught.value.traceback or "")


async def test_result_raises_job_failed_when_it_fails_while_waiting(app: App) -> None:
    """A waiter is woken by a failure too, and gets JobFailed promptly."""

    @app.processor("refuse")
    async def refuse(job: Job) -> None:
        await asyncio.sleep(0.1)
        raise Fail("no")

    job = await app.queue().enqueue("refuse", None)
    waiter = asyncio.create_task(job.result(timeout=30))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await asyncio.wait_for(app.worker("standard").run(burst=True), 10)
    with pytest.raises(JobFailed):
        await asyncio.wait_for(waiter, 30)
    assert time.monotonic() - started < 1.5


async def test_result_times_out(app: App) -> None:
    """result(timeout) on a job nobody runs raises TimeoutError after about timeout."""
    job = await app.queue().enqueue("x", None)
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="still waiting") as caught:
        await job.result(timeout=0.3)
    elapsed = time.monotonic() - started
    assert 0.25 <= elapsed < 1.5
    assert "worker" in str(caught.value)
    assert await job.state() is JobState.WAITING


async def test_result_takes_a_timedelta_and_refuses_a_bad_timeout(app: App) -> None:
    job = await app.queue().enqueue("x", None)
    with pytest.raises(TimeoutError, match="still waiting"):
        await job.result(timeout=timedelta(milliseconds=100))
    for bad in ("5", -1, float("nan")):
        with pytest.raises(ConfigurationError, match="timeout must be"):
            await job.result(timeout=bad)  # type: ignore[arg-type]


async def test_result_with_timeout_zero_reads_the_job_once(app: App) -> None:
    @app.processor("quick")
    async def quick(job: Job) -> int:
        return 7

    job = await app.enqueue("quick")
    with pytest.raises(TimeoutError, match="still waiting"):
        await job.result(timeout=0)
    await app.worker().run(burst=True)
    assert await job.result(timeout=0) == 7
    assert await job.result(timeout=math.inf) == 7


async def test_a_waiter_ends_when_the_app_closes(app: App) -> None:
    """aclose() while a result() waits without a timeout: the waiter used to go on reading
    its job every 5 s forever, through the closed client (which connected again)."""
    job = await app.queue().enqueue("x", None)
    waiting = asyncio.create_task(job.result())
    await asyncio.sleep(0.2)
    await app.aclose()
    with pytest.raises(StreamqError, match="closed"):
        await asyncio.wait_for(waiting, 2)


async def test_a_run_that_lost_its_job_cannot_write_into_the_next_one(app: App) -> None:
    """The runbook's hung job: removed and enqueued again with its id while its old run
    still runs. The old run's progress and log went into the new job (whose progress is
    the checkpoint it resumes from); they are refused now, and nothing is written."""
    started, released = asyncio.Event(), asyncio.Event()
    refused: list[str] = []

    @app.processor("hung")
    async def hung(job: Job) -> None:
        started.set()
        await released.wait()
        for write in (job.progress(99), job.log("old run")):
            try:
                await write
            except JobStateError as exc:
                refused.append(str(exc))

    queue = app.queue()
    await queue.enqueue("hung", "old", job_id="J")
    async with running(app.worker()):
        await asyncio.wait_for(started.wait(), 5)
        await queue.remove("J")
        await queue.enqueue("hung", "new", job_id="J", delay=60)
        released.set()
        await until(lambda: _refused_twice(refused))
    info = await queue.get_job("J")
    assert info is not None
    assert (info.data, info.progress, info.logs) == ("new", 0.0, [])
    assert all("lost it" in message for message in refused)


async def _refused_twice(refused: list[str]) -> bool:
    return len(refused) == 2


async def test_progress_and_log_visible_in_get_job(app: App) -> None:
    """progress() and log() from the processor show in get_job, while running and after."""
    midway, release = asyncio.Event(), asyncio.Event()

    @app.processor("report")
    async def report(job: Job) -> str:
        await job.progress(50)
        await job.log("rendered template")
        await job.log("sent")
        midway.set()
        await release.wait()
        await job.progress(100)
        return "ok"

    queue = app.queue()
    job = await queue.enqueue("report", None)
    worker = asyncio.create_task(app.worker("standard").run(burst=True))
    try:
        await asyncio.wait_for(midway.wait(), 5)
        info = await queue.get_job(job.id)
        assert info is not None
        assert info.state is JobState.ACTIVE
        assert info.progress == 50.0
        assert info.logs == ["rendered template", "sent"]
        assert info.started_at is not None
        assert info.attempt == 1
    finally:
        release.set()
        await asyncio.wait_for(worker, 10)
    info = await queue.get_job(job.id)
    assert info is not None
    assert info.state is JobState.COMPLETED
    assert info.progress == 100.0
    assert info.logs == ["rendered template", "sent"]


async def test_log_keeps_the_newest_lines(app: App) -> None:
    """A job's log keeps the newest 1000 lines."""
    queue = app.queue()
    job = await queue.enqueue("x", None)
    for n in range(1003):
        await job.log(f"line {n}")
    info = await queue.get_job(job.id)
    assert info is not None
    assert len(info.logs) == 1000
    assert info.logs[0] == "line 3"
    assert info.logs[-1] == "line 1002"


@pytest.mark.parametrize("value", [-1, 100.5, float("nan"), "50", None, True])
async def test_progress_out_of_range_is_rejected(app: App, value: Any) -> None:
    """progress() takes a number from 0 to 100; anything else raises and writes nothing."""
    queue = app.queue()
    job = await queue.enqueue("x", None)
    with pytest.raises(ConfigurationError, match="0 to 100"):
        await job.progress(value)
    info = await queue.get_job(job.id)
    assert info is not None
    assert info.progress == 0.0


async def test_progress_and_log_of_a_removed_job_write_nothing(app: App) -> None:
    """After remove(), progress() and log() raise JobNotFound and leave no key behind."""
    queue = app.queue()
    job = await queue.enqueue("x", None)
    await queue.remove(job.id)
    with pytest.raises(JobNotFound):
        await job.progress(10)
    with pytest.raises(JobNotFound):
        await job.log("late")
    client = (await app.backend()).client
    assert await client.exists(queue.keys.job(job.id), queue.keys.logs(job.id)) == 0


async def test_removing_a_job_wakes_a_result_waiter_at_once(app: App) -> None:
    """result() waiting on a job that gets removed raises JobNotFound promptly (an event)."""
    queue = app.queue("standard")
    job = await queue.enqueue("anything", {})
    waiter = asyncio.create_task(job.result(timeout=10))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await queue.remove(job.id)
    with pytest.raises(JobNotFound):
        await waiter
    assert time.monotonic() - started < 1.0


async def test_draining_a_tier_wakes_its_result_waiters_at_once(app: App) -> None:
    """result() waiting on a waiting job and on a delayed one, both drained, raise
    JobNotFound promptly (one "drained" event). Before, they learnt it at their next check,
    up to 5 s later."""
    queue = app.queue("standard")
    waiting = await queue.enqueue("anything", {})
    delayed = await queue.enqueue("anything", {}, delay=60)
    waiters = [asyncio.create_task(job.result(timeout=10)) for job in (waiting, delayed)]
    await asyncio.sleep(0.1)
    started = time.monotonic()
    assert await queue.drain() == 2
    for waiter in waiters:
        with pytest.raises(JobNotFound):
            await waiter
    assert time.monotonic() - started < 1.0
