"""Recycling on both backends: a worker ends gracefully after N jobs, a lifetime or an RSS
limit (stops claiming, running jobs finish, ``run()`` returns); limits are checked; the
start-up report."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import timedelta
from typing import Any

import pytest
import structlog

from streamq import App, ConfigurationError, Job, JobState, StreamqError
from streamq.broker.connection import redact
from streamq.worker import recycle
from tests.conftest import delete_namespace


async def test_max_jobs_runs_exactly_n_jobs_at_concurrency_1(app: App) -> None:
    """A running (not burst) worker returns after 3 jobs; the other 2 stay waiting."""

    @app.processor("p")
    async def p(job: Job) -> None:
        pass

    jobs = [await app.enqueue("p", n) for n in range(5)]
    worker = app.worker(concurrency=1, max_jobs=3)
    await asyncio.wait_for(worker.run(), 10)
    assert worker.recycled == "max_jobs reached (3 jobs finished)"
    assert [await j.state() for j in jobs] == [JobState.COMPLETED] * 3 + [JobState.WAITING] * 2


async def test_max_jobs_runs_exactly_n_jobs_once_the_tier_claims_ahead(app: App) -> None:
    """100 no-op jobs teach the worker that they are short, so it claims ahead; the job
    held next must not start when the Nth finishes (it started before the Nth was
    counted, and ran N+1)."""

    @app.processor("p")
    async def p(job: Job) -> None:
        pass

    await app.queue().enqueue_many([("p", n) for n in range(100)])
    worker = app.worker(concurrency=1, max_jobs=80)
    await asyncio.wait_for(worker.run(), 10)
    counts = await app.queue().counts()
    assert (counts["completed"], counts["waiting"], counts["active"]) == (80, 20, 0)


async def test_max_jobs_lets_running_jobs_finish_instead_of_handing_them_back(app: App) -> None:
    """Concurrency 3, max_jobs=2: when two quick jobs are done, the long one still running
    completes (attempt 1, not handed back), however long it takes past the default grace."""

    @app.processor("sleep")
    async def sleep(job: Job) -> None:
        await asyncio.sleep(job.data)

    quick = [await app.enqueue("sleep", 0.01) for _ in range(2)]
    long = await app.enqueue("sleep", 0.6)
    rest = [await app.enqueue("sleep", 0.01, priority=5) for _ in range(10)]
    worker = app.worker(concurrency=3, max_jobs=2)
    started = time.monotonic()
    await asyncio.wait_for(worker.run(), 10)
    assert time.monotonic() - started >= 0.6
    assert (worker.recycled or "").startswith("max_jobs reached")
    for job in [*quick, long]:
        assert await job.state() is JobState.COMPLETED
    info = await app.queue().get_job(long.id)
    assert info is not None and info.attempt == 1
    states = [await j.state() for j in rest]
    assert states.count(JobState.WAITING) >= len(rest) - 2  # at most a slot or two refilled
    assert set(states) <= {JobState.WAITING, JobState.COMPLETED}
    assert (await app.queue().counts())["active"] == 0


async def test_max_lifetime_ends_an_idle_worker(app: App) -> None:
    worker = app.worker(max_lifetime=timedelta(seconds=0.3))
    started = time.monotonic()
    await asyncio.wait_for(worker.run(), 10)
    took = time.monotonic() - started
    assert 0.3 * (1 - recycle.LIFETIME_JITTER) - 0.01 <= took < 2.5
    assert worker.recycled == "max_lifetime reached (0.3 s)"


async def test_max_lifetime_lets_the_running_job_finish(app: App) -> None:
    @app.processor("sleep")
    async def sleep(job: Job) -> str:
        await asyncio.sleep(job.data)
        return "done"

    job = await app.enqueue("sleep", 0.5)
    worker = app.worker(max_lifetime=0.1)
    await asyncio.wait_for(worker.run(), 10)
    assert await job.result(timeout=1) == "done"
    assert worker.processed == 1


async def test_max_memory_recycles_when_rss_passes_the_limit(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The RSS reader is faked: under the limit for three checks, then over it."""
    readings = iter([100, 200, 300])
    monkeypatch.setattr(recycle, "rss_bytes", lambda: next(readings, 5 * 2**30))
    monkeypatch.setattr(recycle, "MEMORY_CHECK_EVERY_S", 0.02)
    worker = app.worker(max_memory=2**30)
    await asyncio.wait_for(worker.run(), 10)
    assert worker.recycled == "max_memory reached (RSS 5,368,709,120 bytes >= 1,073,741,824)"


def test_rss_reader_reads_statm_and_falls_back_to_getrusage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    current = recycle.rss_bytes()
    assert 5 * 2**20 < current < 8 * 2**30

    def no_proc(*args: Any, **kwargs: Any) -> Any:
        raise FileNotFoundError("/proc/self/statm")

    monkeypatch.setattr(recycle, "open", no_proc, raising=False)
    peak = recycle.rss_bytes()
    assert peak >= current * 0.5 and 5 * 2**20 < peak < 8 * 2**30


@pytest.mark.parametrize(("option", "value", "message"), [
    ("max_jobs", 0, "max_jobs must be an integer >= 1, got 0"),
    ("max_jobs", "10", "max_jobs must be an integer >= 1, got '10'"),
    ("max_lifetime", -1, "max_lifetime must be a finite number of seconds >= 0"),
    ("max_lifetime", 0, "max_lifetime must be more than 0 seconds"),
    ("max_memory", 0, "max_memory must be a number of bytes >= 1, got 0"),
    ("max_memory", 1.5, "max_memory must be a number of bytes >= 1, got 1.5"),
])
def test_bad_limits_are_refused(option: str, value: Any, message: str) -> None:
    app = App("memory://")
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        app.worker(**{option: value})


async def test_startup_report_is_one_line_with_what_operators_check(app: App) -> None:
    worker = app.worker(["critical", "low"], max_jobs=5)
    with structlog.testing.capture_logs() as logs:
        await worker.run(burst=True)
    [report] = [e for e in logs if e["event"] == "worker started"]
    assert report["tiers"] == {"critical": 2, "low": 16}
    assert report["worker"] == worker.consumer
    assert report["uvloop"] is False
    assert report["max_jobs"] == 5
    assert report["url"] == redact(app.url)


async def test_startup_report_hides_the_password(redis_url: str, namespace: str) -> None:
    """Redis's default user has no password, so it accepts any: the URL carries one."""
    url = redis_url.replace("redis://", "redis://default:hunter2@", 1)
    app = App(url, namespace=namespace)
    try:
        with structlog.testing.capture_logs() as logs:
            await app.worker().run(burst=True)
    finally:
        await app.aclose()
        await delete_namespace(redis_url, namespace)
    [report] = [e for e in logs if e["event"] == "worker started"]
    assert "hunter2" not in report["url"] and "default:***@" in report["url"]


async def test_an_unreachable_redis_is_one_plain_error_not_a_group() -> None:
    app = App("redis://127.0.0.1:1/0")
    with structlog.testing.capture_logs() as logs, pytest.raises(
            StreamqError, match=re.escape("cannot reach Redis at redis://127.0.0.1:1/0")):
        await app.worker().run(burst=True)
    assert not [e for e in logs if e["event"] == "worker started"]
    await app.aclose()


def test_startup_report_says_when_uvloop_runs_the_worker() -> None:
    uvloop = pytest.importorskip("uvloop")

    async def main() -> list[Any]:
        app = App("memory://")
        with structlog.testing.capture_logs() as logs:
            await app.worker().run(burst=True)
        await app.aclose()
        return logs

    logs = uvloop.run(main())
    assert [e["uvloop"] for e in logs if e["event"] == "worker started"] == [True]


async def test_a_startup_hook_that_fills_max_memory_stops_the_worker_before_a_job(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A startup hook loads something big (a model): the worker would recycle before its
    first job, and a supervisor start another at once. Refused after the hooks too (the
    check before connecting cannot see it); the shutdown hooks still run."""
    loaded: list[bool] = []
    closed: list[bool] = []
    monkeypatch.setattr(recycle, "rss_bytes", lambda: (200 if loaded else 100) * 2**20)

    @app.on_startup
    async def load_model() -> None:
        loaded.append(True)

    @app.on_shutdown
    async def unload() -> None:
        closed.append(True)

    worker = app.worker(max_memory=150 * 2**20)
    with pytest.raises(ConfigurationError, match="recycle at once"):
        await worker.run()
    assert closed == [True]
