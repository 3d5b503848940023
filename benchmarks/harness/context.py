"""What every scenario needs: the options, the bench Redis, and a way to start workers."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from peers.base import Adapter

from harness.options import Options
from harness.procs import BENCH_DIR, WorkerProcess
from harness.redisinfo import RedisProbe

RESULTS_DIR = os.path.join(BENCH_DIR, "results")
TMP_DIR = os.path.join(RESULTS_DIR, "tmp")
LOG_DIR = os.path.join(TMP_DIR, "logs")


@dataclass
class Context:
    """The options and the bench Redis of one peer's measurements."""

    options: Options
    probe: RedisProbe

    @property
    def url(self) -> str:
        """The bench Redis URL."""
        return self.probe.url

    def spawn(self, adapter: Adapter, concurrency: int, n: int, label: str, *,
              argv: list[str] | None = None, url: str | None = None) -> WorkerProcess:
        """Start one worker of ``adapter`` that reports when ``n`` counted jobs started."""
        os.makedirs(LOG_DIR, exist_ok=True)
        env = {"BENCH_N": str(n), "BENCH_CONCURRENCY": str(concurrency),
               "BENCH_REDIS_URL": url or self.url, **adapter.worker_env(concurrency)}
        return WorkerProcess.spawn(argv or adapter.worker_argv(concurrency), env,
                                   tmp_dir=TMP_DIR, log_dir=LOG_DIR,
                                   label=f"{adapter.NAME}-{label}")

    async def drain_with_worker(self, adapter: Adapter, concurrency: int, n: int, label: str,
                                argv: list[str] | None = None) -> dict[str, Any]:
        """Start a worker on jobs already enqueued and time it until the ``n``-th starts:
        rate from spawn (interpreter start and imports included) and steady state
        (first to last job); worker CPU (its process group, from /proc: start-up included;
        and its own reading from first to last job) and Redis CPU (INFO cpu)."""
        redis_cpu0 = self.probe.cpu_seconds()
        worker = self.spawn(adapter, concurrency, n, label, argv=argv)
        try:
            done = await worker.wait_done(self.options.timeout)
            worker_cpu = worker.cpu_seconds()
            redis_cpu = self.probe.cpu_seconds() - redis_cpu0
        finally:
            worker.stop()
        wall = done["t_last"] - worker.spawned_at
        steady = done["t_last"] - done["t_first"]
        steady_cpu = (done["cpu_last"] - done["cpu_first"]
                      if done.get("cpu_first") is not None else None)
        return {"n": n, "concurrency": concurrency, "wall_s": wall, "rate": n / wall,
                "startup_s": done["t_first"] - worker.spawned_at, "steady_s": steady,
                "steady_rate": (n - 1) / steady if steady > 0 else None,
                "worker_cpu_util": worker_cpu / wall, "redis_cpu_util": redis_cpu / wall,
                "worker_cpu_us_per_job": worker_cpu / n * 1e6,
                "worker_steady_cpu_us_per_job": (None if steady_cpu is None or n < 2
                                                 else steady_cpu / (n - 1) * 1e6),
                "redis_cpu_us_per_job": redis_cpu / n * 1e6}
