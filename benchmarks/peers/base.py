"""The adapter contract: one small module per peer implements it.

A peer module ``peers/<name>.py`` exposes ``ADAPTER``, an instance of an :class:`Adapter`
subclass, and normally also holds the job function its worker process runs; that function
calls ``harness.jobmark.mark(payload)`` first thing.

Producer side (runs in the harness child, one asyncio loop): ``open(url)`` / ``close()``,
``enqueue(payload)`` one job per await, ``enqueue_bulk(payloads)`` when ``BULK_API`` says
there is a batch API. Worker side: ``worker_argv(concurrency)`` is how a user starts ONE
worker process, ``worker_env(concurrency)`` extra environment for it. The ``produce_*``
hooks are generic over enqueue/enqueue_bulk; an out-of-process peer (BullMQ on Node)
overrides them instead.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from importlib import metadata
from typing import Any

Payload = dict[str, Any]
PayloadFn = Callable[[int], Payload]
VENV_BIN = os.path.dirname(sys.executable)


def package_version(name: str) -> str:
    """The installed version of ``name``, or "not installed"."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def throughput_payload(i: int) -> Payload:
    """The payload of a no-op job."""
    return {"i": i}


class Adapter:
    """Base class of every peer adapter."""

    NAME = "base"
    PACKAGES: tuple[str, ...] = ()
    BULK_API: str | None = None
    CONCURRENCIES: tuple[int, ...] = (10, 100)
    CONCURRENCY_NOTE = ""
    NOTES = ""
    redis_url = ""

    async def open(self, redis_url: str) -> None:
        """Connect the producer."""
        self.redis_url = redis_url

    async def close(self) -> None:
        """Disconnect the producer."""

    async def enqueue(self, payload: Payload) -> Any:
        """Enqueue one no-op job."""
        raise NotImplementedError

    async def enqueue_bulk(self, payloads: list[Payload]) -> Any:
        """Enqueue many no-op jobs through the library's batch API."""
        raise NotImplementedError

    def worker_argv(self, concurrency: int) -> list[str]:
        """The command that starts one worker process."""
        raise NotImplementedError

    def worker_env(self, concurrency: int) -> dict[str, str]:
        """Extra environment for the worker process."""
        return {}

    def versions(self) -> dict[str, str]:
        """Package versions, for the report."""
        return {p: package_version(p) for p in self.PACKAGES}

    async def prepare(self) -> None:
        """Run after FLUSHDB, before filling or starting a worker (e.g. create groups)."""

    async def produce_sequential(self, n: int, payload: PayloadFn = throughput_payload,
                                 gap_s: float = 0.0) -> float:
        """Enqueue ``n`` jobs one await at a time; the seconds it took."""
        enqueue = self.enqueue
        start = time.perf_counter()
        for i in range(n):
            await enqueue(payload(i))
            if gap_s:
                await asyncio.sleep(gap_s)
        return time.perf_counter() - start

    async def produce_bulk(self, n: int, chunk: int,
                           payload: PayloadFn = throughput_payload) -> float:
        """Enqueue ``n`` jobs in batches of ``chunk``; the seconds it took."""
        start = time.perf_counter()
        for first in range(0, n, chunk):
            await self.enqueue_bulk([payload(i) for i in range(first, min(n, first + chunk))])
        return time.perf_counter() - start

    async def warm_up(self) -> None:
        """Enqueue one uncounted warm-up job."""
        await self.enqueue({"i": -1, "w": 1})

    async def fill(self, n: int, chunk: int, payload: PayloadFn = throughput_payload) -> None:
        """Pre-enqueue ``n`` jobs as fast as the library allows (bulk when it has it)."""
        if self.BULK_API:
            await self.produce_bulk(n, chunk, payload)
        else:
            await self.produce_sequential(n, payload)
