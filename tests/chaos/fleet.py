"""Worker processes, a producer and the end-state reader of a chaos run.

Workers are real ``streamq worker --app tests.chaos.chaos_app:app`` processes; the test
SIGKILLs them through their ``Popen`` handles only. The producer enqueues ``work`` jobs with
ids of its own, retrying an unacknowledged enqueue with the same id (which is safe: enqueue is
deduplicated by id) until it is acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from streamq import App, JobState
from streamq.broker.keys import GROUP
from streamq.errors import ConnectionError
from tests.chaos.chaos_app import TIER
from tests.chaos.ledger import Enqueues, RedisView

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.chaos.chaos_app:app"


def new_namespace() -> str:
    """A namespace of the run's own: processes of another run can never take its jobs."""
    return f"chaos{uuid.uuid4().hex[:10]}"


@dataclass(slots=True)
class Fleet:
    """The worker processes of one chaos run."""

    url: str
    namespace: str
    workdir: Path
    lease: float = 1.0
    concurrency: int = 8
    work_ms: str = "2,20"
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    kills: list[tuple[int, float]] = field(default_factory=list)
    """(pid, wall-clock time) of each SIGKILL."""
    restarts: int = 0
    _started: int = 0

    @property
    def ledger_dir(self) -> Path:
        """Where the processors write their ledger files."""
        path = self.workdir / "ledger"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def env(self) -> dict[str, str]:
        """The environment chaos_app reads."""
        return {**os.environ, "STREAMQ_CHAOS_URL": self.url,
                "STREAMQ_CHAOS_NAMESPACE": self.namespace,
                "STREAMQ_CHAOS_LEDGER": str(self.ledger_dir),
                "STREAMQ_CHAOS_LEASE": str(self.lease), "STREAMQ_CHAOS_WORK_MS": self.work_ms}

    def spawn(self, *extra: str) -> subprocess.Popen[bytes]:
        """Start one ``streamq worker`` process (``extra``: more CLI arguments)."""
        log = self.workdir / f"worker-{self._started:03d}.log"
        self._started += 1
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "streamq", "worker", "--app", APP, "--url", self.url,
                 "--concurrency", str(self.concurrency), *extra],
                cwd=ROOT, env=self.env(), stdout=out, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def start(self, count: int) -> None:
        """Start ``count`` workers and wait until each has said it started."""
        for _ in range(count):
            self.spawn()
        self.wait_for_log("worker started", count)

    def output(self) -> str:
        """Every worker's log so far."""
        return "\n".join(p.read_text(errors="replace")
                         for p in sorted(self.workdir.glob("worker-*.log")))

    def wait_for_log(self, text: str, count: int = 1, timeout: float = 30) -> None:
        """Wait until ``text`` appears ``count`` times in the workers' logs."""
        deadline = time.monotonic() + timeout
        while self.output().count(text) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{count} x {text!r} not logged within {timeout} s:\n"
                                     f"{self.output()[-4000:]}")
            time.sleep(0.05)

    def alive(self) -> list[subprocess.Popen[bytes]]:
        """Worker processes still running."""
        return [p for p in self.processes if p.poll() is None]

    def kill_one(self, rng: random.Random, replace: bool = True) -> None:
        """SIGKILL a random live worker and (by default) start a replacement at once."""
        victim = rng.choice(self.alive())
        victim.send_signal(signal.SIGKILL)
        self.kills.append((victim.pid, time.time()))
        victim.wait(10)
        if replace:
            self.spawn()
            self.restarts += 1

    def stop(self) -> None:
        """SIGTERM every worker twice (hand running jobs back at once); kill stragglers."""
        for _ in range(2):
            for process in self.alive():
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
            time.sleep(0.1)
        deadline = time.monotonic() + 10
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


@dataclass(slots=True)
class Producer:
    """Enqueues ``work`` jobs named ``<prefix><n>`` at a steady rate, in the test process."""

    app: App
    enqueues: Enqueues
    prefix: str = "j"
    rate: float = 200.0
    """Jobs per second."""
    retry_for: float = 30.0
    """Seconds an enqueue is retried (same id) before the run fails."""
    errors: int = 0
    """Enqueue calls that raised (each retried with the same id)."""

    async def run(self, count: int) -> None:
        """Enqueue ``count`` jobs, each until acknowledged."""
        began = time.monotonic()
        for n in range(count):
            await self.enqueue(f"{self.prefix}{n:06d}")
            ahead = began + (n + 1) / self.rate - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)

    async def enqueue(self, job_id: str) -> None:
        """One job, retried with the same id until enqueue returns."""
        self.enqueues.trying(job_id)
        deadline = time.monotonic() + self.retry_for
        while True:
            sent_at = time.time()
            try:
                await self.app.queue(TIER).enqueue("work", None, job_id=job_id)
            except ConnectionError:
                self.errors += 1
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)
                continue
            self.enqueues.acknowledged(job_id, sent_at)
            return


async def settle(app: App, timeout: float, quiet: float) -> RedisView:
    """Wait until nothing is waiting, running or delayed; or until nothing has finished for
    ``quiet`` seconds (stranded jobs: the check reports them); at most ``timeout`` s. Then
    read the end state (:func:`redis_view`)."""
    queue = app.queue(TIER)
    deadline = time.monotonic() + timeout
    last, changed = -1, time.monotonic()
    while time.monotonic() < deadline:
        with contextlib.suppress(ConnectionError):
            counts = await queue.counts()
            if counts["waiting"] + counts["active"] + counts["delayed"] == 0:
                break
            done = counts["completed"] + counts["failed"]
            if done != last:
                last, changed = done, time.monotonic()
            elif time.monotonic() - changed > quiet:
                break
        await asyncio.sleep(0.1)
    return await redis_view(app)


async def redis_view(app: App) -> RedisView:
    """The finished jobs and pending entries of the chaos tier, read at the end."""
    queue = app.queue(TIER)
    completed = frozenset(j.id for j in await queue.jobs(JobState.COMPLETED, limit=10_000_000))
    dead = frozenset(j.id for j in await queue.dead_letters(limit=10_000_000))
    backend = await app.backend()
    pending = 0
    for stream in queue.keys.ready:
        summary = await backend.client.xpending(stream, GROUP)
        pending += int(summary["pending"])
    counts = await queue.counts()
    return RedisView(completed, dead, pending,
                     counts["waiting"] + counts["active"] + counts["delayed"])
