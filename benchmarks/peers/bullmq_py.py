"""BullMQ for Python (PyPI ``bullmq``): the same Lua scripts as BullMQ on Node."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from typing import Any

from bullmq import Queue, Worker
from harness.jobmark import mark

from peers.base import Adapter, Payload

URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6390/0")
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "10"))


async def process(job: Any, token: str) -> None:
    """The job."""
    mark(job.data)


class BullmqPyAdapter(Adapter):
    """bullmq's Queue as the producer; a Worker object in its own process."""

    NAME = "bullmq-py"
    PACKAGES = ("bullmq", "redis", "hiredis")
    BULK_API = "Queue.addBulk (one MULTI pipeline of addStandardJob EVALSHA)"
    CONCURRENCY_NOTE = "Worker(opts={'concurrency': N})"
    NOTES = ("enqueue: 1 EVALSHA addStandardJob. The worker: moveToActive then "
             "moveToFinished per job (no fetch-next like Node). Completed job hashes kept.")

    async def open(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self._queue = Queue("peerbench", {"connection": redis_url})

    async def close(self) -> None:
        await self._queue.close()

    async def enqueue(self, payload: Payload) -> Any:
        return await self._queue.add("noop", payload)

    async def enqueue_bulk(self, payloads: list[Payload]) -> Any:
        return await self._queue.addBulk([{"name": "noop", "data": p} for p in payloads])

    def worker_argv(self, concurrency: int) -> list[str]:
        return [sys.executable, "-m", "peers.bullmq_py"]


ADAPTER = BullmqPyAdapter()


async def _run_worker() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    worker = Worker("peerbench", process, {"connection": URL, "concurrency": CONCURRENCY})
    await stop.wait()
    await worker.close()


if __name__ == "__main__":
    # The port has no CLI; this is its documented way to run a worker.
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_run_worker())
