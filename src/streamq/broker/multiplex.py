"""One Redis connection shared by every concurrent script call, pipelined automatically.

redis-py takes a pooled connection per command and waits for its reply before the
connection serves anyone else: 1,000 concurrent enqueues open up to 1,000 sockets and cost
~100 µs of Python each. Here every call packs its command (in C, with hiredis), queues the
bytes and a future, and the queue is written with one ``send`` per event-loop turn; the
connection's protocol parses replies as they arrive (hiredis) and resolves the futures in
order, with no reader task or stream buffer in between. Concurrent calls from one process
share round trips, as Node's ioredis does.

The connection itself (TCP, TLS, Unix socket, AUTH, SELECT, client name) is opened by
redis-py from the App's URL, so every URL option means what it means for redis-py. Errors are
redis-py's exception classes, so :func:`~streamq.broker.connection.translate_errors` reads
them the same way.

Nothing is resent here after a broken connection: a caller sees ``ConnectionError`` and
decides (``Scripts`` resends only enqueue, which the job id makes safe; a worker retries
after a pause).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

import hiredis
import redis.asyncio as aioredis
import redis.exceptions as rex
from redis._parsers.base import BaseParser
from redis.asyncio.connection import AbstractConnection


class Multiplexer:
    """Sends commands over one connection of ``client``'s pool without waiting in between."""

    def __init__(self, client: aioredis.Redis, reply_timeout: float) -> None:
        self._pool = client.connection_pool
        self._reply_timeout = reply_timeout
        self._connection: AbstractConnection | None = None
        self._connecting: asyncio.Future[None] | None = None
        self._transport: asyncio.WriteTransport | None = None
        self._waiting: deque[tuple[asyncio.Future[Any], float]] = deque()
        self._unsent: list[bytes] = []
        self._turn_loop: asyncio.AbstractEventLoop | None = None
        """The loop whose turn wrote a command at once: later commands wait for the turn's
        end, until a reply comes back (which only happens in a later turn). A loop, not a
        flag, so a turn cut short by a closed loop never holds back the next loop's."""
        self._end_turn_loop: asyncio.AbstractEventLoop | None = None
        """The loop a turn-end flush is scheduled on, if one is."""
        self._watchdog: asyncio.TimerHandle | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._closed = False

    async def execute(self, *args: Any) -> Any:
        """Send one command and return its reply (redis-py's exceptions on error)."""
        if self._connection is None:
            await self._connect()
        return await self._queue(args)

    def send_now(self, *args: Any) -> asyncio.Future[Any] | None:
        """Send one command before returning, without a loop turn, and return its reply's
        future; None when the connection is not open yet (call :meth:`execute`). A command
        that joins others of this loop turn is written by a callback scheduled before this
        returns, so it is on the wire before any callback scheduled after it runs."""
        if self._connection is None:
            return None
        return self._queue(args)

    async def execute_many(self, *commands: tuple[Any, ...]) -> list[Any]:
        """Send ``commands`` without waiting in between and return their replies; the first
        error (in command order) is raised once every reply is in."""
        if self._connection is None:
            await self._connect()
        futures = [self._queue(args) for args in commands]
        # Replies come in order: the caller wakes once, for the first; the rest are done by
        # then or soon after (gather would schedule a callback per reply, then the wake-up).
        replies: list[Any] = []
        try:
            for future in futures:
                try:
                    replies.append(await future)
                except Exception as exc:  # raised below, once every reply is in
                    replies.append(exc)
        except BaseException:  # cancelled: replies still to come find no one waiting
            for future in futures:
                future.cancel()
            raise
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    def _queue(self, args: tuple[Any, ...]) -> asyncio.Future[Any]:
        # The first command of a loop turn is written at once; those that follow in the
        # same turn go out together at its end. A lone call schedules nothing: a turn-end
        # callback would cost every call one more turn of the loop (an epoll_wait).
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[Any] = loop.create_future()
        try:
            self._unsent.append(hiredis.pack_command(args))
        except UnicodeEncodeError:
            self._unsent.append(_pack_escaped(args))
        self._waiting.append((reply, loop.time()))
        if self._turn_loop is not loop:
            self._turn_loop = loop
            self._flush()
        elif self._end_turn_loop is not loop:
            self._end_turn_loop = loop
            loop.call_soon(self._end_turn)
        if self._watchdog is None:
            self._watchdog = loop.call_later(self._reply_timeout, self._check_overdue)
        return reply

    async def aclose(self) -> None:
        """Close the connection; calls still waiting get ``ConnectionError``."""
        self._closed = True
        await self._drop(rex.ConnectionError("streamq closed the connection"))

    # ----------------------------------------------------------------- internals

    async def _connect(self) -> None:
        if self._closed:
            raise rex.ConnectionError("the connection was closed (App.aclose())")
        while self._connecting is not None:  # another caller is connecting: wait for it
            try:
                await asyncio.shield(self._connecting)
                return
            except _OpenerCancelled:
                continue  # that caller was cancelled: open it here, or wait for another
        self._connecting = asyncio.get_running_loop().create_future()
        connection = None
        try:
            connection = self._pool.make_connection()  # type: ignore[no-untyped-call]
            await connection.connect()
        except BaseException as exc:
            self._close_later(connection)  # a handshake cut short leaves its socket open
            # A cancellation is this caller's own: the others are told to try again.
            shared = exc if isinstance(exc, Exception) else _OpenerCancelled()
            self._connecting.set_exception(shared)
            self._connecting.exception()  # retrieved: waiters re-raise it themselves
            raise
        finally:
            connecting, self._connecting = self._connecting, None
        if self._closed:  # aclose() ran while this connection was being opened
            await _disconnect(connection)
            error = rex.ConnectionError("the connection was closed (App.aclose())")
            connecting.set_exception(error)
            connecting.exception()
            raise error
        self._connection = connection
        # After redis-py's handshake (TLS, AUTH, SELECT, client name) the replies go straight
        # to this multiplexer: the transport is handed a protocol of ours.
        assert connection._writer is not None
        transport = connection._writer.transport
        transport.set_protocol(_ReplyProtocol(self, connection))
        self._transport = transport
        connecting.set_result(None)

    def _end_turn(self) -> None:
        self._turn_loop = self._end_turn_loop = None
        self._flush()

    def _flush(self) -> None:
        if self._transport is None or not self._unsent:
            return
        data, self._unsent = b"".join(self._unsent), []
        try:
            self._transport.write(data)
        except (OSError, RuntimeError) as exc:
            self._broken(rex.ConnectionError(f"cannot write to Redis: {exc}"), self._connection)

    def _broken(self, error: Exception, connection: AbstractConnection | None) -> None:
        """The connection failed (closed, reset, or a reply said to leave it)."""
        if connection is None or connection is not self._connection:
            return
        self._close_later(self._abandon(error))

    def _close_later(self, connection: AbstractConnection | None) -> None:
        if connection is not None:
            closing = asyncio.get_running_loop().create_task(_disconnect(connection))
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)

    def _resolve(self, reply: Any) -> None:
        future, _ = self._waiting.popleft()
        if isinstance(reply, rex.ResponseError):
            error = BaseParser.parse_error(str(reply))  # type: ignore[no-untyped-call]
            if isinstance(error, rex.ReadOnlyError) or "instance state changed" in str(error):
                # The server became a replica (Sentinel failover; a blocked read is ended
                # with UNBLOCKED): like redis-py's Sentinel connections, treat it as a lost
                # connection, so the next call finds the new master; a script refused with
                # READONLY wrote nothing.
                error = rex.ConnectionError(
                    f"Redis became a read-only replica (failover?): {error}; reconnecting")
                if not future.done():
                    future.set_exception(error)
                raise error
            if not future.done():  # else its caller was cancelled
                future.set_exception(error)
        elif not future.done():
            future.set_result(reply)

    def _check_overdue(self) -> None:
        self._watchdog = None
        if not self._waiting:
            return
        loop = asyncio.get_running_loop()
        _, sent_at = self._waiting[0]
        late = loop.time() - sent_at
        if late < self._reply_timeout:
            self._watchdog = loop.call_later(self._reply_timeout - late, self._check_overdue)
            return
        error = rex.TimeoutError(f"no reply from Redis within {self._reply_timeout:g} s")
        self._close_later(self._abandon(error))  # closed, so a late reply cannot reach anyone

    def _fail_all(self, error: Exception) -> None:
        waiting, self._waiting, self._unsent = self._waiting, deque(), []
        for future, _ in waiting:
            if not future.done():
                future.set_exception(error)
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def _abandon(self, error: Exception) -> AbstractConnection | None:
        """Stop using the connection: fail every waiting call; the next call connects
        again. Returns the connection, for the caller to close."""
        connection, self._connection, self._transport = self._connection, None, None
        self._fail_all(error)
        return connection

    async def _drop(self, error: Exception) -> None:
        connection = self._abandon(error)
        if connection is not None:
            await _disconnect(connection)
        if self._closing:
            await asyncio.wait(self._closing)


class _OpenerCancelled(Exception):
    """The call opening the connection was cancelled; those waiting for it open it."""


def _pack_escaped(args: tuple[Any, ...]) -> bytes:
    """A command with text hiredis cannot encode (lone surrogates, as in a file name
    ``os.listdir`` decoded), encoded as redis-py's connections do it (``surrogateescape``),
    else with the surrogates escaped as ``\\udcxx``."""
    encoded: tuple[Any, ...] = tuple(_encoded(arg) if isinstance(arg, str) else arg for arg in args)
    packed: bytes = hiredis.pack_command(encoded)
    return packed


def _encoded(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace")


async def _disconnect(connection: AbstractConnection) -> None:
    # nowait: the transport's protocol is ours, so the stream's wait_closed() would never end
    with contextlib.suppress(Exception):
        await connection.disconnect(nowait=True)


class _ReplyProtocol(asyncio.Protocol):
    """Parses the replies of one connection and hands them to the multiplexer in order."""

    def __init__(self, mux: Multiplexer, connection: AbstractConnection) -> None:
        self._mux = mux
        self._connection = connection
        self._parser = hiredis.Reader(encoding="utf-8", errors="surrogateescape",
                                      replyError=rex.ResponseError)

    def data_received(self, data: bytes) -> None:
        self._parser.feed(data)
        self._mux._turn_loop = None  # a later turn than any write: the next call writes at once
        try:
            while (reply := self._parser.gets()) is not False:
                self._mux._resolve(reply)
        except Exception as exc:  # a protocol error, or a reply that says to reconnect
            error = exc if isinstance(exc, rex.RedisError) else rex.ConnectionError(str(exc))
            self._mux._broken(error, self._connection)

    def eof_received(self) -> bool:
        self._mux._broken(rex.ConnectionError("Redis closed the connection"), self._connection)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        reason = f": {exc}" if exc else ""
        self._mux._broken(rex.ConnectionError(f"connection to Redis lost{reason}"),
                          self._connection)
