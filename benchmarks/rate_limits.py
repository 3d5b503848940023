"""Rate limits in running workers: how closely a tier's limit is kept, and how soon a quiet
tenant's jobs run behind a flooding one. Reports; asserts nothing.

    .venv/bin/python benchmarks/rate_limits.py [--url redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import Any

import redis.asyncio as aioredis

from streamq import App, Job, RateLimit, Tier


async def cleanup(url: str, namespace: str) -> None:
    if url.startswith("memory"):
        return
    client = aioredis.Redis.from_url(url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{namespace}:*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def tier_limit(url: str, n: int = 1000) -> None:
    """n jobs under RateLimit(200/s, burst 10), two workers of 16 slots."""
    namespace = "b" + uuid.uuid4().hex[:8]
    app = App(url, namespace=namespace,
              tiers=[Tier("standard", rate_limit=RateLimit(200, per=1, burst=10))])
    starts: list[float] = []
    all_started = asyncio.Event()

    @app.processor("noop")
    async def noop(job: Job) -> None:
        starts.append(time.monotonic())
        if len(starts) >= n:
            all_started.set()

    await app.queue().enqueue_many([("noop", {"i": i}) for i in range(n)])
    workers = [app.worker(concurrency=16), app.worker(concurrency=16)]
    began = time.monotonic()
    tasks = [asyncio.create_task(w.run()) for w in workers]
    await all_started.wait()
    elapsed = time.monotonic() - began
    for w in workers:
        await w.stop(5)
    await asyncio.gather(*tasks)
    busiest = max(sum(1 for s in starts if a <= s < a + 1.0) for a in starts)
    print(f"tier limit: {n} jobs in {elapsed:.2f} s (ideal {(n - 10) / 200:.2f} s); "
          f"most starts in any 1 s window: {busiest} (limit 200 + burst 10)")
    await app.aclose()
    await cleanup(url, namespace)


async def per_key(url: str, flood: int = 5000) -> None:
    """Tenant A enqueues `flood` jobs, then tenant B 10; 5 starts per second per tenant."""
    namespace = "b" + uuid.uuid4().hex[:8]
    app = App(url, namespace=namespace,
              tiers=[Tier("standard", rate_limit_per_key=RateLimit(5, per=1))])
    done: dict[str, int] = {"A": 0, "B": 0}
    b_finished = asyncio.Event()

    @app.processor("noop", rate_key=lambda data: data["tenant"])
    async def noop(job: Job) -> None:
        data: Any = job.data
        done[data["tenant"]] += 1
        if done["B"] >= 10:
            b_finished.set()

    await app.queue().enqueue_many([("noop", {"tenant": "A"}) for _ in range(flood)])
    await app.queue().enqueue_many([("noop", {"tenant": "B"}) for _ in range(10)])
    worker = app.worker(concurrency=16)
    began = time.monotonic()
    task = asyncio.create_task(worker.run())
    await b_finished.wait()
    elapsed = time.monotonic() - began
    await worker.stop(5)
    await task
    print(f"per key: B's 10 jobs behind A's {flood} ran within {elapsed:.2f} s (ideal 0.8 s); "
          f"A started {done['A']} meanwhile")
    await app.aclose()
    await cleanup(url, namespace)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    await tier_limit(args.url)
    await per_key(args.url)


if __name__ == "__main__":
    asyncio.run(main())
