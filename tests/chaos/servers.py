"""Throwaway redis-server processes for the chaos suite, on ports 6410-6419 only.

Each server runs in a temporary directory of its own and can be SIGKILLed and restarted on
the same directory with the same arguments (so an AOF is replayed). A server holds a lock
file on its port for its whole life, so concurrent test sessions never share a port, even
while one of them has its server down. Only processes started here are ever signalled,
through their ``Popen`` handles.
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import redis

PORTS = range(6410, 6420)

NO_PERSISTENCE = ("--appendonly", "no", "--save", "")
AOF_ALWAYS = ("--appendonly", "yes", "--appendfsync", "always", "--save", "")
AOF_EVERYSEC = ("--appendonly", "yes", "--appendfsync", "everysec", "--save", "")


def reserve_port() -> tuple[int, TextIO]:
    """A port of the chaos range that nothing listens on, with its lock file held: another
    test session skips it, even while this server is down between a crash and its restart.
    Close the returned file to release the port."""
    for port in PORTS:
        lock = (Path(tempfile.gettempdir()) / f"streamq-chaos-port-{port}.lock").open("w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            continue
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as redis-server does
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                lock.close()
                continue
        return port, lock
    raise RuntimeError(f"every chaos port {PORTS.start}-{PORTS.stop - 1} is taken")


class RedisServer:
    """One redis-server process: start, SIGKILL, restart on the same data, stop."""

    def __init__(self, persistence: tuple[str, ...] = NO_PERSISTENCE) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("the chaos suite needs redis-server (apt-get install redis-server)")
        self.port, self._lock = reserve_port()
        self.dir = Path(tempfile.mkdtemp(prefix=f"streamq-chaos-{self.port}-"))
        self.args = [binary, "--port", str(self.port), "--bind", "127.0.0.1",
                     "--dir", str(self.dir), *persistence]
        self.process: subprocess.Popen[bytes] | None = None
        self.log = self.dir / "redis.log"

    @property
    def url(self) -> str:
        """The server's URL (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        """A synchronous admin client; the caller closes it."""
        return redis.Redis(port=self.port, socket_timeout=5, decode_responses=True)

    def start(self) -> float:
        """Start the server and wait until it answers; returns the monotonic time it did."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(redis.RedisError, OSError):
                client = self.client()
                try:
                    if client.ping():
                        return time.monotonic()
                finally:
                    client.close()
            time.sleep(0.02)
        raise RuntimeError(f"redis-server on {self.port} did not answer within 10 s")

    def kill9(self) -> float:
        """SIGKILL the server (a crash: nothing is flushed); returns the monotonic time."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self.process = None
        return time.monotonic()

    def stop(self) -> None:
        """Stop the server and delete its directory."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None
        shutil.rmtree(self.dir, ignore_errors=True)
        self._lock.close()


@contextlib.contextmanager
def redis_server(persistence: tuple[str, ...] = NO_PERSISTENCE) -> Iterator[RedisServer]:
    """A started throwaway server, stopped and deleted afterwards."""
    server = RedisServer(persistence)
    try:
        server.start()
        yield server
    finally:
        server.stop()
