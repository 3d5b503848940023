"""The scenarios every peer runs. Each starts with FLUSHDB and returns one run's figures."""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from peers.base import Adapter

from harness.context import Context
from harness.proxy import CountingProxy, Counts
from harness.redisinfo import SCRIPT_COMMANDS, command_delta
from harness.stats import percentile

Result = dict[str, Any]
WARM_UP_S = 60.0
IDLE_S = 0.5


async def enqueue(ctx: Context, adapter: Adapter) -> Result:
    """N jobs, one awaited enqueue at a time, one producer."""
    n = ctx.options.n
    ctx.probe.flush()
    await adapter.open(ctx.url)
    try:
        await adapter.prepare()
        seconds = await adapter.produce_sequential(n)
    finally:
        await adapter.close()
    return {"n": n, "seconds": seconds, "rate": n / seconds}


async def bulk(ctx: Context, adapter: Adapter) -> Result | None:
    """N jobs through the library's batch API, ``chunk`` per call; None without one."""
    if not adapter.BULK_API:
        return None
    n, chunk = ctx.options.n, ctx.options.chunk
    ctx.probe.flush()
    await adapter.open(ctx.url)
    try:
        await adapter.prepare()
        seconds = await adapter.produce_bulk(n, chunk)
    finally:
        await adapter.close()
    return {"n": n, "chunk": chunk, "seconds": seconds, "rate": n / seconds}


async def process(ctx: Context, adapter: Adapter, concurrency: int, rep: int) -> Result:
    """N jobs pre-enqueued, then ONE worker process, timed until the N-th job starts."""
    n = ctx.options.n
    ctx.probe.flush()
    await adapter.open(ctx.url)
    try:
        await adapter.prepare()
        await adapter.fill(n, ctx.options.chunk)
    finally:
        await adapter.close()
    return await ctx.drain_with_worker(adapter, concurrency, n, f"process-c{concurrency}-r{rep}")


async def latency(ctx: Context, adapter: Adapter, concurrency: int, rep: int) -> Result:
    """An idle, warmed-up worker; jobs enqueued one at a time ``lat_gap_ms`` apart;
    enqueue timestamp -> job start."""
    n, gap = ctx.options.lat_n, ctx.options.lat_gap_ms / 1000
    ctx.probe.flush()
    await adapter.open(ctx.url)
    worker = None
    try:
        await adapter.prepare()
        worker = ctx.spawn(adapter, concurrency, n, f"latency-r{rep}")
        deadline = time.monotonic() + WARM_UP_S
        while not worker.is_ready():
            if time.monotonic() > deadline or worker.proc.poll() is not None:
                raise RuntimeError(f"worker never ran a warm-up job (log: {worker.log.name})")
            await adapter.warm_up()
            for _ in range(20):
                if worker.is_ready():
                    break
                await asyncio.sleep(0.025)
        await asyncio.sleep(IDLE_S)
        await adapter.produce_sequential(n, lambda i: {"i": i, "t": time.time()}, gap_s=gap)
        done = await worker.wait_done(60)
    finally:
        if worker is not None:
            worker.stop()
        await adapter.close()
    ms = [x * 1000 for x in done["lat"]]
    return {"n": len(ms), "concurrency": concurrency, "p50_ms": percentile(ms, 50),
            "p95_ms": percentile(ms, 95), "p99_ms": percentile(ms, 99), "max_ms": max(ms),
            "mean_ms": statistics.fmean(ms)}


async def memory(ctx: Context, adapter: Adapter) -> Result:
    """``used_memory`` delta / ``mem_n`` waiting jobs."""
    n = ctx.options.mem_n
    ctx.probe.flush()
    await adapter.open(ctx.url)
    try:
        await adapter.prepare()
        before = ctx.probe.used_memory()
        await adapter.fill(n, ctx.options.chunk)
    finally:
        await adapter.close()
    after = ctx.probe.used_memory()
    return {"n": n, "bytes_per_job": (after - before) / n, "dbsize": ctx.probe.dbsize(),
            "via": "bulk" if adapter.BULK_API else "one enqueue at a time"}


async def ops(ctx: Context, adapter: Adapter) -> Result:
    """Per job, for ``ops_n`` sequential enqueues and for one worker draining them: Redis
    commands (INFO commandstats: including inside Lua), commands the client sent, and
    round trips (request bursts), the last two through a counting proxy."""
    n = ctx.options.ops_n
    concurrency = (ctx.options.concurrency or adapter.CONCURRENCIES)[0]
    proxy = CountingProxy(ctx.probe.port)
    await proxy.start()
    via = f"redis://127.0.0.1:{proxy.port}/0"
    try:
        ctx.probe.flush()
        await adapter.open(via)
        try:
            await adapter.prepare()
            calls0, sent0 = ctx.probe.command_calls(), proxy.counts.snapshot()
            await adapter.produce_sequential(n)
            enq = _per_job(command_delta(calls0, ctx.probe.command_calls()),
                           proxy.counts.minus(sent0), n)
        finally:
            await adapter.close()
        calls0, sent0 = ctx.probe.command_calls(), proxy.counts.snapshot()
        worker = ctx.spawn(adapter, concurrency, n, "ops", url=via)
        try:
            await worker.wait_done(ctx.options.timeout)
            await asyncio.sleep(1.0)  # let the last completions land
            work = _per_job(command_delta(calls0, ctx.probe.command_calls()),
                            proxy.counts.minus(sent0), n)
        finally:
            worker.stop()
    finally:
        await proxy.stop()
    return {"n": n, "concurrency": concurrency, "enqueue": enq, "worker": work}


def _per_job(calls: dict[str, int], sent: Counts, n: int) -> Result:
    breakdown = {k: round(v / n, 3) for k, v in sorted(calls.items(), key=lambda kv: -kv[1])
                 if v / n >= 0.005}
    return {"commands": round(sum(calls.values()) / n, 2),
            "scripts": round(sum(v for k, v in calls.items() if k in SCRIPT_COMMANDS) / n, 3),
            "sent": round(sent.commands / n, 3), "round_trips": round(sent.bursts / n, 3),
            "breakdown": breakdown}
