"""streamq (this project), through its public API only: App, Tier, app.processor,
Queue.enqueue / enqueue_many, and the ``streamq worker`` command operators use.

Runs from the project's own .venv. The worker imports this module through
``--app peers.streamq_peer:app``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import structlog
from harness.jobmark import mark

import streamq
from peers.base import VENV_BIN, Adapter, Payload

URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6390/0")
TIER = "peerbench"
"""The comparison tier: a new tier name, so every setting is the ``standard`` tier's."""
SCALE_TIER = "peerbench-scale"
"""For the streamq-only scenarios: room for 1,000,000 waiting and 100,000 failed jobs
(the defaults cap waiting at 100,000 and keep 1,000 failed); the cap is still checked."""
TIERS = [streamq.Tier(TIER),
         streamq.Tier(SCALE_TIER, max_waiting=10_000_000, keep_failed=200_000)]

app = streamq.App(URL, tiers=TIERS)


async def run(job: streamq.Job) -> None:
    """The job body: count the start, then await the payload's ``s`` ms, if any."""
    mark(job.data)
    sleep_ms = job.data.get("s") if isinstance(job.data, dict) else None
    if sleep_ms:
        await asyncio.sleep(sleep_ms / 1000)


async def fail(job: streamq.Job) -> None:
    """A job that fails at once, without retries (fills the failed set)."""
    raise streamq.Fail("benchmark: failed on purpose")


app.processor("noop", tier=TIER)(run)
app.processor("scale_noop", tier=SCALE_TIER)(run)
app.processor("fail", tier=SCALE_TIER)(fail)


class StreamqAdapter(Adapter):
    """streamq's producer side; ``tier`` picks the tier its calls and worker use."""

    NAME = "streamq"
    PACKAGES = ("streamq", "redis", "hiredis")
    BULK_API = "Queue.enqueue_many (one EVALSHA per batch)"
    CONCURRENCY_NOTE = "streamq worker --concurrency"
    NOTES = ("The project under test. Tier defaults (a new tier starts from `standard`: "
             "3 attempts, 30 s lease, keep 100 completed, max 100,000 waiting), JSON payloads.")

    def __init__(self) -> None:
        self.tier = TIER
        self.job_name = "noop"
        self._app: streamq.App | None = None
        self._queue: streamq.Queue | None = None

    def use_tier(self, tier: str) -> None:
        """Send jobs to ``tier`` (TIER or SCALE_TIER) and start workers for it."""
        self.tier = tier
        self.job_name = "noop" if tier == TIER else "scale_noop"

    @property
    def queue(self) -> streamq.Queue:
        """The producer's queue for the current tier."""
        assert self._app is not None, "open() first"
        return self._app.queue(self.tier)

    async def open(self, redis_url: str) -> None:
        # the producer's log: without the per-connect warning that this Redis has no
        # persistence (the bench server has none on purpose)
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
        self.redis_url = redis_url
        self._app = streamq.App(redis_url, tiers=TIERS)
        await self._app.connect()

    async def close(self) -> None:
        if self._app is not None:
            await self._app.aclose()

    async def enqueue(self, payload: Payload) -> Any:
        return await self.queue.enqueue(self.job_name, payload)

    async def enqueue_bulk(self, payloads: list[Payload]) -> Any:
        name = self.job_name
        return await self.queue.enqueue_many([(name, p) for p in payloads])

    async def enqueue_delayed(self, n: int, chunk: int, delay_s: float) -> None:
        """``n`` no-op jobs due in ``delay_s`` seconds, in batches of ``chunk``."""
        name = self.job_name
        for first in range(0, n, chunk):
            await self.queue.enqueue_many([(name, {"i": i}, {"delay": delay_s})
                                           for i in range(first, min(n, first + chunk))])

    async def enqueue_failing(self, n: int, chunk: int) -> None:
        """``n`` jobs that fail on their first attempt (SCALE_TIER)."""
        for first in range(0, n, chunk):
            await self.queue.enqueue_many([("fail", {"i": i})
                                           for i in range(first, min(n, first + chunk))])

    async def counts(self) -> dict[str, int]:
        """Jobs per state in the current tier."""
        return await self.queue.counts()

    def worker_argv(self, concurrency: int) -> list[str]:
        return [os.path.join(VENV_BIN, "streamq"), "worker", "--app", "peers.streamq_peer:app",
                "--tier", self.tier, "--concurrency", str(concurrency)]

    def burst_worker_argv(self, concurrency: int) -> list[str]:
        """A worker that exits once nothing is ready or running."""
        return [*self.worker_argv(concurrency), "--burst"]


ADAPTER = StreamqAdapter()
