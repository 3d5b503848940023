"""Real worker processes on the real Redis server: SIGKILL mid-job loses nothing (the job
is reclaimed after the lease and the dead worker can no longer touch it), and SIGTERM is
graceful (finish within the grace; a second signal hands running jobs back at once)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from streamq import App, JobState
from streamq.broker.keys import GROUP
from streamq.broker.records import Finished
from tests.conftest import delete_namespace
from tests.helpers import running
from tests.integration.worker_app import build_app

pytestmark = [pytest.mark.slow, pytest.mark.realredis]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def app(redis_url: str, namespace: str) -> AsyncIterator[App]:
    """The worker_app App, in-process, on the real server and the test's namespace."""
    application = build_app(redis_url, namespace)
    yield application
    await application.aclose()
    await delete_namespace(redis_url, namespace)


@pytest.fixture
def spawn(redis_url: str, namespace: str, tmp_path: Path) -> Iterator[Any]:
    """Start worker subprocesses (``python -m tests.integration.worker_app``); any still
    running at the end of the test are killed."""
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        env = {**os.environ, "STREAMQ_TEST_REDIS_URL": redis_url,
               "STREAMQ_TEST_NAMESPACE": namespace}
        log = (tmp_path / f"worker-{len(started)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.worker_app"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def worker_output(tmp_path: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(tmp_path.glob("worker-*.log")))


async def wait_for_fields(
    app: App, job_id: str, want: dict[str, str], timeout: float, tmp_path: Path
) -> dict[str, str]:
    """Poll the job hash until it has the ``want`` field values; returns the hash."""
    backend = await app.backend()
    key = app.queue().keys.job(job_id)
    deadline = time.monotonic() + timeout
    while True:
        fields: dict[str, str] = await backend.client.hgetall(key)
        if all(fields.get(k) == v for k, v in want.items()):
            return fields
        if time.monotonic() > deadline:
            pytest.fail(f"job never reached {want} (now {fields}); worker output:\n"
                        f"{worker_output(tmp_path)}")
        await asyncio.sleep(0.02)


async def wait_for_log(app: App, job_id: str, line: str, timeout: float, tmp_path: Path) -> None:
    """Poll the job's log until ``line`` is in it: the processor is running."""
    backend = await app.backend()
    key = app.queue().keys.logs(job_id)
    deadline = time.monotonic() + timeout
    while line not in await backend.client.lrange(key, 0, -1):
        if time.monotonic() > deadline:
            pytest.fail(f"log line {line!r} never appeared; worker output:\n"
                        f"{worker_output(tmp_path)}")
        await asyncio.sleep(0.02)


async def wait_exit(process: subprocess.Popen[bytes], timeout: float) -> int:
    """Wait for a subprocess to exit without blocking the event loop."""
    deadline = time.monotonic() + timeout
    while process.poll() is None:
        if time.monotonic() > deadline:
            pytest.fail(f"worker process {process.pid} still running after {timeout} s")
        await asyncio.sleep(0.02)
    return process.returncode


async def owner_of(app: App, prio: int, entry: str) -> str | None:
    """The consumer holding ``entry`` in its pending list, or None."""
    backend = await app.backend()
    found: Any = await backend.client.xpending_range(
        app.queue().keys.ready[prio], GROUP, entry, entry, 1)
    return str(found[0]["consumer"]) if found else None


async def test_killed_worker_job_is_reclaimed_and_dead_consumer_is_locked_out(
    app: App, spawn: Any, tmp_path: Path
) -> None:
    """A worker process SIGKILLed mid-job: after the 1 s lease another worker runs the job
    (attempt 2) and completes it; the dead worker's consumer can neither renew nor complete
    it, with its old entry or the new one, and trying changes nothing."""
    queue = app.queue()
    keys = queue.keys
    backend = await app.backend(keys)
    job = await app.enqueue("long", {"seconds": [60, 0.8]}, attempts=3)
    process = spawn()
    first = await wait_for_fields(app, job.id, {"state": "active"}, 20, tmp_path)
    dead, old_entry, prio = first["worker"], first["entry"], int(first["prio"])
    assert dead.split(":")[1] == str(process.pid)
    assert first["attempt"] == "1"
    assert await owner_of(app, prio, old_entry) == dead
    await wait_for_log(app, job.id, f"attempt 1 in pid {process.pid}", 10, tmp_path)

    process.send_signal(signal.SIGKILL)
    assert await wait_exit(process, 10) == -signal.SIGKILL
    assert await job.state() is JobState.ACTIVE  # nobody knows yet

    second = app.worker()
    async with running(second):
        now = await wait_for_fields(
            app, job.id, {"state": "active", "attempt": "2", "worker": second.consumer},
            10, tmp_path)
        new_entry = now["entry"]
        assert new_entry != old_entry
        assert await owner_of(app, prio, old_entry) is None
        assert await owner_of(app, prio, new_entry) == second.consumer

        for entry in (old_entry, new_entry):
            assert await backend.scripts.extend(keys, dead, [(prio, entry)]) == [False]
            assert await backend.scripts.complete(
                keys, dead, app.now_ms(), 100, [Finished(job.id, prio, entry, '"stolen"')]
            ) == [False]
        after = await backend.client.hgetall(keys.job(job.id))
        assert {k: after.get(k) for k in ("state", "attempt", "worker", "entry")} == {
            "state": "active", "attempt": "2", "worker": second.consumer, "entry": new_entry}
        assert "result" not in after
        assert await owner_of(app, prio, new_entry) == second.consumer

        result = await job.result(timeout=10)

    assert result == {"attempt": 2, "pid": os.getpid()}
    info = await job.info()
    assert info.state is JobState.COMPLETED
    assert info.attempt == 2
    assert info.logs == [f"attempt 1 in pid {process.pid}", f"attempt 2 in pid {os.getpid()}"]
    for entry in (old_entry, new_entry):
        assert await backend.scripts.extend(keys, dead, [(prio, entry)]) == [False]
        assert await backend.scripts.complete(
            keys, dead, app.now_ms(), 100, [Finished(job.id, prio, entry, '"stolen"')]
        ) == [False]
    assert await job.result(timeout=1) == result
    assert (await queue.counts())["completed"] == 1


async def test_a_job_started_early_that_kills_its_worker_has_used_an_attempt(
    app: App, spawn: Any, tmp_path: Path
) -> None:
    """An idle worker starts a job from its blocking read while its claim travels (the
    early start): the claim is on the wire before the job's first step, so a job that kills
    the process at once has still used an attempt, and a poison job cannot loop for ever."""
    process = spawn()
    warm = await app.enqueue("long", {"seconds": [0]})
    await warm.result(timeout=20)
    await asyncio.sleep(0.3)  # the worker is idle in its blocking read
    job = await app.enqueue("suicide", None, attempts=2)
    assert await wait_exit(process, 10) == -signal.SIGKILL
    fields = await wait_for_fields(app, job.id, {"state": "active"}, 5, tmp_path)
    assert fields["attempt"] == "1"
    assert fields["worker"].split(":")[1] == str(process.pid)


async def test_sigterm_lets_the_running_job_finish(
    app: App, spawn: Any, tmp_path: Path
) -> None:
    """SIGTERM stops a worker process gracefully: its running job completes, then it
    exits 0 and leaves the consumer group."""
    job = await app.enqueue("long", {"seconds": [0.8]})
    process = spawn()
    first = await wait_for_fields(app, job.id, {"state": "active"}, 20, tmp_path)
    process.send_signal(signal.SIGTERM)
    assert await wait_exit(process, 10) == 0, worker_output(tmp_path)
    assert await job.result(timeout=1) == {"attempt": 1, "pid": process.pid}
    backend = await app.backend()
    names = {c["name"] for c in await backend.client.xinfo_consumers(
        app.queue().keys.ready[int(first["prio"])], GROUP)}
    assert first["worker"] not in names


async def test_second_sigterm_hands_the_job_back_at_once(
    app: App, spawn: Any, tmp_path: Path
) -> None:
    """A second SIGTERM stops at once: the running job is handed back (waiting, attempt not
    counted) and a worker runs it straight away, without waiting for the lease."""
    job = await app.enqueue("long", {"seconds": [60]}, attempts=2)
    process = spawn()
    await wait_for_fields(app, job.id, {"state": "active"}, 20, tmp_path)
    process.send_signal(signal.SIGTERM)
    await asyncio.sleep(0.3)
    assert process.poll() is None  # still giving the job its grace period
    process.send_signal(signal.SIGTERM)
    assert await wait_exit(process, 5) == 0, worker_output(tmp_path)

    fields = await app.queue().get_job(job.id)
    assert fields is not None
    assert fields.state is JobState.WAITING
    assert fields.attempt == 0
    assert fields.worker is None

    app.processors.clear()  # run it here with a quick processor instead

    @app.processor("long")
    async def long(job: Any) -> int:
        return int(job.attempt)

    began = time.monotonic()
    await app.worker().run(burst=True)
    assert time.monotonic() - began < 0.9  # sooner than the 1 s lease
    assert await job.result(timeout=1) == 1
