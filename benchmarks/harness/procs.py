"""One worker process per measurement: start it, wait for its files, measure its CPU, stop it.

A worker runs in its own session (process group), so its whole tree is measured and
stopped through the group of the child we started, never through a name or a guessed pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import IO, Any

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class WorkerProcess:
    """A started worker, the files it reports through, and when it was spawned."""

    proc: subprocess.Popen[bytes]
    spawned_at: float
    done_file: str
    ready_file: str
    log: IO[str]

    @classmethod
    def spawn(cls, argv: list[str], env: dict[str, str], *, tmp_dir: str, log_dir: str,
              label: str) -> WorkerProcess:
        """Start ``argv`` in ``benchmarks/`` with the BENCH_* variables of ``env``."""
        done = os.path.join(tmp_dir, f"{label}.done.json")
        ready = os.path.join(tmp_dir, f"{label}.ready")
        for path in (done, ready):
            if os.path.exists(path):
                os.remove(path)
        full_env = dict(os.environ)
        full_env.update(env)
        full_env.update(BENCH_DONE_FILE=done, BENCH_READY_FILE=ready,
                        PYTHONPATH=BENCH_DIR + os.pathsep + full_env.get("PYTHONPATH", ""))
        log = open(os.path.join(log_dir, f"{label}.log"), "w")  # noqa: SIM115 (closed in stop)
        spawned_at = time.time()
        proc = subprocess.Popen(argv, cwd=BENCH_DIR, env=full_env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        return cls(proc, spawned_at, done, ready, log)

    async def wait_done(self, timeout: float) -> dict[str, Any]:
        """The done file's content, once the worker has written it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = self._read_done()
            if result is not None:
                return result
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early with rc={self.proc.returncode} "
                                   f"(log: {self.log.name})")
            await asyncio.sleep(0.01)
        raise TimeoutError(f"no done file after {timeout:.0f} s (log: {self.log.name})")

    def _read_done(self) -> dict[str, Any] | None:
        if not os.path.exists(self.done_file):
            return None
        with open(self.done_file) as f:
            result: dict[str, Any] = json.load(f)
        return result

    async def wait_exit(self, timeout: float) -> int:
        """The exit code, once the worker has exited by itself (burst mode)."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"worker still running after {timeout:.0f} s")
            await asyncio.sleep(0.05)
        return int(self.proc.returncode)

    def is_ready(self) -> bool:
        """Whether the worker has run a warm-up job."""
        return os.path.exists(self.ready_file)

    def cpu_seconds(self) -> float:
        """User + system CPU of the worker's process group, including reaped children."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[2]) == self.proc.pid:  # pgrp: the group our child leads
                total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        return total / ticks

    def stop(self) -> None:
        """SIGTERM the group, SIGKILL it after 5 s, and close the log."""
        try:
            if self.proc.poll() is None:
                self._signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._signal(signal.SIGKILL)
                    self.proc.wait(timeout=10)
        finally:
            self.log.close()
            for path in (self.done_file, self.ready_file):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)  # the group of the child we started
