"""Delayed-job promotion with a large backlog: how long one ``promote_due`` call holds Redis.

Starts its own throwaway redis-server on a free port (SLOWLOG is switched to log every
command there; no shared server's config is touched), enqueues N delayed jobs due at the
same moment plus some due 1 ms later (``enqueue_many`` in chunks, ``App(clock=...)``), moves
the clock to the due moment and promotes exactly as a worker does: ``Scripts.promote_due``
with the batch size, again at once while a call promoted a full batch. SLOWLOG GET then
gives each call's time inside Redis. Prints one row per batch size; checks that every due
job was promoted and none of the later ones.

    .venv/bin/python benchmarks/promotion.py [--n 100000] [--later 1000] [--batch 1000 ...]

Without --batch it compares PROMOTE_BATCH (worker/upkeep.py) with 1000, 500, 250, 100.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import math
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import redis.asyncio as aioredis

from streamq import App, Tier
from streamq.worker.upkeep import PROMOTE_BATCH

T0 = 1_700_000_000.0
DELAY_S = 60.0
CHUNK = 5000
PROMOTE_SHA = hashlib.sha1(
    resources.files("streamq.broker").joinpath("scripts/promote_due.lua").read_bytes()
).hexdigest()


class Clock:
    """A settable clock for App(clock=...)."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@dataclass
class Result:
    batch: int
    calls: int
    max_ms: float
    p99_ms: float
    median_ms: float
    total_s: float
    trip_max_ms: float
    trip_p99_ms: float
    enqueue_s: float


def raise_priority() -> None:
    """Run the server at nice -10 when allowed: on a shared machine other processes would
    otherwise preempt it in the middle of a call and the figures would measure them."""
    with contextlib.suppress(OSError):
        os.nice(-10)


def start_redis() -> tuple[subprocess.Popen[bytes], str, Path]:
    """A private redis-server on a free port, no persistence."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    workdir = Path(tempfile.mkdtemp(prefix="streamq-promotion-"))
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
         "no", "--dir", str(workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=raise_priority)
    return process, f"redis://127.0.0.1:{port}/0", workdir


async def wait_ready(url: str) -> aioredis.Redis:
    client = aioredis.Redis.from_url(url)
    for _ in range(200):
        try:
            await client.ping()
            return client
        except (aioredis.ConnectionError, OSError):
            await asyncio.sleep(0.05)
    raise SystemExit(f"the redis-server at {url} did not start")


async def fill(url: str, n: int, later: int) -> tuple[App, Clock, float]:
    """A fresh namespace with ``n`` jobs due at T0 + DELAY_S and ``later`` due 1 ms after."""
    clock = Clock()
    app = App(url, namespace=f"promo{uuid.uuid4().hex[:8]}", clock=clock,
              tiers=[Tier("bench", max_waiting=0)])
    queue = app.queue("bench")
    started = time.perf_counter()
    for first in range(0, n, CHUNK):
        await queue.enqueue_many([("noop", i, {"delay": DELAY_S})
                                  for i in range(first, min(n, first + CHUNK))])
    await queue.enqueue_many([("noop", i, {"delay": DELAY_S + 0.001}) for i in range(later)])
    return app, clock, time.perf_counter() - started


async def promote_all(
    app: App, clock: Clock, client: aioredis.Redis, batch: int, probe: bool
) -> tuple[list[int], list[float], list[float], float]:
    """Promote as TierRunner._promote does: again at once after a full batch. With ``probe``,
    read each call's own SLOWLOG entry right after it (the newest entry: Redis 7 also logs
    the commands a script runs, before the script itself) and reset the log.
    Returns promoted per call, ms inside Redis per call (probe), round-trip ms per call, and
    the total seconds."""
    keys = app.queue("bench").keys
    scripts = (await app.backend(keys)).scripts
    clock.now = T0 + DELAY_S - 0.001  # one ms early: nothing may move
    assert await scripts.promote_due(keys, app.now_ms(), batch) == (0, app.now_ms() + 1)
    clock.now = T0 + DELAY_S
    await client.slowlog_reset()
    calls: list[int] = []
    inside_ms: list[float] = []
    trips_ms: list[float] = []
    started = time.perf_counter()
    while True:
        before = time.perf_counter()
        promoted, next_due = await scripts.promote_due(keys, app.now_ms(), batch)
        trips_ms.append((time.perf_counter() - before) * 1000)
        calls.append(promoted)
        if probe:
            async with client.pipeline(transaction=False) as pipe:
                pipe.slowlog_get(1)
                pipe.slowlog_reset()
                entries, _ = await pipe.execute()
            is_call = bool(entries) and entries[0]["command"].split()[:2] == [
                b"EVALSHA", PROMOTE_SHA.encode()]
            inside_ms.append(entries[0]["duration"] / 1000 if is_call else 0.0)  # 0: not logged
        if promoted < batch:
            break
    total_s = time.perf_counter() - started
    assert next_due == round((T0 + DELAY_S + 0.001) * 1000)
    return calls, inside_ms, trips_ms, total_s


async def check_and_clear(app: App, client: aioredis.Redis, calls: list[int], n: int,
                          later: int, batch: int) -> None:
    """Every due job promoted, none of the later ones, no call above the batch size."""
    assert sum(calls) == n and max(calls) <= batch
    counts = await app.queue("bench").counts()
    assert (counts["waiting"], counts["delayed"]) == (n, later), counts
    await app.aclose()
    await client.flushdb()


async def run(url: str, client: aioredis.Redis, n: int, later: int, batch: int,
              slowlog_us: int) -> Result:
    """Two passes over a fresh backlog: SLOWLOG per call, then the plain total time."""
    await client.config_set("slowlog-log-slower-than", slowlog_us)
    app, clock, enqueue_s = await fill(url, n, later)
    calls, inside_ms, _, _ = await promote_all(app, clock, client, batch, probe=True)
    await check_and_clear(app, client, calls, n, later, batch)

    await client.config_set("slowlog-log-slower-than", -1)  # logging off: plain timing
    app, clock, _ = await fill(url, n, later)
    calls, _, trips_ms, total_s = await promote_all(app, clock, client, batch, probe=False)
    await check_and_clear(app, client, calls, n, later, batch)

    return Result(batch, len(calls), max(inside_ms), p99(inside_ms),
                  statistics.median(inside_ms), total_s, max(trips_ms), p99(trips_ms), enqueue_s)


def p99(values: list[float]) -> float:
    """The 99th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


async def main(n: int, later: int, batches: list[int], slowlog_us: int) -> None:
    process, url, workdir = start_redis()
    try:
        client = await wait_ready(url)
        version = (await client.info("server"))["redis_version"]
        print(f"redis {version} at {url}; {n:,} jobs due at once + {later:,} due 1 ms later; "
              f"PROMOTE_BATCH = {PROMOTE_BATCH}")
        print(f"ms per promote_due call: SLOWLOG = inside Redis, slowlog-log-slower-than "
              f"{slowlog_us} us (0 logs the script's own commands too, which inflates it);\n"
              "round trip = seen by the caller with SLOWLOG off (includes the "
              "network). total = promoting all, SLOWLOG off.")
        print(f"{'batch':>6} {'calls':>6} | {'SLOWLOG max':>11} {'p99':>6} {'median':>6} | "
              f"{'trip max':>8} {'p99':>6} | {'total s':>7} {'jobs/s':>8} | {'enqueue s':>9}")
        for batch in batches:
            r = await run(url, client, n, later, batch, slowlog_us)
            mark = "  <- PROMOTE_BATCH" if batch == PROMOTE_BATCH else ""
            print(f"{r.batch:>6} {r.calls:>6} | {r.max_ms:>11.2f} {r.p99_ms:>6.2f} "
                  f"{r.median_ms:>6.2f} | {r.trip_max_ms:>8.2f} {r.trip_p99_ms:>6.2f} | "
                  f"{r.total_s:>7.2f} {n / r.total_s:>8,.0f} | {r.enqueue_s:>9.1f}{mark}")
        print("every run: all due jobs promoted, none of the later ones, each call <= batch")
        await client.aclose()
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--later", type=int, default=1000)
    parser.add_argument("--batch", type=int, action="append")
    parser.add_argument("--slowlog-us", type=int, default=0,
                        help="slowlog-log-slower-than for the per-call pass (default 0)")
    args = parser.parse_args()
    default = list(dict.fromkeys([PROMOTE_BATCH, 1000, 500, 250, 100]))
    asyncio.run(main(args.n, args.later, args.batch or default, args.slowlog_us))
