"""streamq.testing: what a user's own test suite uses to embed streamq."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from streamq import App, Job, JobState, RateLimit, Retry, Tier
from streamq.errors import ConfigurationError
from streamq.testing import embedded, run_until_idle
from streamq.testing.pytest_plugin import load_app
from tests.helpers import fan_out_processors

production = App("redis://127.0.0.1:1/0", tiers=[Tier("high", concurrency=3)])


@production.processor("flaky", tier="high", attempts=3)
async def flaky(job: Job) -> int:
    if job.attempt < 3:
        raise Retry(delay=3600)
    return job.attempt


async def test_embedded_copy_runs_the_apps_processors_without_its_redis() -> None:
    """The copy has the processors and tiers, but talks to a private memory:// server."""
    async with embedded(production) as app:
        assert app.url == "memory://"
        assert app.tiers["high"].concurrency == 3
        job = await app.enqueue("flaky", {})
        counts = await run_until_idle(app)
        assert await job.result() == 3
        assert counts["high"]["completed"] == 1


async def test_run_until_idle_without_delayed_leaves_retries_waiting() -> None:
    """include_delayed=False respects backoff: the retry stays delayed."""
    async with embedded(production) as app:
        job = await app.enqueue("flaky", {})
        counts = await run_until_idle(app, ["high"], include_delayed=False)
        assert counts["high"]["delayed"] == 1
        assert await job.state() is JobState.DELAYED


async def test_each_embedded_copy_is_private() -> None:
    """Two copies never see each other's jobs."""
    async with embedded(production) as first, embedded(production) as second:
        await first.queue("high").enqueue("flaky", {})
        assert (await second.queue("high").counts())["waiting"] == 0


async def test_run_until_idle_reports_endless_retries() -> None:
    """A processor that always retries is reported instead of hanging the suite."""
    async with embedded() as app:
        @app.processor("forever")
        async def forever(job: Job) -> None:
            raise Retry(delay=1)

        await app.enqueue("forever", {}, attempts=1000)
        with pytest.raises(RuntimeError, match="retrying forever"):
            await run_until_idle(app, ["standard"], max_rounds=3)


async def test_run_until_idle_runs_jobs_a_per_key_rate_limit_deferred() -> None:
    """Jobs a per-key rate limit defers are promoted like any delayed job and start on the
    token they took when deferred. They used to be deferred again in every round, until
    run_until_idle blamed a processor "retrying forever"; include_delayed=False leaves them
    delayed."""
    limited = App("memory://", tiers=[Tier("standard", rate_limit_per_key=RateLimit(1, 60))])
    async with embedded(limited) as app:
        @app.processor("call", rate_key=lambda data: "tenant")
        async def call(job: Job) -> None:
            return None

        await app.queue().enqueue_many([("call", n) for n in range(3)])
        counts = await run_until_idle(app, ["standard"], include_delayed=False)
        assert (counts["standard"]["completed"], counts["standard"]["delayed"]) == (1, 2)
        counts = await run_until_idle(app, ["standard"], max_rounds=3)
        assert counts["standard"]["completed"] == 3


async def test_streamq_app_fixture_is_a_fresh_embedded_app(streamq_app: App) -> None:
    """The plugin's fixture (no ini option here): a bare App on memory://."""
    assert streamq_app.url == "memory://"
    assert (await streamq_app.queue().counts())["waiting"] == 0


def test_load_app_errors_say_what_to_do() -> None:
    with pytest.raises(ConfigurationError, match="module:attribute"):
        load_app("no-colon")
    with pytest.raises(ConfigurationError, match=r"not a streamq\.App"):
        load_app("tests.test_testing:flaky")
    assert load_app("tests.test_testing:production") is production


async def test_run_until_idle_takes_one_tier_name() -> None:
    """``run_until_idle(app, "high")`` runs that one tier, as ``app.worker("high")`` takes
    one name: the string used to be read as the tiers "h", "i", "g", "h"."""
    async with embedded(production) as app:
        job = await app.enqueue("flaky", {})
        counts = await run_until_idle(app, "high")
        assert await job.result() == 3
        assert list(counts) == ["high"]
        assert counts["high"]["completed"] == 1


async def test_run_until_idle_runs_what_one_tiers_jobs_enqueue_into_another() -> None:
    """A high job enqueues into low 50 ms in: run_until_idle returned with it waiting."""
    async with embedded() as app:
        fan_out_processors(app)
        await app.enqueue("fan_out", {})
        counts = await asyncio.wait_for(run_until_idle(app), 20)
        assert (counts["low"]["waiting"], counts["low"]["completed"]) == (0, 1)


async def test_run_until_idle_leaves_signals_to_the_test_runner() -> None:
    """A SIGTERM during run_until_idle reaches the handler the process had: the worker
    used to take SIGTERM and SIGINT (a Ctrl-C only ended the call, and the test went on)
    and left the default handlers behind."""
    received: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    try:
        async with embedded() as app:
            @app.processor("signal_self")
            async def signal_self(job: Job) -> str:
                os.kill(os.getpid(), signal.SIGTERM)
                await asyncio.sleep(0.05)
                return "finished"

            job = await app.enqueue("signal_self", {})
            await run_until_idle(app)
            assert await job.result() == "finished"
            assert received == [signal.SIGTERM]
            handler = signal.getsignal(signal.SIGTERM)
            await app.worker().run(burst=True)
            assert signal.getsignal(signal.SIGTERM) is handler  # put back, not SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_bad_streamq_app_option_names_the_option(tmp_path: Path) -> None:
    (tmp_path / "test_uses_fixture.py").write_text(
        "async def test_it(streamq_app):\n    pass\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o",
         "asyncio_mode=auto", "-o", "streamq_app=myapp.jobz:app", str(tmp_path)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode != 0
    assert "the streamq_app option of pytest" in done.stdout, done.stdout
    assert "cannot load the App 'myapp.jobz:app'" in done.stdout
