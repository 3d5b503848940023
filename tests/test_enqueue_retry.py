"""One enqueue, re-sent by redis-py after a timeout, is still one job (real server).

redis-py retries a command whose reply timed out, on a new connection. The first send has
already run the enqueue script on the server, so without deduplication the retry would add
the job twice. A TCP proxy between the App and Redis forwards every request at once but holds
back the reply to the enqueue script longer than the client's socket timeout, which is exactly
the "slow reply" case of REDIS-FACTS.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
import redis.asyncio as aioredis

import streamq
import streamq.broker.connection as connection
from streamq import App, JobState
from streamq.broker.keys import QueueKeys
from streamq.broker.records import NewJob
from streamq.broker.scripts import _source
from tests.conftest import delete_namespace
from tests.servers import Server, redis_server

CLIENT_TIMEOUT_S = 0.3
HELD_FOR_S = 1.0
ENQUEUE_SHA = hashlib.sha1(
    _source("enqueue").encode()
).hexdigest().encode()


class SlowReplyProxy:
    """Forwards TCP both ways; holds back the reply to chosen requests.

    Requests containing ``marker`` are counted in ``seen``; while ``hold`` says so for that
    count, the server's next reply on that connection is delayed by ``HELD_FOR_S`` seconds.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.marker = ENQUEUE_SHA
        self.seen = 0
        self.held = 0
        self.hold_first = 0
        """Hold the replies to the first ``hold_first`` marked requests."""
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    @property
    def listen_port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in self._tasks:
            task.cancel()
        for writer in self._writers:
            writer.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def _spawn(self, coro: object) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        upstream_r, upstream_w = await asyncio.open_connection(self.host, self.port)
        self._writers += [client_w, upstream_w]
        hold = asyncio.Event()
        self._spawn(self._requests(client_r, upstream_w, hold))
        self._spawn(self._replies(upstream_r, client_w, hold))

    async def _requests(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter,
                        hold: asyncio.Event) -> None:
        tail = b""
        try:
            while data := await source.read(65536):
                if self.marker in tail + data:
                    self.seen += 1
                    if self.seen <= self.hold_first:
                        hold.set()
                tail = data[-len(self.marker):]
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            sink.close()

    async def _replies(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter,
                       hold: asyncio.Event) -> None:
        try:
            while data := await source.read(65536):
                if hold.is_set():
                    hold.clear()
                    self.held += 1
                    await asyncio.sleep(HELD_FOR_S)
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            sink.close()


@pytest.fixture
async def proxy(redis_url: str) -> AsyncIterator[SlowReplyProxy]:
    """A proxy in front of the real server."""
    parts = urlsplit(redis_url)
    server = SlowReplyProxy(parts.hostname or "127.0.0.1", parts.port or 6379)
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def proxied_app(
    proxy: SlowReplyProxy, redis_url: str, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[App]:
    """An App talking to Redis through the proxy, with a 0.3 s socket timeout."""
    monkeypatch.setattr(connection, "SOCKET_TIMEOUT_S", CLIENT_TIMEOUT_S)
    path = urlsplit(redis_url).path or "/0"
    app = App(f"redis://127.0.0.1:{proxy.listen_port}{path}", namespace=namespace)
    await app.backend(app.queue().keys)  # connect and prepare the queue before arming it
    yield app
    await app.aclose()
    await delete_namespace(redis_url, namespace)


async def stored_jobs(redis_url: str, namespace: str) -> tuple[int, int]:
    """(XLEN of the ready stream, number of jobs stored: hashes and jobs held in their
    stream entry), read directly from the server."""
    keys = QueueKeys(namespace, "standard")
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        length = await client.xlen(keys.ready[0])
        hashes = [k async for k in client.scan_iter(match=keys.job_prefix + "*")]
        held = len(await client.hgetall(keys.index))  # HLEN is not in the documented ACL
    finally:
        await client.aclose()
    return length, len(hashes) + held


async def test_enqueue_resent_after_a_timeout_is_one_job(
    proxied_app: App, proxy: SlowReplyProxy, redis_url: str, namespace: str
) -> None:
    """The first reply is late: redis-py times out and re-sends; exactly one job exists."""
    proxy.hold_first = 1
    job = None
    with contextlib.suppress(streamq.ConnectionError):
        job = await asyncio.wait_for(proxied_app.queue().enqueue("x", {"n": 1}), 10)

    assert proxy.held == 1
    assert proxy.seen >= 2, "the client did not re-send the enqueue: nothing was tested"
    assert await stored_jobs(redis_url, namespace) == (1, 1)
    assert await proxied_app.queue().counts() == {
        "waiting": 1, "active": 0, "delayed": 0, "completed": 0, "failed": 0}
    if job is not None:
        assert await job.state() is JobState.WAITING
        assert (await job.info()).data == {"n": 1}


async def test_enqueue_that_keeps_timing_out_is_safe_to_call_again(
    proxied_app: App, proxy: SlowReplyProxy, redis_url: str, namespace: str
) -> None:
    """Every reply late: the call raises ConnectionError (outcome unknown) after its retries,
    though each send ran on the server; calling again with the same job_id adds nothing."""
    proxy.hold_first = 100
    with pytest.raises(streamq.ConnectionError) as caught:
        await asyncio.wait_for(proxied_app.queue().enqueue("x", 1, job_id="order-7"), 10)
    assert "same job_id" in str(caught.value)
    assert proxy.seen >= 2
    assert await stored_jobs(redis_url, namespace) == (1, 1)

    proxy.hold_first = 0
    job = await proxied_app.queue().enqueue("x", 1, job_id="order-7")
    assert job.id == "order-7"
    assert await stored_jobs(redis_url, namespace) == (1, 1)
    assert (await proxied_app.queue().counts())["waiting"] == 1


def id_lookups(server: Server) -> int:
    """How many EXISTS and HEXISTS (enqueue's id lookup) the server has run."""
    client = server.client()
    try:
        stats = client.info("commandstats")
        return sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0))
                   for name in ("exists", "hexists"))
    finally:
        client.close()


async def test_only_a_call_that_may_be_a_resend_looks_up_ids_streamq_made() -> None:
    """The multiplexer sends a command once, so a first send looks up no id streamq made;
    the same call sent again looks the first one up and adds nothing."""
    with redis_server() as server:
        app = App(server.url)
        try:
            queue = app.queue()
            await app.backend(queue.keys)  # connected, scripts loaded, queue prepared
            before = id_lookups(server)
            await queue.enqueue("x", 1)
            await queue.enqueue_many([("x", 2), ("x", 3)])
            assert id_lookups(server) == before

            scripts = (await app.backend(queue.keys)).scripts
            job = NewJob("a" * 16, "x", "1", 0, 0, 3, "", "", True)
            assert await scripts.enqueue(queue.keys, [job], app.now_ms(), 0) == [True]
            assert id_lookups(server) == before
            assert await scripts.enqueue(queue.keys, [job], app.now_ms(), 0,
                                         resent=True) == [False]
            assert id_lookups(server) > before
            assert (await queue.counts())["waiting"] == 4
        finally:
            await app.aclose()
