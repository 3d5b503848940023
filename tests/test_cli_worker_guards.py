"""`streamq worker` as a real process: what keeps a bad command line or a hung hook from
running away. A supervised child never supervises, a memory limit the worker already
exceeds is refused, a second signal cancels a hook that hangs, and `--json` writes JSON
log lines."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from streamq import App
from streamq.cli import main
from streamq.errors import ConfigurationError
from streamq.worker.recycle import Limits, rss_bytes
from tests.test_cli_worker import ns, worker_process  # noqa: F401 - ns is a fixture

pytestmark = pytest.mark.slow


def finish(process: subprocess.Popen[str], timeout: float = 30) -> str:
    out, _ = process.communicate(timeout=timeout)
    return out


def test_a_supervised_child_never_supervises(redis_url: str, ns: str) -> None:  # noqa: F811
    """`--p 2` (an abbreviation argparse accepts) once reached every child, and each child
    started children of its own, without end. A child (STREAMQ_SUPERVISED=1 in its
    environment) now runs the worker, whatever its command line says."""
    process = worker_process(redis_url, ns, "--tier", "high", "--burst", "--processes", "2",
                             env={"STREAMQ_SUPERVISED": "1"})
    out = finish(process)
    assert process.returncode == 0, out
    assert "supervisor started" not in out
    assert "--processes ignored in a supervised worker" in out
    assert out.count("worker started") == 1


def test_the_cli_takes_the_supervised_flag_out_of_its_environment(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """Processes a job starts would inherit it, and a `streamq worker --processes N` among
    them would not supervise."""
    monkeypatch.setenv("STREAMQ_SUPERVISED", "1")
    with pytest.raises(SystemExit):
        main(["worker", "--help"])
    assert "STREAMQ_SUPERVISED" not in os.environ


def test_a_memory_limit_below_the_workers_size_is_refused(
    redis_url: str, ns: str  # noqa: F811
) -> None:
    """`--max-memory 512` (bytes, meant as MB) recycled the worker before its first job, and
    under --processes a new one at once, 32 processes in 8 s. Refused, exit 2, which also
    stops a supervisor."""
    process = worker_process(redis_url, ns, "--tier", "high", "--burst", "--max-memory", "1MB")
    out = finish(process)
    assert process.returncode == 2, out
    assert "max_memory is 1,000,000 bytes, but this worker already uses" in out
    assert "--max-memory 512MiB" in out
    assert "Traceback" not in out


def test_the_memory_check_passes_a_limit_above_the_process() -> None:
    Limits.of(None, None, rss_bytes() * 2).check_room()
    Limits.of(None, None, None).check_room()
    with pytest.raises(ConfigurationError, match="recycle at once"):
        Limits.of(None, None, rss_bytes() // 2).check_room()


def wait_for_line(process: subprocess.Popen[str], text: str, timeout: float = 20) -> None:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        seen.append(line)
        if text in line:
            return
    pytest.fail(f"no {text!r} within {timeout} s: {seen}")


@pytest.mark.parametrize("kind", ["startup", "shutdown"])
def test_a_second_signal_cancels_a_hook_that_hangs(
    redis_url: str, ns: str, kind: str  # noqa: F811
) -> None:
    """A hook that never returns (a connect without a timeout): the first SIGTERM leaves it
    to finish, as a graceful stop does; the second cancels it, and the worker exits 0.
    Before, the process outlived any number of signals: only SIGKILL ended it."""
    process = worker_process(redis_url, ns, "--tier", "high", "--burst",
                             env={"STREAMQ_TEST_HANG_IN": kind})
    try:
        wait_for_line(process, f"hanging in on_{kind}")
        process.send_signal(signal.SIGTERM)
        wait_for_line(process, "stopping gracefully")  # the first was handled: the hook runs on
        assert process.poll() is None
        process.send_signal(signal.SIGTERM)
        out = finish(process, timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, out
    assert "cancelling the on_startup or on_shutdown hooks still running" in out
    if kind == "startup":
        assert "stopped during start-up" in out


async def test_json_logs_one_object_a_line(redis_url: str, ns: str) -> None:  # noqa: F811
    """`streamq worker --json` was accepted and ignored: the lines stayed console text."""
    app = App(redis_url, namespace=ns)
    await app.queue("high").enqueue("double", {"n": 1})
    await app.aclose()
    process = worker_process(redis_url, ns, "--tier", "high", "--burst", "--json")
    out = finish(process)
    assert process.returncode == 0, out
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert "[info" not in out and "[warning" not in out, out  # no console-format line
    started = next(event for event in events if event["event"] == "worker started")
    assert started["level"] == "info"
    assert started["tiers"] == {"high": 2}
    assert started["timestamp"].endswith("Z")
    assert any(event["event"] == "worker stopped" and event["processed"] == 1
               for event in events)
