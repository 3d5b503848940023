"""The floor under the latency scenario: a message from one process, through this Redis, to
another process blocked in a read, with no queue library in between.

The latency scenario times enqueue -> job start on an idle worker, jobs ``lat_gap_ms``
apart. On a VM an idle vCPU is halted, and waking it can cost far more than the work itself
(seen on one machine: a loopback PING after 2 ms idle took ~350 µs, 16 µs back to back).
This relay goes the same way as a job, with the same gap: XADD from this process, XREAD
BLOCK in a child process, both over plain sockets parsed by hiredis. What a peer's latency
has above it is the peer's own; the floor is the machine's.

Run as ``python -m harness.relay_floor URL STREAM N`` (from benchmarks/), it is the child.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import hiredis

from harness.stats import percentile

BENCHMARKS_DIR = Path(__file__).resolve().parent.parent
IDLE_S = 0.2
"""Pause before the first message, as the latency scenario pauses before its first job."""


class RespClient:
    """One blocking Redis connection: a command, then its reply."""

    def __init__(self, url: str) -> None:
        parts = urlparse(url)
        self._sock = socket.create_connection((parts.hostname or "127.0.0.1",
                                               parts.port or 6379))
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._reader = hiredis.Reader(encoding="utf-8")
        if parts.password:
            user = unquote(parts.username) if parts.username else "default"
            self.call("AUTH", user, unquote(parts.password))
        db = (parts.path or "/0").lstrip("/") or "0"
        if db != "0":
            self.call("SELECT", db)

    def call(self, *args: str) -> Any:
        """Send one command and return its reply; an error reply is raised."""
        self._sock.sendall(hiredis.pack_command(args))
        while (reply := self._reader.gets()) is False:
            data = self._sock.recv(65536)
            if not data:
                raise ConnectionError("Redis closed the connection")
            self._reader.feed(data)
        if isinstance(reply, hiredis.ReplyError):
            raise reply
        return reply

    def close(self) -> None:
        """Close the socket."""
        self._sock.close()


def measure(url: str, stream: str, n: int, gap_ms: float) -> dict[str, Any]:
    """``n`` messages ``gap_ms`` apart, each timed from just before its XADD to the moment
    the child's blocked XREAD returns it; percentiles in ms."""
    producer = RespClient(url)
    producer.call("DEL", stream)
    child = subprocess.Popen([sys.executable, "-m", "harness.relay_floor", url, stream, str(n)],
                             stdout=subprocess.PIPE, text=True, cwd=BENCHMARKS_DIR)
    try:
        assert child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError("the relay floor's reader did not start")
        time.sleep(IDLE_S)
        for _ in range(n):
            time.sleep(gap_ms / 1000)
            producer.call("XADD", stream, "*", "t", repr(time.time()))
        out, _ = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        producer.call("DEL", stream)
        producer.close()
    if child.returncode != 0:
        raise RuntimeError(f"the relay floor's reader exited with {child.returncode}")
    ms = [x * 1000 for x in json.loads(out.splitlines()[-1])]
    return {"n": len(ms), "gap_ms": gap_ms, "p50_ms": percentile(ms, 50),
            "p95_ms": percentile(ms, 95), "p99_ms": percentile(ms, 99), "max_ms": max(ms)}


def read(url: str, stream: str, n: int) -> list[float]:
    """The child: block on ``stream`` until ``n`` messages came; each one's delay, in s."""
    reader = RespClient(url)
    print("ready", flush=True)
    last, delays = "0-0", []
    while len(delays) < n:
        reply = reader.call("XREAD", "COUNT", "100", "BLOCK", "0", "STREAMS", stream, last)
        now = time.time()
        for _, entries in reply:
            for entry, fields in entries:
                last = entry
                delays.append(now - float(fields[1]))
    reader.close()
    return delays


if __name__ == "__main__":
    print(json.dumps(read(sys.argv[1], sys.argv[2], int(sys.argv[3]))))
