"""Scenarios run for streamq only: a realistic workload, and costs that must not grow with
the number of waiting, delayed or failed jobs."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import uvloop
from peers.streamq_peer import SCALE_TIER, TIER, StreamqAdapter

from harness import scenarios
from harness.context import Context
from harness.stats import percentile

Result = dict[str, Any]
FAR_FUTURE_S = 3600.0
SCALE_CONCURRENCY = 100
FAIL_CONCURRENCY = 100
BACKGROUND_CASES = ("none", "delayed", "failed")
SETTLE_S = 0.5
WARM_UP_ENQUEUES = 100


def scale_cases(ctx: Context) -> list[tuple[str, int, int]]:
    """(label, waiting, delayed) per case: each waiting size alone, then the slice with the
    delayed jobs beside it."""
    cases = [(f"{w:,} waiting", w, 0) for w in ctx.options.scale_waiting]
    delayed = ctx.options.scale_delayed
    waiting = ctx.options.scale_slice
    return [*cases, (f"{waiting:,} waiting + {delayed:,} delayed", waiting, delayed)]


async def enqueue_on_uvloop(ctx: Context, adapter: StreamqAdapter) -> Result:
    """The enqueue scenario with the producer on uvloop, as uvicorn runs an app when uvloop
    is installed (and as Node runs on libuv): on a loop of its own in a thread, while this
    process's asyncio loop waits for it."""
    result: Result = await asyncio.to_thread(uvloop.run, scenarios.enqueue(ctx, adapter))
    return result


async def workload(ctx: Context, adapter: StreamqAdapter, concurrency: int, rep: int) -> Result:
    """N jobs that each await asyncio.sleep of a uniform ``work_sleep_ms`` range."""
    n = ctx.options.n
    low, high = ctx.options.work_sleep_ms
    rng = random.Random(rep)
    sleeps = [rng.uniform(low, high) for _ in range(n)]
    ctx.probe.flush()
    adapter.use_tier(TIER)
    await adapter.open(ctx.url)
    try:
        await adapter.fill(n, ctx.options.chunk, lambda i: {"i": i, "s": sleeps[i]})
    finally:
        await adapter.close()
    result = await ctx.drain_with_worker(adapter, concurrency, n,
                                         f"workload-c{concurrency}-r{rep}")
    # what `concurrency` slots sleeping the mean time could do at most, with free CPU
    result["sleep_bound_rate"] = concurrency / (sum(sleeps) / n / 1000)
    return result


async def scale(ctx: Context, adapter: StreamqAdapter, case: tuple[str, int, int],
                rep: int) -> Result:
    """Process a slice of the waiting jobs while ``waiting`` (and ``delayed``) are present."""
    label, waiting, delayed = case
    n = min(ctx.options.scale_slice, waiting)
    ctx.probe.flush()
    adapter.use_tier(SCALE_TIER)
    await adapter.open(ctx.url)
    try:
        if delayed:
            await adapter.enqueue_delayed(delayed, ctx.options.chunk, FAR_FUTURE_S)
        await adapter.fill(waiting, ctx.options.chunk)
        counts = await adapter.counts()
    finally:
        await adapter.close()
    concurrency = (ctx.options.concurrency or (SCALE_CONCURRENCY,))[-1]
    result = await ctx.drain_with_worker(adapter, concurrency, n,
                                         f"scale-{waiting}-{delayed}-r{rep}")
    ctx.probe.flush()
    return {"case": label, "waiting": counts.get("waiting"), "delayed": counts.get("delayed"),
            **result}


async def enqueue_background(ctx: Context, adapter: StreamqAdapter, case: str,
                             rep: int) -> Result:
    """Per-call latency of one-at-a-time enqueues with nothing, ``background_n`` delayed, or
    ``background_n`` failed jobs in the tier."""
    n, background = ctx.options.background_enqueues, ctx.options.background_n
    ctx.probe.flush()
    adapter.use_tier(SCALE_TIER)
    await adapter.open(ctx.url)
    try:
        if case == "delayed":
            await adapter.enqueue_delayed(background, ctx.options.chunk, FAR_FUTURE_S)
        elif case == "failed":
            await adapter.enqueue_failing(background, ctx.options.chunk)
            worker = ctx.spawn(adapter, FAIL_CONCURRENCY, background, f"fail-fill-r{rep}",
                               argv=adapter.burst_worker_argv(FAIL_CONCURRENCY))
            try:
                await worker.wait_exit(ctx.options.timeout)
            finally:
                worker.stop()
        counts = await adapter.counts()
        await asyncio.sleep(SETTLE_S)
        for i in range(WARM_UP_ENQUEUES):  # the same start for every case: connection, script
            await adapter.enqueue({"i": -i})
        seconds: list[float] = []
        for i in range(n):
            start = time.perf_counter()
            await adapter.enqueue({"i": i})
            seconds.append(time.perf_counter() - start)
    finally:
        await adapter.close()
    ctx.probe.flush()
    us = [s * 1e6 for s in seconds]
    return {"case": case, "n": n, "delayed": counts.get("delayed"),
            "failed": counts.get("failed"), "rate": n / sum(seconds),
            "p50_us": percentile(us, 50), "p99_us": percentile(us, 99)}
