"""Smoke benchmark: enqueue (one await at a time, concurrently, and bulk), processing of
no-op jobs in one process, worker and Redis CPU and Redis round trips and commands per job,
and latency from enqueue to start on an idle worker. Reports; asserts nothing.

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


async def redis_cpu_seconds(url: str) -> float:
    """redis-server's CPU time so far (user + system), from INFO cpu."""
    client = aioredis.Redis.from_url(url)
    try:
        cpu: Any = await client.info("cpu")
    finally:
        await client.aclose()
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


async def latency(app: App, jobs: int, gap_s: float) -> list[float]:
    """Milliseconds from the enqueue call to the processor's start, on an idle worker."""
    started: dict[str, float] = {}
    all_started = asyncio.Event()

    @app.processor("stamp", tier="bench")
    async def stamp(job: Job) -> None:
        started[job.id] = time.perf_counter()
        if len(started) == jobs:
            all_started.set()

    queue = app.queue("bench")
    worker = app.worker("bench")
    task = asyncio.create_task(worker.run())
    await asyncio.sleep(0.5)
    sent: dict[str, float] = {}
    for _ in range(jobs):
        at = time.perf_counter()
        job = await queue.enqueue("stamp")
        sent[job.id] = at
        await asyncio.sleep(gap_s)
    await all_started.wait()
    await worker.stop()
    await task
    return sorted((started[i] - sent[i]) * 1000 for i in sent)


def percentile(sorted_values: list[float], p: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p))]


async def main(url: str, n: int, concurrency: int) -> None:
    namespace = f"bench{uuid.uuid4().hex[:8]}"
    app = App(url, namespace=namespace,
              tiers=[Tier("bench", concurrency=concurrency, keep_completed=1000,
                          max_waiting=0)])

    @app.processor("noop", tier="bench")
    async def noop(job: Job) -> None:
        return None

    queue = app.queue("bench")
    await app.backend(queue.keys)  # connected, scripts loaded, the queue prepared

    start = time.perf_counter()
    for i in range(n // 4):
        await queue.enqueue("noop", {"i": i})
    sequential = (n // 4) / (time.perf_counter() - start)
    await queue.drain()

    start = time.perf_counter()
    for chunk in range(0, n // 4, 1000):
        await asyncio.gather(*(queue.enqueue("noop", {"i": i})
                               for i in range(chunk, min(n // 4, chunk + 1000))))
    concurrent = (n // 4) / (time.perf_counter() - start)
    await queue.drain()

    before = await command_stats(url)
    start = time.perf_counter()
    for chunk in range(0, n, 1000):
        await queue.enqueue_many([("noop", {"i": i}) for i in range(chunk, min(n, chunk + 1000))])
    bulk = n / (time.perf_counter() - start)

    mid = await command_stats(url)
    worker = app.worker("bench")
    redis0 = await redis_cpu_seconds(url)
    cpu0, start = time.process_time(), time.perf_counter()
    await worker.run(burst=True)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu0
    redis_cpu = await redis_cpu_seconds(url) - redis0
    after = await command_stats(url)
    work = delta(mid, after)
    # On the hot path the worker sends only EVALSHA (claim, complete, fail, extend); every
    # other command in the stats ran inside those scripts.
    trips = work.get("evalsha", 0)
    print(f"streamq smoke benchmark: n={n}, concurrency={concurrency}, {url}")
    print(f"  enqueue, one await at a time : {sequential:10,.0f} jobs/s")
    print(f"  enqueue, 1000 concurrent calls: {concurrent:10,.0f} jobs/s (pipelined)")
    print(f"  enqueue_many (1000 per call)  : {bulk:10,.0f} jobs/s "
          f"({delta(before, mid).get('evalsha', 0)} EVALSHA)")
    print(f"  processing (burst worker)     : {worker.processed / elapsed:10,.0f} jobs/s, "
          f"{cpu / worker.processed * 1e6:.0f} us worker CPU per job, "
          f"{redis_cpu / worker.processed * 1e6:.0f} us Redis CPU per job")
    print(f"  worker round trips per job    : {trips / worker.processed:.3f} "
          f"({trips} EVALSHA for {worker.processed} jobs)")
    print(f"  Redis commands per job        : {sum(work.values()) / worker.processed:.1f} "
          "(inside the scripts)")
    waits = await latency(app, max(50, min(500, n // 40)), 0.005)
    print(f"  latency enqueue -> start, idle: p50 {percentile(waits, 0.5):.2f} ms, "
          f"p99 {percentile(waits, 0.99):.2f} ms ({len(waits)} jobs, 5 ms apart)")
    await app.aclose()
    await delete_keys(url, f"{namespace}:*")


async def delete_keys(url: str, pattern: str) -> None:
    """Leave nothing behind: the run's namespace is its own."""
    client = aioredis.Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=pattern, count=1000)]
        for start in range(0, len(keys), 1000):
            await client.delete(*keys[start:start + 1000])
    finally:
        await client.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    asyncio.run(main(args.url, args.n, args.concurrency))
