"""The peer benchmark's instrument (benchmarks/harness): the counting proxy must count
round trips and the commands a client sent, whatever the chunking (real Redis)."""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlparse

import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from harness.proxy import CountingProxy, Counts, RespCounter


def test_resp_counter_counts_commands_split_anywhere() -> None:
    stream = (b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\na\r\nbc\r\n"  # a value holding CRLF
              b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n" b"PING\r\n")
    for size in (1, 2, 7, len(stream)):
        counts = Counts()
        resp = RespCounter(counts)
        for at in range(0, len(stream), size):
            resp.feed(stream[at:at + size])
        assert counts.commands == 3
        assert counts.by_name == {"set": 1, "get": 1, "ping": 1}


async def test_proxy_counts_a_pipeline_as_one_round_trip(redis_url: str,
                                                        namespace: str) -> None:
    url = urlparse(redis_url)
    proxy = CountingProxy(url.port or 6379, url.hostname or "127.0.0.1")
    await proxy.start()
    client = aioredis.Redis(host="127.0.0.1", port=proxy.port, db=int(url.path[1:] or 0),
                            password=url.password)
    try:
        await client.ping()
        before = proxy.counts.snapshot()
        pipe = client.pipeline(transaction=False)
        pipe.set(f"{namespace}:a", "1").incr(f"{namespace}:a").delete(f"{namespace}:a")
        assert await pipe.execute() == [True, 2, 1]
        await client.get(f"{namespace}:a")
        sent = proxy.counts.minus(before)
    finally:
        await client.aclose()
        await proxy.stop()
    assert sent.bursts == 2
    assert sent.commands == 4
    assert sent.by_name == {"set": 1, "incrby": 1, "del": 1, "get": 1}
