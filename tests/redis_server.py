"""Find the real Redis server the suite runs against, or start a throwaway one.

Order: ``$STREAMQ_TEST_REDIS_URL``; else a server answering on 127.0.0.1:6379; else a
``redis-server`` started on a free port in a temporary directory (stopped at exit). If none
of these works the run stops with a message saying what to install; it never skips.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time

import redis

DEFAULT_URL = "redis://127.0.0.1:6379/0"


def answers(url: str) -> bool:
    """Whether a Redis server answers PING at ``url``."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError):
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_throwaway() -> str:
    """Start a private redis-server; returns its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(
            "no Redis answers at 127.0.0.1:6379 and redis-server is not installed: install it "
            "(Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) or point "
            "STREAMQ_TEST_REDIS_URL at a Redis >= 6.2 the tests may write to"
        )
    port = _free_port()
    workdir = tempfile.mkdtemp(prefix="streamq-test-redis-")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", workdir],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    atexit.register(_stop, process, workdir)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if answers(url):
            return url
        time.sleep(0.05)
    raise RuntimeError(f"started {binary} on port {port} but it did not answer within 10 s")


def _stop(process: subprocess.Popen[bytes], workdir: str) -> None:
    process.terminate()
    process.wait(timeout=10)
    shutil.rmtree(workdir, ignore_errors=True)


def resolve() -> str:
    """The URL of a usable real Redis server, starting one if needed."""
    url = os.environ.get("STREAMQ_TEST_REDIS_URL")
    if url:
        if not answers(url):
            raise RuntimeError(f"STREAMQ_TEST_REDIS_URL={url} does not answer PING")
        return url
    if answers(DEFAULT_URL):
        return DEFAULT_URL
    return start_throwaway()
