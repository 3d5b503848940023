"""streaq (PyPI ``streaq``): Redis Streams and a Redis Functions library."""

from __future__ import annotations

import logging
import os
import sys
from contextlib import AsyncExitStack
from typing import Any

from harness.jobmark import mark
from streaq import Worker

from peers.base import Adapter, Payload

URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6390/0")
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "16"))

# Library defaults otherwise: pickle, prefetch = concurrency, results kept 5 min.
worker = Worker(redis_url=URL, concurrency=CONCURRENCY, queue_name="peerbench")


@worker.task()
async def noop(payload: Payload) -> None:
    """The job."""
    mark(payload)


async def _producer_stub(payload: Payload) -> None:
    """Registered under the same name on the producer's Worker object."""


class StreaqAdapter(Adapter):
    """A streaq Worker object as the producer (streaq's client is its Worker)."""

    NAME = "streaq"
    PACKAGES = ("streaq", "coredis")
    BULK_API = "Worker.enqueue_many (one pipeline of FCALL publish_task)"
    CONCURRENCY_NOTE = "Worker(concurrency=N)"
    NOTES = ("enqueue: FCALL publish_task (SET NX + XADD). The worker: FCALL read_streams "
             "per batch, then per job a pipeline {GET, INCR, SREM, FCALL refresh_timeout} "
             "and a MULTI {XACK, XDEL, PUBLISH, SET result, ...}. pickle; results kept 5 min.")

    async def open(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self._worker = Worker(redis_url=redis_url, queue_name="peerbench")
        self._task: Any = self._worker.task(name="noop")(_producer_stub)
        self._stack = AsyncExitStack()
        await self._stack.enter_async_context(self._worker)

    async def close(self) -> None:
        await self._stack.aclose()

    async def enqueue(self, payload: Payload) -> Any:
        return await self._task.enqueue(payload)

    async def enqueue_bulk(self, payloads: list[Payload]) -> Any:
        await self._worker.enqueue_many([self._task.enqueue(p) for p in payloads])

    def worker_argv(self, concurrency: int) -> list[str]:
        return [sys.executable, "-m", "peers.streaq_peer"]


ADAPTER = StreaqAdapter()

if __name__ == "__main__":
    # What `streaq run peers.streaq_peer:worker` does, minus its INFO logging.
    logging.basicConfig(level=logging.WARNING)
    from peers import streaq_peer

    streaq_peer.worker.run_sync()
