"""The multiplexed connection script calls share: pipelining, ordering, errors, broken
connections, overdue replies, cancellation (real Redis, and a fake server that stops
answering)."""

from __future__ import annotations

import asyncio
import gc
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import hiredis
import pytest
import redis
import redis.asyncio as aioredis
import redis.exceptions as rex

from streamq.broker.multiplex import Multiplexer


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def mux(client: aioredis.Redis) -> AsyncIterator[Multiplexer]:
    mux = Multiplexer(client, reply_timeout=5.0)
    yield mux
    await mux.aclose()


async def test_concurrent_calls_share_one_connection_and_keep_order(mux: Multiplexer) -> None:
    replies = await asyncio.gather(*(mux.execute("ECHO", str(i)) for i in range(500)))
    assert replies == [str(i) for i in range(500)]
    ids = await asyncio.gather(*(mux.execute("CLIENT", "ID") for _ in range(50)))
    assert len(set(ids)) == 1


async def test_a_lone_call_is_written_at_once_and_a_burst_in_two_writes(
    mux: Multiplexer,
) -> None:
    """The first command of a loop turn goes out at once (nothing waits for a flush); the
    rest of the turn's commands go out together at its end."""
    await mux.execute("PING")
    transport: Any = mux._transport
    writes: list[bytes] = []
    real_write = transport.write

    def counting_write(data: bytes) -> None:
        writes.append(data)
        real_write(data)

    transport.write = counting_write
    try:
        call = asyncio.ensure_future(mux.execute("ECHO", "alone"))
        await asyncio.sleep(0)  # the call's first step ran
        assert len(writes) == 1 and b"alone" in writes[0]
        assert await call == "alone"
        writes.clear()
        replies = await asyncio.gather(*(mux.execute("ECHO", str(i)) for i in range(100)))
        assert replies == [str(i) for i in range(100)]
        assert len(writes) == 2 and writes[1].count(b"ECHO") == 99
    finally:
        transport.write = real_write


async def test_send_now_is_on_the_wire_before_any_later_callback(
    mux: Multiplexer, redis_url: str
) -> None:
    """A command sent with send_now reaches Redis before a callback scheduled after it runs,
    whether it is the turn's first command (written at once) or joins others (written by
    the turn-end flush): a callback that blocks the loop still sees both commands' effects
    from another connection. Before the connection is open, send_now returns None."""
    key = f"t-mux-now-{uuid.uuid4().hex}"
    fresh = Multiplexer(aioredis.Redis.from_url(redis_url), reply_timeout=5.0)
    assert fresh.send_now("PING") is None
    await fresh.aclose()
    await mux.execute("PING")
    loop = asyncio.get_running_loop()
    seen: list[Any] = []

    def look_from_another_connection() -> None:  # blocks the loop: nothing else runs
        other = redis.Redis.from_url(redis_url, decode_responses=True)
        found: Any = []
        deadline = time.monotonic() + 2
        while len(found) < 2 and time.monotonic() < deadline:
            found = other.lrange(key, 0, -1)
            if len(found) < 2:
                time.sleep(0.001)
        seen.append(found)
        other.close()

    first = mux.send_now("RPUSH", key, "first")
    second = mux.send_now("RPUSH", key, "second")
    assert first is not None and second is not None
    loop.call_soon(look_from_another_connection)
    assert (await first, await second) == (1, 2)
    assert seen == [["first", "second"]]
    await mux.execute("DEL", key)


async def test_one_call_at_a_time_schedules_no_turn_end(mux: Multiplexer) -> None:
    """Awaiting one call after another (an enqueue loop) costs no extra turn of the event
    loop: nothing is scheduled to flush at a turn's end when nothing waits for it."""
    await mux.execute("PING")
    loop = asyncio.get_running_loop()
    scheduled: list[object] = []
    real_call_soon = loop.call_soon

    def spying_call_soon(callback: Any, *args: Any, **kwargs: Any) -> asyncio.Handle:
        scheduled.append(callback)
        return real_call_soon(callback, *args, **kwargs)

    loop.call_soon = spying_call_soon  # type: ignore[method-assign]
    try:
        for i in range(20):
            assert await mux.execute("ECHO", str(i)) == str(i)
    finally:
        del loop.call_soon
    assert mux._end_turn not in scheduled


async def test_a_call_in_a_later_turn_goes_out_while_a_reply_is_awaited(
    mux: Multiplexer, namespace: str
) -> None:
    """A command written at once and still unanswered: a call made in a later turn is sent
    by the end of that turn, not held until the first reply."""
    await mux.execute("PING")
    slow = blocking_read(mux, namespace, 300)
    await asyncio.sleep(0)
    transport: Any = mux._transport
    writes: list[bytes] = []
    real_write = transport.write
    transport.write = lambda data: (writes.append(data), real_write(data))
    try:
        later = asyncio.ensure_future(mux.execute("ECHO", "later"))
        for _ in range(3):
            await asyncio.sleep(0)
        assert any(b"later" in data for data in writes) and not slow.done()
        assert await later == "later"
    finally:
        transport.write = real_write
    assert await slow is None


async def test_a_turn_cut_short_by_a_closed_loop_does_not_hold_back_writes(
    mux: Multiplexer,
) -> None:
    """A command written in a loop that closed before its turn ended: a call in the next
    loop is still written at once, not left waiting for a turn end that never comes."""
    await mux.execute("PING")
    dead = asyncio.new_event_loop()
    dead.close()
    mux._turn_loop = dead
    assert await asyncio.wait_for(mux.execute("ECHO", "written"), 2) == "written"


async def test_an_error_reply_fails_only_its_call(mux: Multiplexer) -> None:
    replies = await asyncio.gather(
        mux.execute("ECHO", "a"), mux.execute("NOSUCHCOMMAND"), mux.execute("ECHO", "b"),
        return_exceptions=True)
    assert replies[0] == "a" and replies[2] == "b"
    assert isinstance(replies[1], rex.ResponseError)
    assert "unknown command" in str(replies[1])


async def test_execute_many_sends_in_order_and_raises_the_first_error(
    mux: Multiplexer, client: aioredis.Redis
) -> None:
    """Replies come back in command order; an error is raised only after every reply is in,
    so the commands after it still ran and later calls get their own replies."""
    key = f"t-mux-many-{uuid.uuid4().hex}"  # commands and key the documented ACL allows
    assert await mux.execute_many(
        ("HSET", key, "n", "1"), ("HINCRBY", key, "n", 1), ("HGET", key, "n")) == [1, 2, "2"]
    with pytest.raises(rex.ResponseError, match="unknown command"):
        await mux.execute_many(("HINCRBY", key, "n", 1), ("NOSUCHCOMMAND",),
                               ("HINCRBY", key, "n", 1))
    assert await mux.execute("HGET", key, "n") == "4"
    await client.delete(key)


async def test_a_cancelled_execute_many_leaves_no_reply_unretrieved(
    mux: Multiplexer, client: aioredis.Redis
) -> None:
    """Cancelled while its first command blocks in Redis, execute_many cancels the calls
    still waiting: their replies, errors included, find no one (nothing is logged as an
    exception never retrieved) and later calls get their own replies."""
    key = f"t-mux-cancel-{uuid.uuid4().hex}"
    unretrieved: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: unretrieved.append(context))
    try:
        call = asyncio.ensure_future(mux.execute_many(("BLPOP", key, "0.3"), ("NOSUCHCOMMAND",)))
        await asyncio.sleep(0.05)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert await mux.execute("ECHO", "after") == "after"  # waits out BLPOP's timeout
        del call
        gc.collect()
        assert unretrieved == []
    finally:
        loop.set_exception_handler(None)


async def test_noscript_is_redis_pys_exception(mux: Multiplexer) -> None:
    with pytest.raises(rex.NoScriptError):
        await mux.execute("EVALSHA", "0" * 40, 0)


def blocking_read(mux: Multiplexer, namespace: str, block_ms: int) -> asyncio.Future[object]:
    """A call that waits in Redis (a blocking read of a stream nobody writes to)."""
    return asyncio.ensure_future(
        mux.execute("XREAD", "BLOCK", block_ms, "STREAMS", f"{namespace}:never", "$"))


async def test_a_killed_connection_fails_waiters_then_reconnects(
    mux: Multiplexer, client: aioredis.Redis, namespace: str
) -> None:
    first_id = await mux.execute("CLIENT", "ID")
    blocked = blocking_read(mux, namespace, 5000)
    await asyncio.sleep(0.05)
    await client.client_kill_filter(_id=first_id)
    with pytest.raises(rex.ConnectionError):
        await blocked
    assert await mux.execute("CLIENT", "ID") != first_id


async def test_a_cancelled_call_does_not_shift_the_replies(
    mux: Multiplexer, namespace: str
) -> None:
    slow = blocking_read(mux, namespace, 200)
    after = asyncio.ensure_future(mux.execute("ECHO", "after"))
    await asyncio.sleep(0.01)
    slow.cancel()
    assert await after == "after"
    assert await mux.execute("ECHO", "next") == "next"


async def test_closed_multiplexer_refuses_calls(mux: Multiplexer) -> None:
    assert await mux.execute("PING") in ("PONG", True)
    await mux.aclose()
    with pytest.raises(rex.ConnectionError, match="closed"):
        await mux.execute("PING")


async def test_a_server_that_stops_answering_is_reported_after_the_reply_timeout() -> None:
    """The connection handshake is answered; PING never is."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        parser = hiredis.Reader()
        try:
            while data := await reader.read(4096):
                parser.feed(data)
                while (command := parser.gets()) is not False:
                    if command[0].upper() != b"PING":
                        writer.write(b"+OK\r\n")
        finally:
            writer.close()
            handled.set()

    handled = asyncio.Event()
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = aioredis.Redis(port=port, client_name="streamq", protocol=2)  # as streamq opens it
    mux = Multiplexer(client, reply_timeout=0.3)
    try:
        started = asyncio.get_running_loop().time()
        with pytest.raises(rex.TimeoutError, match=r"no reply from Redis within 0\.3 s"):
            await mux.execute("PING")
        assert 0.25 < asyncio.get_running_loop().time() - started < 2
    finally:
        await mux.aclose()
        await client.aclose()
        await asyncio.wait_for(handled.wait(), 5)
        server.close()
        await server.wait_closed()


async def test_a_server_turned_replica_is_left_for_a_new_connection() -> None:
    """READONLY (the master became a replica in a failover) fails the call with a
    ConnectionError and the next call opens a new connection (through Sentinel, to the new
    master), as redis-py's Sentinel connections do."""
    connections = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        parser = hiredis.Reader()
        try:
            while data := await reader.read(4096):
                parser.feed(data)
                while (command := parser.gets()) is not False:
                    if command[0].upper() == b"SET" and connections == 1:
                        writer.write(b"-READONLY You can't write against a read only replica.\r\n")
                    else:
                        writer.write(b"+OK\r\n")
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    client = aioredis.Redis(port=server.sockets[0].getsockname()[1], client_name="streamq",
                            protocol=2)
    mux = Multiplexer(client, reply_timeout=5)
    try:
        with pytest.raises(rex.ConnectionError, match="read-only replica"):
            await mux.execute("SET", "k", "v")
        assert await mux.execute("SET", "k", "v") in (b"OK", "OK")
        assert connections == 2
    finally:
        await mux.aclose()
        await client.aclose()
        server.close()


async def test_closing_while_connecting_leaves_no_connection(client: aioredis.Redis) -> None:
    """aclose() during the handshake: the call fails and the new connection is closed."""
    mux = Multiplexer(client, reply_timeout=5)
    call = asyncio.ensure_future(mux.execute("PING"))
    await asyncio.sleep(0)  # the call is opening the connection
    await mux.aclose()
    with pytest.raises(rex.ConnectionError, match="closed"):
        await call
    assert mux._connection is None


async def test_a_call_cancelled_while_connecting_leaves_the_others_connecting(
    client: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The call opening the connection is cancelled (its job's timeout, say) while others
    wait for it: they open it themselves (they got its CancelledError though nobody had
    cancelled them, and a worker's tier stopped without a word)."""
    pool: Any = client.connection_pool
    make_connection = pool.make_connection

    def slow_connection() -> Any:
        connection = make_connection()
        connect = connection.connect

        async def slow_connect() -> None:
            await asyncio.sleep(0.2)
            await connect()

        connection.connect = slow_connect
        return connection

    monkeypatch.setattr(pool, "make_connection", slow_connection)
    mux = Multiplexer(client, reply_timeout=5)
    opener = asyncio.ensure_future(mux.execute("PING"))
    await asyncio.sleep(0.05)  # the opener is connecting
    waiters = [asyncio.ensure_future(mux.execute("ECHO", str(i))) for i in range(3)]
    await asyncio.sleep(0.05)
    opener.cancel()
    assert await asyncio.gather(*waiters) == ["0", "1", "2"]
    assert opener.cancelled()
    await mux.aclose()


async def test_text_hiredis_cannot_encode_is_sent_as_redis_py_sends_it(
    mux: Multiplexer, redis_url: str
) -> None:
    """A lone surrogate (a byte os.listdir could not decode) goes out as that byte, as
    redis-py's connections send it (surrogateescape); one that is no escaped byte goes out
    escaped as text. Packing raised UnicodeEncodeError out of the call."""
    key = f"test:{uuid.uuid4().hex}"
    raw = aioredis.Redis.from_url(redis_url)
    try:
        await mux.execute("HSET", key, "f", "report-\udcff.csv")
        assert await raw.hget(key, "f") == b"report-\xff.csv"
        await mux.execute("HSET", key, "f", "half \ud800 pair")
        assert await raw.hget(key, "f") == b"half \\ud800 pair"
    finally:
        await raw.delete(key)
        await raw.aclose()
