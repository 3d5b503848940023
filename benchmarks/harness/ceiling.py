"""What the bench Redis itself can do: redis-benchmark on the same server; and what one
Python process can do with it: PING one await at a time, on asyncio and on uvloop, over a
bare protocol (hiredis parses), the floor under any Python client's enqueue."""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from collections.abc import Callable, Coroutine
from typing import Any

import hiredis
import uvloop

from harness.redisinfo import RedisProbe
from harness.stats import median

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


async def _pings_per_second(port: int, n: int) -> float:
    loop = asyncio.get_running_loop()
    transport, replies = await loop.create_connection(_Replies, "127.0.0.1", port)
    ping = hiredis.pack_command(("PING",))
    try:
        started = 0.0
        for i in range(n + 1000):  # the first 1,000 warm up
            if i == 1000:
                started = time.perf_counter()
            replies.waiter = loop.create_future()
            transport.write(ping)
            await replies.waiter
        return n / (time.perf_counter() - started)
    finally:
        transport.close()


def measure(probe: RedisProbe, reps: int) -> list[dict[str, Any]]:
    """Requests per second of each command in COMMANDS, then of PING from Python on each
    loop of LOOPS, ``reps`` times each."""
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
    probe.flush()
    return out
