"""`streamq worker --processes N` as real processes on the real Redis: a child killed with -9
is replaced, recycled children are replaced, SIGTERM stops every child gracefully (running
jobs finish) and the parent exits 0, a crash-looping child is restarted with back-off, a
usage error ends the supervisor with exit code 2, and under --burst a failed child is not
restarted: the supervisor ends with exit code 1."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import redis

from streamq import App
from streamq.worker.supervisor import _die_with_parent, child_command
from tests.conftest import delete_namespace
from tests.integration.supervised_app import app as supervised

pytestmark = [pytest.mark.slow, pytest.mark.realredis]

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.integration.supervised_app:app"


@pytest.fixture
async def app(redis_url: str, namespace: str) -> AsyncIterator[App]:
    """The supervised App, in-process (to enqueue and inspect), in the test's namespace."""
    application = supervised.using(redis_url)
    application.namespace = namespace
    yield application
    await application.aclose()
    await delete_namespace(redis_url, namespace)


class Parent:
    """A `streamq worker --processes N` parent process and its log."""

    def __init__(self, process: subprocess.Popen[bytes], log: Path) -> None:
        self.process, self.log = process, log

    def output(self) -> str:
        return self.log.read_text()

    def started_pids(self) -> list[int]:
        """Children the supervisor started, in order."""
        return [int(p) for p in re.findall(r"worker process started\s+pid=(\d+)", self.output())]

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while len(re.findall(pattern, self.output())) < count:
            if time.monotonic() > deadline:
                pytest.fail(f"no {count} x {pattern!r} within {timeout} s:\n{self.output()}")
            if self.process.poll() is not None and pattern != "supervisor stopped":
                pytest.fail(f"supervisor exited {self.process.returncode}:\n{self.output()}")
            time.sleep(0.05)


@pytest.fixture
def start(redis_url: str, namespace: str, tmp_path: Path) -> Iterator[Callable[..., Parent]]:
    parents: list[Parent] = []

    def run(*args: str, env: dict[str, str] | None = None) -> Parent:
        log = tmp_path / f"supervisor-{len(parents)}.log"
        full_env = {**os.environ, "STREAMQ_TEST_REDIS_URL": redis_url,
                    "STREAMQ_TEST_NAMESPACE": namespace, **(env or {})}
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "streamq", "worker", "--app", APP, "--url", redis_url,
                 "--namespace", namespace, *args],
                cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT)
        parents.append(Parent(process, log))
        return parents[-1]

    yield run
    for parent in parents:
        if parent.process.poll() is None:
            parent.process.kill()
            parent.process.wait(10)
    # Every worker of this test, including a replacement started too late to log its pid.
    deadline = time.monotonic() + 5
    while (pids := workers_of(namespace)) and time.monotonic() < deadline:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
    client = redis.Redis.from_url(redis_url)  # tests without the `app` fixture leave keys
    try:
        keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def workers_of(namespace: str) -> list[int]:
    """Pids of the live processes that are this test's workers."""
    return [int(entry.name) for entry in Path("/proc").iterdir()
            if entry.name.isdigit() and is_worker_of(int(entry.name), namespace)]


def is_worker_of(pid: int, namespace: str) -> bool:
    """Whether ``pid`` is still one of this test's worker processes. Pids are reused (pid_max
    is 32768 here), so a pid logged earlier may belong to an unrelated process by now."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"streamq" in cmdline and namespace.encode() in cmdline


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and " Z " not in Path(
        f"/proc/{pid}/stat").read_text()


async def test_killed_child_is_replaced_and_sigterm_stops_all_gracefully(
    app: App, start: Callable[..., Parent]
) -> None:
    parent = start("--processes", "2")
    parent.wait_for(r"worker started", 2)
    first, second = parent.started_pids()
    os.kill(first, signal.SIGKILL)
    parent.wait_for(r"worker started", 3)
    assert "worker process died" in parent.output()
    assert "killed by SIGKILL" in parent.output()
    [replacement] = parent.started_pids()[2:]
    assert alive(replacement) and alive(second) and not alive(first)

    # Jobs still run, on the surviving and the new child; one is running at SIGTERM.
    quick = await app.enqueue("pid", 0)
    assert await quick.result(timeout=10) in {second, replacement}
    slow = await app.enqueue("pid", 1.5)
    await _until_active(app, slow.id)
    parent.process.send_signal(signal.SIGTERM)
    assert parent.process.wait(20) == 0, parent.output()
    assert await slow.result(timeout=1) in {second, replacement}  # finished, not handed back
    assert not alive(second) and not alive(replacement)
    assert parent.output().count("worker stopped") == 2
    assert "supervisor stopped             exit_code=0" in parent.output()


async def test_recycled_children_are_replaced(app: App, start: Callable[..., Parent]) -> None:
    """--processes 1 --max-jobs 1: each job runs in a new process."""
    parent = start("--processes", "1", "--max-jobs", "1", "--concurrency", "1")
    parent.wait_for(r"worker started")
    jobs = [await app.enqueue("pid", 0) for _ in range(3)]
    pids = [await job.result(timeout=20) for job in jobs]
    assert len(set(pids)) == 3
    parent.wait_for(r"worker process recycled", 3)
    assert "worker process died" not in parent.output()
    parent.process.send_signal(signal.SIGTERM)
    assert parent.process.wait(20) == 0, parent.output()


def test_crash_loop_backs_off(start: Callable[..., Parent]) -> None:
    """A child whose startup hook fails exits 1 at once: the first is replaced at once, the
    next only after a back-off (1 s, then 2 s, ...), and the reason is in the log."""
    parent = start("--processes", "1", env={"STREAMQ_TEST_FAIL_STARTUP": "1"})
    parent.wait_for(r"worker process died", 2, timeout=30)
    time.sleep(0.7)
    output = parent.output()
    assert "on_startup hook tests.integration.supervised_app.broken failed" in output
    assert [float(d) for d in re.findall(r"restart_in_s=([\d.]+)", output)] == [0.0, 1.0]
    assert len(parent.started_pids()) == 2  # the third start waits for its back-off
    parent.process.send_signal(signal.SIGTERM)
    assert parent.process.wait(10) == 0, output


def test_a_usage_error_in_the_children_ends_the_supervisor(
    redis_url: str, namespace: str, start: Callable[..., Parent]
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "streamq", "worker", "--app", "tests.nowhere:app", "--url",
         redis_url, "--namespace", namespace, "--processes", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "cannot load the App 'tests.nowhere:app'" in done.stderr
    assert "not restarting" in done.stdout
    assert "Traceback" not in done.stderr


def test_burst_children_are_not_replaced(start: Callable[..., Parent]) -> None:
    """--burst: each child exits 0 when nothing is left, and so does the supervisor."""
    parent = start("--processes", "2", "--burst")
    assert parent.process.wait(30) == 0, parent.output()
    assert parent.output().count("worker process finished (burst)") == 2
    assert len(parent.started_pids()) == 2


def test_failed_burst_children_end_the_supervisor_with_an_error(
    start: Callable[..., Parent]
) -> None:
    """--burst, Redis unreachable: each child exits 1, is not restarted, and the supervisor
    exits 1 naming each failed child, instead of restarting them forever."""
    parent = start("--processes", "2", "--burst", "--url", "redis://127.0.0.1:1/0")
    try:
        code = parent.process.wait(10)
    except subprocess.TimeoutExpired:
        pytest.fail(f"supervisor still running after 10 s:\n{parent.output()}")
    output = parent.output()
    assert code == 1, output
    for slot in (0, 1):
        assert re.search(rf"worker process failed \(burst\); not restarting .*exit='?exit code 1"
                         rf".*slot={slot}", output), output
    assert len(parent.started_pids()) == 2
    assert "worker process died" not in output
    assert re.search(r"supervisor stopped\s+exit_code=1", output), output


def test_a_child_whose_supervisor_died_before_it_started_exits() -> None:
    """The parent-death signal is set in the child after the fork: a supervisor that died
    in between left the child running on, an orphan. It now exits before it runs."""
    orphan = subprocess.Popen([sys.executable, "-c", "print('ran')"], stdout=subprocess.PIPE,
                              preexec_fn=functools.partial(_die_with_parent, os.getpid() + 1))
    out, _ = orphan.communicate(timeout=30)
    assert (orphan.returncode, out) == (1, b"")
    child = subprocess.Popen([sys.executable, "-c", "print('ran')"], stdout=subprocess.PIPE,
                             preexec_fn=functools.partial(_die_with_parent, os.getpid()))
    out, _ = child.communicate(timeout=30)
    assert (child.returncode, out) == (0, b"ran\n")


def test_child_command_drops_processes_only() -> None:
    python = [sys.executable, "-m", "streamq"]
    assert child_command(["worker", "--processes", "4", "--app", "a:b"]) == [
        *python, "worker", "--app", "a:b"]
    assert child_command(["worker", "--processes=4", "--tier", "high", "--max-jobs", "9"]) == [
        *python, "worker", "--tier", "high", "--max-jobs", "9"]
    assert child_command(["worker", "--proc", "2", "--burst"]) == [*python, "worker", "--burst"]
    # argparse takes any unique prefix: `--p 2` reached every child, which supervised too
    assert child_command(["worker", "--p", "2", "--burst"]) == [*python, "worker", "--burst"]
    assert child_command(["worker", "--p=2"]) == [*python, "worker"]
    assert child_command(["worker", "--", "--tier"]) == [*python, "worker", "--", "--tier"]


async def _until_active(app: App, job_id: str) -> None:
    deadline = time.monotonic() + 10
    while (info := await app.queue().get_job(job_id)) is None or info.state.value != "active":
        assert time.monotonic() < deadline, "job never started"
        time.sleep(0.02)  # noqa: ASYNC251 - a short poll in a test
