"""Application hooks on both backends: startup/shutdown around Worker.run, before/after each
attempt in order and in the job's context, failures (a failing before/after hook fails the
attempt; a failing startup hook stops the worker), and the soft-timeout hook at 80 %."""

from __future__ import annotations

import asyncio
import contextvars
import os
import signal
import time

import pytest
import structlog

from streamq import App, Backoff, ConfigurationError, Fail, Job, JobState, StreamqError
from streamq.errors import HookFailed
from streamq.hooks import JobOutcome

tenant: contextvars.ContextVar[str] = contextvars.ContextVar("tenant", default="-")


async def test_hooks_run_in_order_around_the_worker_and_each_job(app: App) -> None:
    """startup → (before1, before2, processor, after2, after1) per job → shutdown."""
    calls: list[str] = []

    @app.on_startup
    async def open_clients() -> None:
        calls.append("startup")

    @app.on_shutdown
    async def close_clients() -> None:
        calls.append("shutdown")

    @app.before_job
    async def before1(job: Job) -> None:
        calls.append(f"before1 {job.data}")

    @app.before_job
    async def before2(job: Job) -> None:
        calls.append(f"before2 {job.data}")

    @app.after_job
    async def after1(job: Job, outcome: JobOutcome) -> None:
        calls.append(f"after1 {job.data} {outcome.status} {outcome.result}")

    @app.after_job
    async def after2(job: Job, outcome: JobOutcome) -> None:
        calls.append(f"after2 {job.data}")

    @app.processor("p", tier="standard")
    async def p(job: Job) -> int:
        calls.append(f"run {job.data}")
        return int(job.data) * 10

    for n in (1, 2):
        await app.enqueue("p", n)
    await app.worker("standard", concurrency=1).run(burst=True)
    assert calls == ["startup",
                     "before1 1", "before2 1", "run 1", "after2 1", "after1 1 completed 10",
                     "before1 2", "before2 2", "run 2", "after2 2", "after1 2 completed 20",
                     "shutdown"]


async def test_context_bound_in_before_job_is_seen_by_the_job_and_kept_per_job(
    app: App,
) -> None:
    """Context variables (structlog's too) set in before_job reach the processor, the after
    hook and the job's log lines, and never leak into another job running at the same time."""
    seen: dict[str, tuple[str, str, str]] = {}
    started = asyncio.Event()

    @app.before_job
    async def bind(job: Job) -> None:
        tenant.set(job.data["tenant"])
        structlog.contextvars.bind_contextvars(tenant=job.data["tenant"])

    @app.after_job
    async def check(job: Job, outcome: JobOutcome) -> None:
        seen[job.data["tenant"]] = (*seen[job.data["tenant"]][:2], tenant.get())

    @app.processor("t")
    async def t(job: Job) -> None:
        started.set()
        await asyncio.sleep(0.05)  # both jobs are running at once here
        ctx = structlog.contextvars.get_contextvars()
        seen[job.data["tenant"]] = (tenant.get(), ctx.get("tenant"), "")

    await app.enqueue("t", {"tenant": "acme"})
    await app.enqueue("t", {"tenant": "globex"})
    await app.worker("standard", concurrency=2).run(burst=True)
    assert seen == {"acme": ("acme", "acme", "acme"), "globex": ("globex", "globex", "globex")}
    assert tenant.get() == "-"  # nothing leaked into the caller's context
    assert "tenant" not in structlog.contextvars.get_contextvars()


async def test_after_job_sees_failures_and_retries(app: App) -> None:
    """A retried attempt is "retrying" with its delay; the last one is "failed"."""
    outcomes: list[JobOutcome] = []

    @app.after_job
    async def record(job: Job, outcome: JobOutcome) -> None:
        outcomes.append(outcome)

    @app.processor("boom", attempts=2)
    async def boom(job: Job) -> None:
        raise RuntimeError(f"boom {job.attempt}")

    job = await app.enqueue("boom", backoff=None)
    await app.worker().run(burst=True)
    await app.queue().promote(job.id)
    await app.worker().run(burst=True)
    assert [(o.status, o.error) for o in outcomes] == [
        ("retrying", "RuntimeError: boom 1"), ("failed", "RuntimeError: boom 2")]
    assert outcomes[0].retry_in is not None and outcomes[0].retry_in > 0
    assert all(o.duration >= 0 for o in outcomes)


async def test_failing_before_job_fails_the_attempt_with_a_clear_error(app: App) -> None:
    """The processor does not run; the error names the hook; the job retries as usual."""
    ran: list[int] = []
    after: list[str] = []

    @app.before_job
    async def needs_tenant(job: Job) -> None:
        if job.attempt == 1:
            raise LookupError("no tenant")

    @app.after_job
    async def record(job: Job, outcome: JobOutcome) -> None:
        after.append(outcome.status)

    @app.processor("p", attempts=2)
    async def p(job: Job) -> str:
        ran.append(job.attempt)
        return "ok"

    job = await app.enqueue("p")
    await app.worker().run(burst=True)
    info = await app.queue().get_job(job.id)
    assert info is not None and info.state is JobState.DELAYED
    assert info.error == ("before_job hook tests.worker.test_worker_hooks."
                          "test_failing_before_job_fails_the_attempt_with_a_clear_error."
                          "<locals>.needs_tenant failed: LookupError: no tenant")
    assert "LookupError" in (info.traceback or "")
    assert ran == [] and after == []
    await app.queue().promote(job.id)
    await app.worker().run(burst=True)
    assert await job.result(timeout=1) == "ok"
    assert ran == [2] and after == ["completed"]


async def test_failing_after_job_fails_the_attempt_but_every_after_hook_runs(app: App) -> None:
    """An after hook that raises turns a completed attempt into a failed one (result
    discarded); the other after hooks still run."""
    calls: list[str] = []

    @app.after_job
    async def first(job: Job, outcome: JobOutcome) -> None:
        calls.append("first")

    @app.after_job
    async def broken(job: Job, outcome: JobOutcome) -> None:
        calls.append("broken")
        raise ValueError("cannot export span")

    @app.processor("p", attempts=1)
    async def p(job: Job) -> str:
        return "ok"

    job = await app.enqueue("p")
    await app.worker().run(burst=True)
    info = await app.queue().get_job(job.id)
    assert info is not None and info.state is JobState.FAILED
    assert "after_job hook" in (info.error or "") and "broken failed" in (info.error or "")
    assert "result is discarded" in (info.error or "")
    assert "ValueError: cannot export span" in (info.error or "")
    assert calls == ["broken", "first"]


async def test_after_hooks_run_later_see_the_outcome_a_failing_hook_made(app: App) -> None:
    """An after hook registered first (run last, the outermost) sees the attempt as it is
    recorded: retrying when an inner hook raised. It was told "completed" both times, and a
    hook counting outcomes counted one job completed twice."""
    seen: list[str] = []

    @app.after_job
    async def count(job: Job, outcome: JobOutcome) -> None:
        seen.append(outcome.status)

    @app.after_job
    async def flaky_export(job: Job, outcome: JobOutcome) -> None:
        if job.attempt == 1:
            raise ValueError("exporter down")

    @app.processor("p", attempts=2, backoff=Backoff.fixed(0))
    async def p(job: Job) -> str:
        return "ok"

    job = await app.enqueue("p")
    await app.worker().run(burst=True)
    assert await job.result(timeout=5) == "ok"
    assert seen == ["retrying", "completed"]


async def test_a_failing_after_hook_does_not_retry_a_job_that_failed_for_good(
    app: App,
) -> None:
    """The processor raised Fail (no retry): an after hook that raises as well used to turn
    the attempt into a retryable failure, and the job ran again. It stays failed, and its
    error keeps the processor's reason beside the hook's."""
    runs: list[int] = []

    @app.after_job
    async def broken(job: Job, outcome: JobOutcome) -> None:
        raise ValueError("cannot export span")

    @app.processor("p", attempts=3)
    async def p(job: Job) -> None:
        runs.append(job.attempt)
        raise Fail("bad address")

    job = await app.enqueue("p")
    await app.worker().run(burst=True)
    info = await app.queue().get_job(job.id)
    assert info is not None and info.state is JobState.FAILED
    assert runs == [1]
    assert "bad address" in (info.error or "") and "broken failed" in (info.error or "")


async def test_failing_startup_hook_stops_the_worker_before_any_job(app: App) -> None:
    """HookFailed names the hook; no job was claimed; shutdown hooks do not run."""
    calls: list[str] = []

    @app.on_startup
    async def connect_db() -> None:
        raise OSError("db unreachable")

    @app.on_shutdown
    async def close_db() -> None:
        calls.append("shutdown")

    @app.processor("p")
    async def p(job: Job) -> None:
        calls.append("ran")

    job = await app.enqueue("p")
    worker = app.worker()
    with pytest.raises(HookFailed, match=r"on_startup hook .*connect_db failed: OSError: "
                                         r"db unreachable; the worker did not start") as err:
        await worker.run()
    assert isinstance(err.value, StreamqError)
    assert calls == []
    assert await job.state() is JobState.WAITING
    await worker.stop()  # harmless after a failed start


async def test_a_second_signal_stops_a_startup_hook_that_swallows_the_cancel(
    app: App
) -> None:
    """A startup hook that catches the cancellation and returns: the worker still stops
    before any job, without its shutdown hooks (it used to go on: the scope's cancel was
    not "caught", so the worker took the hooks for finished)."""
    ran: list[str] = []

    @app.on_startup
    async def stubborn() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            ran.append("startup cancelled")

    @app.on_shutdown
    async def closing() -> None:
        ran.append("shutdown")

    await app.queue().enqueue("anything", {})
    worker = asyncio.create_task(app.worker().run())
    await asyncio.sleep(0.2)
    for _ in range(2):
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(0.1)
    await asyncio.wait_for(worker, 5)
    assert ran == ["startup cancelled"]
    assert (await app.queue().counts())["waiting"] == 1


async def test_failing_shutdown_hook_is_logged_and_the_others_still_run(app: App) -> None:
    calls: list[str] = []

    @app.on_shutdown
    async def broken() -> None:
        raise RuntimeError("close failed")

    @app.on_shutdown
    async def fine() -> None:
        calls.append("fine")

    with structlog.testing.capture_logs() as logs:
        await app.worker().run(burst=True)
    assert calls == ["fine"]
    [failure] = [e for e in logs if e["event"] == "on_shutdown hook failed"]
    assert failure["error"] == "RuntimeError: close failed" and "broken" in failure["hook"]


async def test_soft_timeout_hook_runs_at_80_percent_in_the_jobs_context(app: App) -> None:
    """timeout=0.5 s: the hook runs at ~0.4 s with the job and the timeout, sees context
    bound by before_job, and the job (which finishes in time) completes."""
    fired: list[tuple[str, float, float, str]] = []

    @app.before_job
    async def bind(job: Job) -> None:
        tenant.set("acme")

    @app.on_soft_timeout
    async def near(job: Job, timeout: float) -> None:
        fired.append((job.id, timeout, time.monotonic() - start, tenant.get()))

    @app.processor("slow", timeout=0.5)
    async def slow(job: Job) -> str:
        await asyncio.sleep(0.45)
        return "made it"

    job = await app.enqueue("slow")
    start = time.monotonic()
    with structlog.testing.capture_logs() as logs:
        await app.worker().run(burst=True)
    assert await job.result(timeout=1) == "made it"
    [(job_id, timeout, at, seen_tenant)] = fired
    assert (job_id, timeout, seen_tenant) == (job.id, 0.5, "acme")
    assert 0.35 <= at < 0.5
    assert any(e["event"] == "job near its timeout" and e["job_id"] == job.id for e in logs)


async def test_a_failing_soft_timeout_hook_does_not_touch_the_job(app: App) -> None:
    @app.on_soft_timeout
    async def broken(job: Job, timeout: float) -> None:
        raise RuntimeError("pager down")

    @app.processor("slow", timeout=0.2)
    async def slow(job: Job) -> str:
        await asyncio.sleep(0.19)
        return "ok"

    job = await app.enqueue("slow")
    with structlog.testing.capture_logs() as logs:
        await app.worker().run(burst=True)
    assert await job.result(timeout=1) == "ok"
    assert any(e["event"] == "on_soft_timeout hook failed" for e in logs)


def job_done_once_warned(app: App) -> asyncio.Event:
    """Register "slow" (timeout 0.5 s), which returns "ok" once ``warned`` is set: the
    soft-timeout hook sets it, at 0.4 s, so the job ends before its timeout, its hook
    still running."""
    warned = asyncio.Event()

    @app.processor("slow", timeout=0.5)
    async def slow(job: Job) -> str:
        await warned.wait()
        return "ok"

    return warned


async def test_the_worker_waits_for_a_running_soft_timeout_hook_before_on_shutdown(
    app: App,
) -> None:
    """The job finishes while its soft-timeout hook still runs: the worker stops only once
    the hook is done, so on_shutdown cannot close a client the hook is using."""
    calls: list[str] = []
    warned = job_done_once_warned(app)

    @app.on_soft_timeout
    async def page(job: Job, timeout: float) -> None:
        warned.set()
        await asyncio.sleep(0.3)
        calls.append("paged")

    @app.on_shutdown
    async def close_clients() -> None:
        calls.append("shutdown")

    job = await app.enqueue("slow")
    await app.worker().run(burst=True)
    assert await job.result(timeout=1) == "ok"
    assert calls == ["paged", "shutdown"]


async def test_a_soft_timeout_hook_still_running_long_after_stop_is_cancelled(
    app: App, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("streamq.worker.hooks.SOFT_TIMEOUT_HOOKS_WAIT_S", 0.2)
    calls: list[str] = []
    warned = job_done_once_warned(app)

    @app.on_soft_timeout
    async def stuck(job: Job, timeout: float) -> None:
        warned.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            calls.append("hook cancelled")
            raise

    @app.on_shutdown
    async def close_clients() -> None:
        calls.append("shutdown")

    await app.enqueue("slow")
    started = time.monotonic()
    with structlog.testing.capture_logs() as logs:
        await app.worker().run(burst=True)
    assert time.monotonic() - started < 5
    assert calls == ["hook cancelled", "shutdown"]
    [warning] = [e for e in logs if e["event"].startswith("on_soft_timeout hooks still")]
    assert warning["count"] == 1


def test_hooks_must_be_async_functions_with_the_right_arguments() -> None:
    app = App("memory://")

    def sync_hook() -> None:
        pass

    async def no_args() -> None:
        pass

    with pytest.raises(ConfigurationError, match=r"@app.on_startup takes an async function"):
        app.on_startup(sync_hook)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"before_job hook .* must take 1 argument"):
        app.before_job(no_args)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"`async def no_args\(job, outcome\)"):
        app.after_job(no_args)  # type: ignore[arg-type]
    assert app.hooks.startup == app.hooks.before_job == app.hooks.after_job == []


def test_hooks_travel_with_app_using() -> None:
    """The CLI runs `app.using(--url)`: the copy keeps the hooks."""
    app = App("memory://")

    @app.on_startup
    async def start() -> None:
        pass

    copy = app.using("memory://other")
    assert copy.hooks.startup == [start]
    copy.hooks.startup.clear()
    assert app.hooks.startup == [start]
