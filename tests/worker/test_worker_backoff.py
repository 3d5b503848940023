"""Backoff as the worker applies it, on both backends with an injected clock: each retry's
``due`` is exactly the policy's delay after the failure, for fixed, capped exponential,
jittered and custom policies; ``Retry(delay)`` overrides a custom policy; a custom policy
that raises or returns nonsense is recorded on the job and the tier's backoff decides."""

from __future__ import annotations

from datetime import timedelta

import pytest

from streamq import App, Backoff, ConfigurationError, Job, JobState, Retry, Tier
from tests.helpers import FakeClock
from tests.test_errors import refused


def tier_policy(attempt: int) -> timedelta:
    """The custom tier's backoff: 4 s x attempt, as a timedelta."""
    return timedelta(seconds=4 * attempt)


def broken_policy(attempt: int) -> float:
    """A custom backoff that always raises."""
    raise ValueError(f"no table entry for attempt {attempt}")


@pytest.fixture
def tiers() -> list[Tier]:
    """A tier with a custom backoff, one whose custom backoff is broken, one fixed 9 s."""
    return [Tier("custom", attempts=3, backoff=Backoff.custom(tier_policy)),
            Tier("plain", backoff=Backoff.fixed(9)),
            Tier("broken", attempts=2, backoff=Backoff.custom(broken_policy))]


async def due_of(app: App, job: Job) -> tuple[str, int, float | None]:
    """The job's state, its ``due`` field (ms) and its score in the delayed set."""
    backend = await app.backend()
    keys = app.queue(job.tier).keys
    fields: dict[str, str] = await backend.client.hgetall(keys.job(job.id))  # type: ignore[assignment]
    score = await backend.client.zscore(keys.delayed, job.id)
    return fields["state"], int(fields.get("due") or 0), score


async def fail_and_check(app: App, clock: FakeClock, job: Job, delays_s: list[float]) -> None:
    """Run the job once per delay: each failed attempt leaves it due ``delay`` later, in
    both the job hash and the delayed set; then the last attempt fails it for good."""
    for delay in delays_s:
        await app.worker(tier=job.tier).run(burst=True)
        expected = round((clock.now + delay) * 1000)
        assert await due_of(app, job) == ("delayed", expected, expected)
        clock.advance(delay - 0.001)  # a millisecond early: must not run
        await app.worker(tier=job.tier).run(burst=True)
        assert await due_of(app, job) == ("delayed", expected, expected)
        clock.advance(0.001)
    await app.worker(tier=job.tier).run(burst=True)
    assert await job.state() is JobState.FAILED


async def test_fixed_backoff_due_times(clock_app: App, clock: FakeClock) -> None:
    """Fixed 30 s: every retry is due 30 s after its failure."""

    @clock_app.processor("bad")
    async def bad(job: Job) -> None:
        raise RuntimeError("bad")

    job = await clock_app.enqueue("bad", attempts=4, backoff=Backoff.fixed(30))
    await fail_and_check(clock_app, clock, job, [30, 30, 30])


async def test_capped_exponential_due_times(clock_app: App, clock: FakeClock) -> None:
    """Exponential 10 s capped at 25 s: due 10, 20, 25, 25 s after each failure."""

    @clock_app.processor("bad")
    async def bad(job: Job) -> None:
        raise RuntimeError("bad")

    job = await clock_app.enqueue("bad", attempts=5, backoff=Backoff.exponential(10, cap=25))
    await fail_and_check(clock_app, clock, job, [10, 20, 25, 25])


async def test_custom_processor_backoff_due_times(clock_app: App, clock: FakeClock) -> None:
    """A processor's custom backoff gets each failed attempt's number; its answers (float,
    int or timedelta) are the due times."""
    table: dict[int, float | timedelta] = {1: 3.5, 2: 7, 3: timedelta(seconds=11)}
    asked: list[int] = []

    def policy(attempt: int) -> float | timedelta:
        asked.append(attempt)
        return table[attempt]

    @clock_app.processor("bad", attempts=4, backoff=Backoff.custom(policy))
    async def bad(job: Job) -> None:
        raise RuntimeError("bad")

    job = await clock_app.enqueue("bad")
    await fail_and_check(clock_app, clock, job, [3.5, 7, 11])
    assert asked == [1, 2, 3]


async def test_custom_tier_backoff_due_times(clock_app: App, clock: FakeClock) -> None:
    """A tier's custom backoff applies to jobs whose processor sets none."""

    @clock_app.processor("bad", tier="custom")
    async def bad(job: Job) -> None:
        raise RuntimeError("bad")

    job = await clock_app.enqueue("bad")
    await fail_and_check(clock_app, clock, job, [4, 8])


async def test_jittered_due_times_spread_within_the_band(
    clock_app: App, clock: FakeClock
) -> None:
    """Fixed 100 s with jitter 0.5: twenty jobs failing together are due between 50 and
    100 s later, at different times."""

    @clock_app.processor("bad")
    async def bad(job: Job) -> None:
        raise RuntimeError("bad")

    jobs = await clock_app.queue().enqueue_many(
        [("bad", n, {"attempts": 2, "backoff": Backoff.fixed(100, jitter=0.5)})
         for n in range(20)])
    await clock_app.worker(concurrency=20).run(burst=True)
    now_ms = round(clock.now * 1000)
    dues = [(await due_of(clock_app, job))[1] for job in jobs]
    assert all(now_ms + 50_000 <= due <= now_ms + 100_000 for due in dues)
    assert len(set(dues)) > 10


async def test_retry_delay_overrides_a_custom_backoff(clock_app: App, clock: FakeClock) -> None:
    """``Retry(delay=5)`` sets this retry's delay without asking the custom policy;
    ``Retry()`` asks it."""
    asked: list[int] = []

    def policy(attempt: int) -> float:
        asked.append(attempt)
        return 100.0 * attempt

    @clock_app.processor("later", attempts=3, backoff=Backoff.custom(policy))
    async def later(job: Job) -> str:
        if job.attempt == 1:
            raise Retry(delay=5)
        if job.attempt == 2:
            raise Retry()
        return "done"

    job = await clock_app.enqueue("later")
    await clock_app.worker().run(burst=True)
    assert await due_of(clock_app, job) == ("delayed", *[round((clock.now + 5) * 1000)] * 2)
    assert asked == []
    clock.advance(5)
    await clock_app.worker().run(burst=True)
    assert await due_of(clock_app, job) == ("delayed", *[round((clock.now + 200) * 1000)] * 2)
    assert asked == [2]
    clock.advance(200)
    await clock_app.worker().run(burst=True)
    assert await job.result(timeout=1) == "done"


async def test_failing_custom_backoff_falls_back_to_the_tier(
    clock_app: App, clock: FakeClock
) -> None:
    """A custom backoff that raises (or returns a bad value) does not crash the worker: the
    attempt is a failed attempt whose error says what went wrong, the tier's backoff
    (here fixed 9 s) sets the delay, and the job runs again and completes."""
    bad_value = Backoff.custom(lambda attempt: -1)

    @clock_app.processor("flaky", tier="plain", attempts=3,
                         backoff=Backoff.custom(broken_policy))
    async def flaky(job: Job) -> str:
        if job.attempt == 1:
            raise RuntimeError("first try fails")
        return "ok"

    @clock_app.processor("slow", tier="plain", attempts=2, backoff=bad_value)
    async def slow(job: Job) -> None:
        raise Retry()

    job = await clock_app.enqueue("flaky")
    other = await clock_app.enqueue("slow")
    await clock_app.worker(tier="plain").run(burst=True)
    expected = round((clock.now + 9) * 1000)
    assert await due_of(clock_app, job) == ("delayed", expected, expected)
    assert await due_of(clock_app, other) == ("delayed", expected, expected)
    info = await job.info()
    assert info.error is not None
    assert info.error.startswith("RuntimeError: first try fails [custom backoff broken_policy "
                                 "failed for attempt 1: ValueError: no table entry")
    assert info.error.endswith("retried after backoff fixed(9 s) instead]")
    assert info.traceback is not None and "first try fails" in info.traceback
    other_info = await other.info()
    assert other_info.error is not None and "returned -1 for attempt 1" in other_info.error

    clock.advance(9)
    await clock_app.worker(tier="plain").run(burst=True)
    assert await job.result(timeout=1) == "ok"


async def test_failing_custom_tier_backoff_uses_the_default(
    clock_app: App, clock: FakeClock
) -> None:
    """When the tier's own custom backoff fails, the default (exponential 5 s) decides."""

    @clock_app.processor("bad", tier="broken")
    async def bad(job: Job) -> None:
        raise RuntimeError("bad")

    job = await clock_app.enqueue("bad")
    await clock_app.worker(tier="broken").run(burst=True)
    expected = round((clock.now + 5) * 1000)
    assert await due_of(clock_app, job) == ("delayed", expected, expected)
    info = await job.info()
    assert info.error is not None and "ValueError: no table entry for attempt 1" in info.error
    assert info.error.endswith("retried after backoff exponential(5 s) instead]")


async def test_custom_backoff_cannot_be_given_at_enqueue(app: App) -> None:
    """enqueue(backoff=Backoff.custom(fn)) is refused before writing, saying where to put it;
    in enqueue_many the whole batch is refused."""
    custom = Backoff.custom(lambda attempt: 1)
    error = await refused(app, ConfigurationError, "cannot be stored with a job",
                          backoff=custom)
    assert "@app.processor" in str(error)
    assert "Tier(" in str(error)
    with pytest.raises(ConfigurationError, match="cannot be stored"):
        await app.queue().enqueue_many([("a", 1), ("b", 2, {"backoff": custom})])
    assert (await app.queue().counts())["waiting"] == 1  # only refused()'s good job
