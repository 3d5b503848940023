"""URL schemes against real servers: unix:// through a socket-only redis-server."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamq import App, Job

pytestmark = pytest.mark.slow


@pytest.fixture
def unix_socket(tmp_path: Path) -> Iterator[Path]:
    """A throwaway redis-server that listens only on a unix socket."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server)")
    sock = tmp_path / "redis.sock"
    process = subprocess.Popen(
        [binary, "--port", "0", "--unixsocket", str(sock), "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        yield sock
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_unix_socket_url_runs_jobs(unix_socket: Path) -> None:
    """unix:///path/to/socket connects, and a job goes through enqueue → worker → result."""
    app = App(f"unix://{unix_socket}")

    @app.processor("hello")
    async def hello(job: Job) -> str:
        return f"hello {job.data['name']}"

    async with app:
        job = await app.enqueue("hello", {"name": "socket"})
        await app.worker("standard").run(burst=True)
        assert await job.result(timeout=5) == "hello socket"
