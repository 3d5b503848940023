"""A counting TCP proxy in front of the bench Redis: round trips and top-level commands.

INFO commandstats counts every command, including those run inside Lua, but not how many
times a client waited for Redis. The proxy sees the client side: each read from a client
socket is one request burst (one round trip: a pipeline arrives as one burst), and the RESP
arrays in it are the commands the client sent itself. Used only by the ``ops`` scenario,
whose timings are not reported.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

READ_SIZE = 1 << 16


@dataclass
class Counts:
    """What clients sent through the proxy."""

    bursts: int = 0
    commands: int = 0
    by_name: dict[str, int] = field(default_factory=dict)

    def snapshot(self) -> Counts:
        """A copy of the counts so far."""
        return Counts(self.bursts, self.commands, dict(self.by_name))

    def minus(self, before: Counts) -> Counts:
        """The counts since ``before``."""
        names = {k: v - before.by_name.get(k, 0) for k, v in self.by_name.items()}
        return Counts(self.bursts - before.bursts, self.commands - before.commands,
                      {k: v for k, v in names.items() if v})


class RespCounter:
    """Counts the RESP arrays (commands) in a client's byte stream, fed in any chunks."""

    def __init__(self, counts: Counts) -> None:
        self.counts = counts
        self.buf = bytearray()
        self.pos = 0

    def feed(self, data: bytes) -> None:
        """Count every command that ``data`` completes."""
        self.buf += data
        while True:
            end = self._command_end()
            if end is None:
                break
            self.pos = end
        del self.buf[:self.pos]
        self.pos = 0

    def _line(self, at: int) -> tuple[bytes, int] | None:
        nl = self.buf.find(b"\r\n", at)
        return None if nl < 0 else (bytes(self.buf[at:nl]), nl + 2)

    def _command_end(self) -> int | None:
        head = self._line(self.pos)
        if head is None:
            return None
        line, at = head
        if not line.startswith(b"*"):  # an inline command: one line
            self._count(line.split(b" ", 1)[0])
            return at
        name = b""
        for index in range(int(line[1:])):
            size_line = self._line(at)
            if size_line is None:
                return None
            size = int(size_line[0][1:])
            start, at = size_line[1], size_line[1] + size + 2
            if at > len(self.buf):
                return None
            if index == 0:
                name = bytes(self.buf[start:start + size])
        self._count(name)
        return at

    def _count(self, name: bytes) -> None:
        key = name.decode("ascii", "replace").lower()
        self.counts.commands += 1
        self.counts.by_name[key] = self.counts.by_name.get(key, 0) + 1


class CountingProxy:
    """Listens on a free loopback port and forwards to the Redis at ``target_host:port``."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target_port = target_port
        self.target_host = target_host
        self.counts = Counts()
        self.server: asyncio.Server | None = None
        self.port = 0
        self.connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Start listening."""
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening and drop every open connection."""
        if self.server is not None:
            self.server.close()
        for task in self.connections:
            task.cancel()
        await asyncio.gather(*self.connections, return_exceptions=True)

    async def _serve(self, client_r: asyncio.StreamReader,
                     client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.connections.add(task)
        try:
            await self._forward(client_r, client_w)
        except asyncio.CancelledError:
            pass  # stop(): ending quietly keeps asyncio from logging the cancelled callback
        finally:
            self.connections.discard(task)
            client_w.close()

    async def _forward(self, client_r: asyncio.StreamReader,
                       client_w: asyncio.StreamWriter) -> None:
        redis_r, redis_w = await asyncio.open_connection(self.target_host, self.target_port)
        resp = RespCounter(self.counts)

        async def upstream() -> None:
            while data := await client_r.read(READ_SIZE):
                self.counts.bursts += 1
                resp.feed(data)
                redis_w.write(data)
                await redis_w.drain()

        async def downstream() -> None:
            while data := await redis_r.read(READ_SIZE):
                client_w.write(data)
                await client_w.drain()

        tasks = [asyncio.ensure_future(upstream()), asyncio.ensure_future(downstream())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            redis_w.close()
