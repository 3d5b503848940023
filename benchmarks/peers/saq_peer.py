"""SAQ (PyPI ``saq``): Redis lists (BLMOVE) and per-job string keys."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from harness.jobmark import mark
from saq import Queue

from peers.base import Adapter, Payload

URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6390/0")
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "10"))


async def noop(ctx: Any, *, payload: Payload) -> None:
    """The job."""
    mark(payload)


settings = {
    "queue": Queue.from_url(URL, name="peerbench"),
    "functions": [noop],
    "concurrency": CONCURRENCY,
}


class SaqAdapter(Adapter):
    """SAQ's Queue as the producer; ``saq.worker.start`` as the worker."""

    NAME = "saq"
    PACKAGES = ("saq", "redis", "hiredis")
    CONCURRENCY_NOTE = "settings['concurrency']"
    NOTES = ("enqueue: 1 EVALSHA. The worker (no batching): BLMOVE queued->active, GET job, "
             "SET job + PUBLISH, MULTI{LREM, ZREM, SETEX} + PUBLISH per job. JSON; finished "
             "job kept 600 s. No bulk API (Queue.map enqueues one by one).")
    _queue: Queue

    async def open(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self._queue = Queue.from_url(redis_url, name="peerbench")
        await self._queue.connect()

    async def close(self) -> None:
        await self._queue.disconnect()

    async def enqueue(self, payload: Payload) -> Any:
        return await self._queue.enqueue("noop", payload=payload)

    def worker_argv(self, concurrency: int) -> list[str]:
        return [sys.executable, "-m", "peers.saq_peer"]


ADAPTER = SaqAdapter()

if __name__ == "__main__":
    # What `saq peers.saq_peer.settings` does, minus its per-job INFO lines.
    logging.basicConfig(level=logging.WARNING)
    from saq.worker import start

    start("peers.saq_peer.settings")
