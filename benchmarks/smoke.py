"""Smoke benchmark: enqueue (one await at a time, and bulk) and processing of no-op jobs in
one process, with Redis round trips and commands per job. Reports; asserts nothing.

    .venv/bin/python benchmarks/smoke.py [--url redis://127.0.0.1:6379/0] [--n 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import Any

import redis.asyncio as aioredis

from streamq import App, Job, Tier


async def command_stats(url: str) -> dict[str, int]:
    client = aioredis.Redis.from_url(url)
    try:
        stats: Any = await client.info("commandstats")
    finally:
        await client.aclose()
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


async def main(url: str, n: int, concurrency: int) -> None:
    namespace = f"bench{uuid.uuid4().hex[:8]}"
    app = App(url, namespace=namespace,
              tiers=[Tier("bench", concurrency=concurrency, keep_completed=1000,
                          max_waiting=0)])

    @app.processor("noop", tier="bench")
    async def noop(job: Job) -> None:
        return None

    queue = app.queue("bench")
    await app.connect()
    await queue.counts()

    start = time.perf_counter()
    for i in range(n // 4):
        await queue.enqueue("noop", {"i": i})
    sequential = (n // 4) / (time.perf_counter() - start)
    await queue.drain()

    before = await command_stats(url)
    start = time.perf_counter()
    for chunk in range(0, n, 1000):
        await queue.enqueue_many([("noop", {"i": i}) for i in range(chunk, min(n, chunk + 1000))])
    bulk = n / (time.perf_counter() - start)

    mid = await command_stats(url)
    worker = app.worker("bench")
    cpu0, start = time.process_time(), time.perf_counter()
    await worker.run(burst=True)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu0
    after = await command_stats(url)
    work = delta(mid, after)
    # On the hot path the worker sends only EVALSHA (claim, complete, fail, extend); every
    # other command in the stats ran inside those scripts.
    trips = work.get("evalsha", 0)
    print(f"streamq smoke benchmark: n={n}, concurrency={concurrency}, {url}")
    print(f"  enqueue, one await at a time : {sequential:10,.0f} jobs/s")
    print(f"  enqueue_many (1000 per call)  : {bulk:10,.0f} jobs/s "
          f"({delta(before, mid).get('evalsha', 0)} EVALSHA)")
    print(f"  processing (burst worker)     : {worker.processed / elapsed:10,.0f} jobs/s, "
          f"{cpu / worker.processed * 1e6:.0f} us worker CPU per job")
    print(f"  worker round trips per job    : {trips / worker.processed:.3f} "
          f"({trips} EVALSHA for {worker.processed} jobs)")
    print(f"  Redis commands per job        : {sum(work.values()) / worker.processed:.1f} "
          "(inside the scripts)")
    await queue.drain()
    await queue.clean("completed")
    await app.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    asyncio.run(main(args.url, args.n, args.concurrency))
