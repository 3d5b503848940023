"""Failed attempts on both backends: retries with backoff, ``Retry(delay)``, ``Fail``,
attempts running out, and per-job / processor / tier timeouts."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from streamq import App, Backoff, Fail, Job, JobFailed, JobState, Retry, Tier
from tests.helpers import FakeClock, running, until


@pytest.fixture
def tiers() -> list[Tier]:
    """A tier with a 0.2 s timeout and one attempt, for the tier-level timeout test."""
    return [Tier("timed", timeout=0.2, attempts=1)]






async def job_hash(app: App, job: Job) -> dict[str, str]:
    backend = await app.backend()
    fields: dict[str, str] = await backend.client.hgetall(app.queue(job.tier).keys.job(job.id))
    return fields


async def delayed_score(app: App, job: Job) -> float | None:
    backend = await app.backend()
    score: float | None = await backend.client.zscore(app.queue(job.tier).keys.delayed, job.id)
    return score


# ------------------------------------------------------------------------- retries


async def test_exception_is_retried_after_backoff(clock_app: App, clock: FakeClock) -> None:
    """A raising attempt goes back to DELAYED for the backoff, with its error recorded; once
    the delay has passed, the next attempt runs and completes, keeping the last error."""
    attempts: list[int] = []

    @clock_app.processor("flaky")
    async def flaky(job: Job) -> str:
        attempts.append(job.attempt)
        if job.attempt == 1:
            raise ValueError("flaky")
        return "ok"

    start_ms = clock.now * 1000
    job = await clock_app.enqueue("flaky", attempts=3, backoff=Backoff.fixed(30))
    await clock_app.worker().run(burst=True)

    fields = await job_hash(clock_app, job)
    assert fields["state"] == "delayed"
    assert fields["attempt"] == "1"
    assert fields["error"] == "ValueError: flaky"
    assert "raise ValueError" in fields["tb"]
    assert int(fields["due"]) == start_ms + 30_000
    assert await delayed_score(clock_app, job) == start_ms + 30_000
    counts = await clock_app.queue().counts()
    assert (counts["delayed"], counts["waiting"], counts["active"]) == (1, 0, 0)

    clock.advance(29)
    await clock_app.worker().run(burst=True)
    assert attempts == [1]

    clock.advance(1)
    await clock_app.worker().run(burst=True)
    assert attempts == [1, 2]
    assert await job.result(timeout=1) == "ok"
    info = await job.info()
    assert info.attempt == 2
    assert (info.error, info.state) == ("ValueError: flaky", JobState.COMPLETED)  # retries.md
    assert await delayed_score(clock_app, job) is None


async def test_exponential_backoff_doubles(clock_app: App, clock: FakeClock) -> None:
    """Exponential backoff waits base, then twice base, after successive failures."""

    @clock_app.processor("always_bad")
    async def always_bad(job: Job) -> None:
        raise RuntimeError("nope")

    job = await clock_app.enqueue("always_bad", attempts=3, backoff=Backoff.exponential(10))
    await clock_app.worker().run(burst=True)
    assert await delayed_score(clock_app, job) == clock.now * 1000 + 10_000

    clock.advance(10)
    await clock_app.worker().run(burst=True)
    assert (await job_hash(clock_app, job))["attempt"] == "2"
    assert await delayed_score(clock_app, job) == clock.now * 1000 + 20_000

    clock.advance(20)
    await clock_app.worker().run(burst=True)
    assert await job.state() is JobState.FAILED


async def test_backoff_comes_from_enqueue_then_processor_then_tier(
    clock_app: App, clock: FakeClock
) -> None:
    """The retry delay uses the enqueue call's backoff, else the processor's, else the
    tier's (standard: exponential 5 s)."""

    @clock_app.processor("own_backoff", backoff=Backoff.fixed(7))
    async def own_backoff(job: Job) -> None:
        raise RuntimeError("x")

    @clock_app.processor("tier_backoff")
    async def tier_backoff(job: Job) -> None:
        raise RuntimeError("x")

    from_processor = await clock_app.enqueue("own_backoff", attempts=2)
    from_enqueue = await clock_app.enqueue("own_backoff", attempts=2,
                                           backoff=Backoff.fixed(11))
    from_tier = await clock_app.enqueue("tier_backoff", attempts=2)
    await clock_app.worker().run(burst=True)

    now_ms = clock.now * 1000
    assert await delayed_score(clock_app, from_processor) == now_ms + 7_000
    assert await delayed_score(clock_app, from_enqueue) == now_ms + 11_000
    assert await delayed_score(clock_app, from_tier) == now_ms + 5_000


async def test_retries_run_after_real_backoff(app: App) -> None:
    """On a running worker, a job failing twice with a 0.1 s fixed backoff runs three
    times, at least 0.1 s apart, and completes."""
    started: list[float] = []

    @app.processor("twice_bad")
    async def twice_bad(job: Job) -> int:
        started.append(time.monotonic())
        if job.attempt < 3:
            raise ConnectionResetError("peer went away")
        return job.attempt

    job = await app.enqueue("twice_bad", attempts=3, backoff=Backoff.fixed(0.1))
    async with running(app.worker()):
        assert await job.result(timeout=5) == 3
    assert len(started) == 3
    gaps = [b - a for a, b in itertools.pairwise(started)]
    assert all(gap >= 0.095 for gap in gaps), gaps


async def test_attempts_exhausted_fails_with_error_and_traceback(app: App) -> None:
    """When the last attempt raises, the job is FAILED (dead letter) with the last error and
    its traceback; ``result()`` raises JobFailed."""
    calls: list[int] = []

    @app.processor("boom")
    async def boom(job: Job) -> None:
        calls.append(job.attempt)
        raise ValueError(f"boom {job.attempt}")

    job = await app.enqueue("boom", attempts=2, backoff=Backoff.fixed(0))
    await app.worker().run(burst=True)

    assert calls == [1, 2]
    info = await job.info()
    assert info.state is JobState.FAILED
    assert info.attempt == 2
    assert info.error == "ValueError: boom 2"
    assert info.traceback is not None
    assert info.traceback.startswith("Traceback (most recent call last)")
    assert "ValueError: boom 2" in info.traceback
    assert info.finished_at is not None
    assert [d.id for d in await app.queue().dead_letters()] == [job.id]
    with pytest.raises(JobFailed) as failed:
        await job.result(timeout=1)
    assert failed.value.error == "ValueError: boom 2"
    backend = await app.backend()
    keys = app.queue().keys
    assert await backend.client.zscore(keys.failed, job.id) is not None
    assert await backend.client.zcard(keys.delayed) == 0
    assert (await app.queue().counts())["active"] == 0


async def test_retry_delay_overrides_backoff(clock_app: App, clock: FakeClock) -> None:
    """``raise Retry(delay=5)`` schedules the next attempt 5 s later, whatever the backoff;
    ``raise Retry()`` uses the backoff."""

    @clock_app.processor("later_please")
    async def later_please(job: Job) -> str:
        if job.attempt == 1:
            raise Retry(delay=5)
        if job.attempt == 2:
            raise Retry()
        return f"attempt {job.attempt}"

    job = await clock_app.enqueue("later_please", attempts=3, backoff=Backoff.fixed(1000))
    await clock_app.worker().run(burst=True)
    fields = await job_hash(clock_app, job)
    assert fields["state"] == "delayed"
    assert fields["attempt"] == "1"
    assert await delayed_score(clock_app, job) == clock.now * 1000 + 5_000

    clock.advance(5)
    await clock_app.worker().run(burst=True)
    assert await delayed_score(clock_app, job) == clock.now * 1000 + 1_000_000

    clock.advance(1000)
    await clock_app.worker().run(burst=True)
    assert await job.result(timeout=1) == "attempt 3"


async def test_retry_on_last_attempt_fails(app: App) -> None:
    """``Retry`` when no attempts are left ends the job FAILED."""

    @app.processor("again")
    async def again(job: Job) -> None:
        raise Retry(delay=0)

    job = await app.enqueue("again", attempts=2)
    await app.worker().run(burst=True)
    info = await job.info()
    assert info.state is JobState.FAILED
    assert info.attempt == 2
    assert info.error is not None
    assert "retry requested" in info.error


async def test_fail_goes_straight_to_failed(app: App) -> None:
    """``raise Fail(reason)`` ends the job FAILED at once, attempts left or not."""
    calls: list[int] = []

    @app.processor("hopeless")
    async def hopeless(job: Job) -> None:
        calls.append(job.attempt)
        raise Fail("bad address")

    job = await app.enqueue("hopeless", attempts=5, backoff=Backoff.fixed(0))
    await app.worker().run(burst=True)
    assert calls == [1]
    info = await job.info()
    assert info.state is JobState.FAILED
    assert info.attempt == 1
    assert info.error == "bad address"
    assert info.traceback is None
    assert await delayed_score(app, job) is None


async def test_a_cancelled_error_the_job_raises_is_a_failed_attempt(app: App) -> None:
    """A processor that awaits a task something else cancelled raises CancelledError without
    being cancelled itself: a failed attempt like any error (it escaped the job's task, so
    the job stayed ACTIVE with its slot taken, and a burst run never ended)."""
    calls: list[int] = []

    @app.processor("stray", attempts=2)
    async def stray(job: Job) -> None:
        calls.append(job.attempt)
        other = asyncio.create_task(asyncio.sleep(10))
        other.cancel()
        await other

    job = await app.enqueue("stray", backoff=Backoff.fixed(0))
    await asyncio.wait_for(app.worker(concurrency=1).run(burst=True), 5)
    assert calls == [1, 2]
    info = await job.info()
    assert info.state is JobState.FAILED
    assert info.error is not None and info.error.startswith("CancelledError")


async def test_an_error_text_that_is_not_valid_unicode_is_recorded(app: App) -> None:
    """An error whose text holds a lone surrogate (a file name ``os.listdir`` decoded from
    bytes that are not UTF-8) is recorded: packing it failed on Redis, and the job stayed
    ACTIVE."""
    @app.processor("listing", attempts=1)
    async def listing(job: Job) -> None:
        raise FileNotFoundError("no such file: report-\udcff.csv")

    job = await app.enqueue("listing")
    await asyncio.wait_for(app.worker().run(burst=True), 5)
    info = await job.info()
    assert info.state is JobState.FAILED
    assert info.error is not None and info.error.startswith("FileNotFoundError: no such file")


async def test_retry_failed_retries_each_dead_letter_once_while_a_worker_runs(app: App) -> None:
    """``Queue.retry_failed()`` retries the jobs FAILED when it starts, once each, though a
    running worker fails them again at once (``streamq retry --all-failed`` looped on
    ``dead_letters()`` until it came back empty, rerunning them over and over)."""
    runs: dict[str, int] = {}

    @app.processor("doomed")
    async def doomed(job: Job) -> None:
        runs[job.id] = runs.get(job.id, 0) + 1
        raise Fail("bad address")

    queue = app.queue()
    jobs = [await queue.enqueue("doomed") for _ in range(50)]
    await app.worker().run(burst=True)
    assert runs == {job.id: 1 for job in jobs}
    async with running(app.worker()):
        assert await queue.retry_failed() == 50
        await until(lambda: _all_ran(runs, 2, len(jobs)))
        await asyncio.sleep(0.2)  # time for a retry too many to show
    assert runs == {job.id: 2 for job in jobs}
    assert (await queue.counts())["failed"] == 50
    assert await queue.retry_failed() == 50
    assert await queue.retry_failed() == 0  # all waiting now: nothing failed to retry


async def _all_ran(runs: dict[str, int], times: int, jobs: int) -> bool:
    return len(runs) == jobs and all(n >= times for n in runs.values())


# ------------------------------------------------------------------------- timeouts


async def test_enqueue_timeout_fails_the_attempt(app: App) -> None:
    """``timeout=0.2`` on enqueue cancels a slow processor and fails the attempt with
    "timed out after 0.2 s"."""
    cancelled: list[bool] = []

    @app.processor("slow")
    async def slow(job: Job) -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    job = await app.enqueue("slow", attempts=1, timeout=0.2)
    began = time.monotonic()
    await app.worker().run(burst=True)
    assert time.monotonic() - began < 2
    assert cancelled == [True]
    info = await job.info()
    assert info.state is JobState.FAILED
    assert info.error == "timed out after 0.2 s"
    assert info.attempt == 1


async def test_a_processor_that_ignores_its_timeout_completes_with_its_result(
    app: App
) -> None:
    """A processor that catches the timeout's cancellation and goes on is not cancelled
    again (asyncio's rule); its result is recorded, and the worker's own calls after it are
    not cancelled by the timeout either."""

    @app.processor("stubborn", attempts=1, timeout=0.1)
    async def stubborn(job: Job) -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            await asyncio.sleep(0.05)
            return "finished anyway"
        return "slept"

    job = await app.enqueue("stubborn")
    await app.worker().run(burst=True)
    assert await job.result(timeout=1) == "finished anyway"
    assert (await job.info()).state is JobState.COMPLETED


async def test_timeout_counts_as_an_attempt_and_retries(app: App) -> None:
    """A timed-out attempt with attempts left is retried, and the next attempt can pass."""

    @app.processor("slow_once")
    async def slow_once(job: Job) -> int:
        if job.attempt == 1:
            await asyncio.sleep(10)
        return job.attempt

    job = await app.enqueue("slow_once", attempts=2, timeout=0.2, backoff=Backoff.fixed(0))
    await app.worker().run(burst=True)
    assert await job.result(timeout=1) == 2
    assert (await job.info()).attempt == 2


async def test_processor_timeout(app: App) -> None:
    """``@app.processor(timeout=0.2)`` applies to its jobs."""

    @app.processor("slow", timeout=0.2, attempts=1)
    async def slow(job: Job) -> None:
        await asyncio.sleep(10)

    job = await app.enqueue("slow")
    await app.worker().run(burst=True)
    info = await job.info()
    assert info.state is JobState.FAILED
    assert info.error == "timed out after 0.2 s"


async def test_tier_timeout(app: App) -> None:
    """``Tier(timeout=0.2)`` applies to the tier's jobs without a timeout of their own."""

    @app.processor("slow", tier="timed")
    async def slow(job: Job) -> None:
        await asyncio.sleep(10)

    job = await app.enqueue("slow")
    await app.worker("timed").run(burst=True)
    info = await job.info()
    assert info.state is JobState.FAILED
    assert info.error == "timed out after 0.2 s"


async def test_enqueue_timeout_overrides_processor_and_tier(app: App) -> None:
    """A longer per-job timeout wins over the processor's and the tier's shorter ones."""

    @app.processor("medium", tier="timed", timeout=0.1)
    async def medium(job: Job) -> str:
        await asyncio.sleep(0.3)
        return "finished"

    job = await app.enqueue("medium", timeout=2)
    await app.worker("timed").run(burst=True)
    assert await job.result(timeout=1) == "finished"
