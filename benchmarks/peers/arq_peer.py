"""arq (PyPI ``arq``): a sorted-set queue and per-job keys, polled by the worker."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from harness.jobmark import mark

from peers.base import Adapter, Payload

URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6390/0")
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "10"))


async def noop(ctx: dict[str, Any], payload: Payload) -> None:
    """The job."""
    mark(payload)


class WorkerSettings:
    """Library defaults but max_jobs (poll_delay 0.5 s, keep_result 1 h)."""

    functions = [noop]
    redis_settings = RedisSettings.from_dsn(URL)
    max_jobs = CONCURRENCY


class ArqAdapter(Adapter):
    """arq's pool as the producer; ``arq.worker.run_worker`` as the worker."""

    NAME = "arq"
    PACKAGES = ("arq", "redis", "hiredis")
    CONCURRENCY_NOTE = "WorkerSettings.max_jobs"
    NOTES = ("enqueue: WATCH, EXISTS, MULTI{PSETEX job, ZADD queue}. The worker polls with "
             "ZRANGEBYSCORE every poll_delay (0.5 s default, no blocking read: the latency "
             "floor), then per job several MULTI blocks. pickle; result kept 1 h. No bulk API.")
    _pool: ArqRedis

    async def open(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self._pool = await create_pool(RedisSettings.from_dsn(redis_url))

    async def close(self) -> None:
        await self._pool.aclose()

    async def enqueue(self, payload: Payload) -> Any:
        return await self._pool.enqueue_job("noop", payload)

    def worker_argv(self, concurrency: int) -> list[str]:
        return [sys.executable, "-m", "peers.arq_peer"]


ADAPTER = ArqAdapter()

if __name__ == "__main__":
    # What `arq peers.arq_peer.WorkerSettings` does, minus its per-job INFO lines.
    logging.basicConfig(level=logging.WARNING)
    from arq.worker import run_worker

    from peers import arq_peer

    run_worker(arq_peer.WorkerSettings)  # type: ignore[arg-type]
