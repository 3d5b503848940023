"""What the bench Redis itself can do: redis-benchmark on the same server; and what one
Python process can do with it, one await at a time over a bare protocol (hiredis parses):
PING on asyncio and on uvloop, the floor under any Python client's enqueue; and streamq's
enqueue script, packed beforehand, the floor under streamq's enqueue (its round trip and
its work in Redis, with none of its Python)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from collections.abc import Callable, Coroutine
from typing import Any

import hiredis
import uvloop

import streamq
from harness.redisinfo import RedisProbe
from harness.report import ENQUEUE_FLOOR_KEY
from harness.stats import median
from streamq.broker.script_args import enqueue_call
from streamq.broker.scripts import script_sha
from streamq.job_ids import new_job_ids

COMMANDS: list[tuple[str, list[str]]] = [
    ("XADD, 50 clients, pipeline 16",
     ["-c", "50", "-P", "16", "-n", "200000", "XADD", "s", "*", "f", "v"]),
    ("XREADGROUP COUNT 1, 50 clients, pipeline 16",
     ["-c", "50", "-P", "16", "-n", "200000", "XREADGROUP", "GROUP", "g", "c", "COUNT", "1",
      "STREAMS", "s", ">"]),
    ("XADD, 1 client, no pipeline (round-trip bound)",
     ["-c", "1", "-P", "1", "-n", "50000", "XADD", "s2", "*", "f", "v"]),
    ("EVAL return XADD, 1 client, no pipeline",
     ["-c", "1", "-P", "1", "-n", "50000", "EVAL",
      "return redis.call('XADD',KEYS[1],'*','f','v')", "1", "s3"]),
]


PING_N = 20_000
WARM_UP = 1_000
SCRIPT_FLOOR = "streamq's enqueue script from Python asyncio, packed beforehand, bare protocol"

LoopRunner = Callable[[Coroutine[Any, Any, float]], float]
LOOPS: list[tuple[str, LoopRunner]] = [
    ("PING from Python asyncio, one await at a time, bare protocol", asyncio.run),
    ("PING from Python uvloop, one await at a time, bare protocol", uvloop.run),
]


class _Replies(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.waiter: asyncio.Future[Any] | None = None

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_result(reply)


async def _calls_per_second(port: int, commands: list[bytes]) -> float:
    """Send each packed command and await its reply before the next; calls per second after
    the first WARM_UP. Raises if a reply is an error or a script's failure code."""
    loop = asyncio.get_running_loop()
    transport, replies = await loop.create_connection(_Replies, "127.0.0.1", port)
    try:
        started = 0.0
        for i, command in enumerate(commands):
            if i == WARM_UP:
                started = time.perf_counter()
            replies.waiter = loop.create_future()
            transport.write(command)
            reply = await replies.waiter
            if isinstance(reply, hiredis.ReplyError) or (isinstance(reply, list) and reply[0]):
                raise RuntimeError(f"call {i} replied {reply!r}")
        return (len(commands) - WARM_UP) / (time.perf_counter() - started)
    finally:
        transport.close()


async def _pings_per_second(port: int, n: int) -> float:
    return await _calls_per_second(port, [hiredis.pack_command(("PING",))] * (n + WARM_UP))


async def _enqueue_floor(probe: RedisProbe, n: int) -> float:
    """streamq's enqueue script called ``n`` times, one await at a time, each command packed
    before the clock starts as ``Queue.enqueue`` packs it (a no-op job of the benchmark's
    payload, a new id each, on a tier of default settings that streamq has prepared, as it
    does on a queue's first call): calls per second after the first WARM_UP."""
    app = streamq.App(f"redis://127.0.0.1:{probe.port}/0",
                      tiers=[streamq.Tier("script-floor")])
    queue = app.queue("script-floor")
    try:
        await app.backend(queue.keys)  # loads the scripts and prepares the tier
    finally:
        await app.aclose()
    sha = script_sha("enqueue")
    now_ms = app.now_ms()
    commands = []
    for i, job_id in enumerate(new_job_ids(n)):
        job = queue._prepare("noop", {"i": i}, now_ms, job_id)  # the job Queue.enqueue makes
        keys, args = enqueue_call(queue.keys, [job], now_ms, queue.settings.max_waiting,
                                  look_up=False)
        commands.append(hiredis.pack_command(("EVALSHA", sha, len(keys), *keys, *args)))
    return await _calls_per_second(probe.port, commands)


def measure(probe: RedisProbe, reps: int) -> list[dict[str, Any]]:
    """Requests per second of each command in COMMANDS, then of PING from Python on each
    loop of LOOPS, then of streamq's enqueue script from Python, ``reps`` times each."""
    probe.flush()
    out = []
    for label, args in COMMANDS:
        argv = ["redis-benchmark", "-p", str(probe.port), "-q", *args]
        if "XREADGROUP" in args:
            probe.client.xgroup_create("s", "g", id="0", mkstream=True)
        runs: list[float | None] = []
        for _ in range(reps):
            text = subprocess.run(argv, capture_output=True, text=True, timeout=300).stdout
            found = re.findall(r"([\d.]+) requests per second", text.replace("\r", "\n"))
            runs.append(float(found[-1]) if found else None)
        out.append({"label": label, "runs": runs, "rps": median(runs)})
    for label, run in LOOPS:
        runs = [run(_pings_per_second(probe.port, PING_N)) for _ in range(reps)]
        out.append({"label": label, "runs": runs, "rps": median(runs)})
    runs = []
    for _ in range(reps):
        probe.flush()
        runs.append(asyncio.run(_enqueue_floor(probe, PING_N + WARM_UP)))
    out.append({"label": SCRIPT_FLOOR, "key": ENQUEUE_FLOOR_KEY, "runs": runs,
                "rps": median(runs)})
    probe.flush()
    return out
