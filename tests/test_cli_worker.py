"""`streamq worker`'s runtime flags: parsing (--max-jobs, --max-lifetime, --max-memory,
--processes) with clear errors, recycling through the command, and an idle worker process
that does not spin (real Redis, subprocesses)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from streamq import App
from streamq.cli import build_parser, cmd_worker, main
from streamq.cli_units import parse_bytes, parse_duration, positive_int
from tests.conftest import delete_namespace

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("text", "seconds"), [
    ("3600", 3600), ("90s", 90), ("30m", 1800), ("4h", 14400), ("1d", 86400),
    ("1h30m", 5400), ("1.5h", 5400), ("2H", 7200), (" 45 s ", 45), ("0.5", 0.5),
])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(("text", "size"), [
    ("536870912", 536870912), ("512MB", 512 * 10**6), ("512MiB", 512 * 2**20),
    ("2GiB", 2 * 2**30), ("2gb", 2 * 10**9), ("1.5G", 1_500_000_000), ("64k", 64_000),
    ("100 B", 100),
])
def test_sizes(text: str, size: int) -> None:
    assert parse_bytes(text) == size


@pytest.mark.parametrize(("parser", "text", "message"), [
    (parse_duration, "soon", "invalid duration 'soon': use seconds (3600) or a number with "
                             "a unit: 90s, 30m, 4h, 1d, 1h30m"),
    (parse_duration, "4 hours", "invalid duration '4 hours'"),
    (parse_duration, "0", "invalid duration '0': must be more than 0"),
    (parse_duration, "-5m", "invalid duration '-5m'"),
    (parse_duration, "inf", "invalid duration 'inf': must be more than 0"),
    (parse_bytes, "lots", "invalid size 'lots': use bytes (536870912) or a number with a "
                          "unit: 512MB, 512MiB, 2GB, 2GiB (MB = 10^6 bytes, MiB = 2^20)"),
    (parse_bytes, "512XB", "invalid size '512XB'"),
    (parse_bytes, "0MB", "invalid size '0MB': must be at least 1 byte"),
    (positive_int, "0", "expected a whole number >= 1, got '0'"),
    (positive_int, "two", "expected a whole number >= 1, got 'two'"),
])
def test_bad_values_say_what_is_accepted(parser: object, text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as err:
        parser(text)  # type: ignore[operator]
    assert str(err.value).startswith(message)


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--max-jobs", "0", "argument --max-jobs: expected a whole number >= 1, got '0'"),
    ("--max-lifetime", "forever", "argument --max-lifetime: invalid duration 'forever'"),
    ("--max-memory", "lots", "argument --max-memory: invalid size 'lots'"),
    ("--processes", "-2", "argument --processes: expected a whole number >= 1, got '-2'"),
])
def test_bad_flags_end_with_one_clear_error_and_exit_2(
    flag: str, value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["worker", "--app", "tests.cli_app:app", f"{flag}={value}"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("streamq worker: error: argument")


def test_flags_reach_the_worker() -> None:
    args = build_parser().parse_args(["worker", "--app", "a:b", "--max-jobs", "500",
                                      "--max-lifetime", "4h", "--max-memory", "512MiB",
                                      "--processes", "3"])
    assert (args.max_jobs, args.max_lifetime, args.max_memory, args.processes) == (
        500, 14400.0, 512 * 2**20, 3)


def test_the_worker_only_parser_reads_a_worker_command_line_as_the_full_one() -> None:
    """``main`` builds the parser of ``worker`` alone when the command line starts with it."""
    argv = ["worker", "--app", "a:b", "--tier", "high", "--tier", "low", "--concurrency", "7",
            "--burst", "--max-memory", "2GiB", "--url", "redis://h/1", "--json"]
    full = vars(build_parser().parse_args(argv))
    assert vars(build_parser(worker_only=True).parse_args(argv)) == full
    assert full["run"] is cmd_worker


def test_processes_needs_an_app(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["worker", "--processes", "2"]) == 2
    assert "streamq worker needs --app" in capsys.readouterr().err


# ----------------------------------------------------------------------------- processes


@pytest.fixture
async def ns(redis_url: str, namespace: str) -> AsyncIterator[str]:
    yield namespace
    await delete_namespace(redis_url, namespace)


def worker_process(
    url: str, ns: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    env = {**os.environ, "STREAMQ_TEST_REDIS_URL": url, "STREAMQ_TEST_NAMESPACE": ns,
           **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "streamq", "worker", "--app", "tests.cli_app:app",
         "--url", url, "--namespace", ns, *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
async def test_max_jobs_recycles_the_process_with_exit_0(redis_url: str, ns: str) -> None:
    app = App(redis_url, namespace=ns)
    for n in range(3):
        await app.queue("high").enqueue("double", {"n": n})
    await app.aclose()
    process = worker_process(redis_url, ns, "--tier", "high", "--concurrency", "1",
                             "--max-jobs", "2")
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 0, out
    assert "max_jobs reached (2 jobs finished)" in out
    assert "processed=2" in out


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc/<pid>/stat")
def test_an_idle_worker_process_does_not_spin(redis_url: str, ns: str) -> None:
    """A worker on all four tiers, nothing to do, for ~5 s: well under 5 % of a CPU (a spin
    detector, not a benchmark; docs/operations.md has the measured figure)."""
    process = worker_process(redis_url, ns, "--tier", "critical", "--tier", "high",
                             "--tier", "standard", "--tier", "low")
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline()]
        while "worker started" not in lines[-1] and len(lines) < 3:  # server warnings first
            lines.append(process.stdout.readline())
        assert "worker started" in lines[-1], lines
        time.sleep(1.0)
        cpu0, t0 = cpu_seconds(process.pid), time.monotonic()
        time.sleep(5.0)
        share = (cpu_seconds(process.pid) - cpu0) / (time.monotonic() - t0)
    finally:
        process.terminate()
        process.communicate(timeout=15)
    print(f"idle worker (4 tiers): {share:.2%} of a CPU")
    assert share < 0.05
    assert process.returncode == 0
