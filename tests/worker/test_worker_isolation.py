"""Tiers in one process do not hold each other up, and a processor that blocks the event
loop is reported with its job ids (on both backends)."""

from __future__ import annotations

import asyncio
import time

import pytest
import structlog

from streamq import App, Job, Tier
from tests.helpers import running, until


@pytest.fixture
def tiers() -> list[Tier]:
    """A small low tier (easy to saturate) and a 1 s lease on standard."""
    return [Tier("low", concurrency=4), Tier("standard", lease=1)]


async def test_a_critical_job_is_not_delayed_by_a_flood_of_low_jobs(app: App) -> None:
    """One worker serves critical and low. Low is saturated (every slot busy, 500 more
    waiting); a critical job enqueued then starts within a few milliseconds."""
    low_running: set[str] = set()
    critical_started: list[float] = []

    @app.processor("cleanup", tier="low")
    async def cleanup(job: Job) -> None:
        low_running.add(job.id)
        await asyncio.sleep(2)

    @app.processor("recompute", tier="critical")
    async def recompute(job: Job) -> None:
        critical_started.append(time.perf_counter())

    await app.queue("low").enqueue_many([("cleanup", n) for n in range(504)])
    worker = app.worker(["critical", "low"])
    async with running(worker, grace=0):
        async def saturated() -> bool:
            return len(low_running) == 4
        await until(saturated)
        await asyncio.sleep(0.05)  # let the critical tier's fetch loop go idle (blocking read)
        delays = []
        for _ in range(3):
            sent = time.perf_counter()
            await app.enqueue("recompute")

            async def started(n: int = len(delays) + 1) -> bool:
                return len(critical_started) == n
            await until(started, timeout=2)
            delays.append(critical_started[-1] - sent)
        assert len(low_running) == 4  # low stayed saturated throughout
    print(f"critical job start delays behind a saturated low tier: "
          f"{[round(d * 1000, 2) for d in delays]} ms")
    assert max(delays) < 0.05


async def test_a_blocked_event_loop_is_logged_with_the_job_ids(app: App) -> None:
    """A processor that time.sleep()s longer than lease/3 (lease 1 s) makes lease renewal
    late: the worker logs it naming the job, and the job still completes on this worker."""

    @app.processor("blocking")
    async def blocking(job: Job) -> str:
        time.sleep(0.8)  # noqa: ASYNC251 - the point of the test
        return "done"

    def blocked_reports() -> list[dict[str, object]]:
        return [e for e in logs if str(e["event"]).startswith("event loop was blocked")]

    async def reported() -> bool:
        return bool(blocked_reports())

    job = await app.enqueue("blocking")
    with structlog.testing.capture_logs() as logs:
        async with running(app.worker("standard")):
            assert await job.result(timeout=5) == "done"
            # the upkeep loop reports at its next pass, which may come after the result
            await until(reported, timeout=2)
    blocked = blocked_reports()
    assert blocked, [e["event"] for e in logs]
    assert blocked[0]["jobs"] == [job.id]
    assert blocked[0]["log_level"] == "warning"
    assert blocked[0]["late_s"] > 0.3
    info = await app.queue().get_job(job.id)
    assert info is not None and info.attempt == 1  # not reclaimed: renewal came in time
