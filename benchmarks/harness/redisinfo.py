"""The bench Redis: start a throwaway server, and read what INFO says about it.

Every measurement starts with FLUSHDB, so the harness only ever talks to a server it
started itself (or one named with --redis-running), never to port 6379.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import redis

FOREIGN_PORT = 6379
HARNESS_COMMANDS = frozenset({"info", "config", "flushdb", "dbsize"})
"""The harness's own questions, left out of every per-job count."""
SCRIPT_COMMANDS = frozenset({"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"})


class RedisProbe:
    """A plain client for the harness's own questions to the bench Redis."""

    def __init__(self, port: int) -> None:
        if port == FOREIGN_PORT:
            raise SystemExit("refusing port 6379: the harness flushes its Redis; use your own")
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.client = redis.Redis(host="127.0.0.1", port=port)

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()

    def flush(self) -> None:
        """Empty the bench database."""
        self.client.flushdb()

    def used_memory(self) -> int:
        """``used_memory`` in bytes."""
        return int(self._info("memory")["used_memory"])

    def cpu_seconds(self) -> float:
        """redis-server's user + system CPU seconds so far."""
        cpu = self._info("cpu")
        return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])

    def command_calls(self) -> dict[str, int]:
        """Calls per command (INFO commandstats: includes commands run inside Lua)."""
        stats = self._info("commandstats")
        return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}

    def reset_stats(self) -> None:
        """Zero INFO commandstats."""
        self.client.config_resetstat()

    def dbsize(self) -> int:
        """Keys in the bench database."""
        return int(self.client.dbsize())  # type: ignore[arg-type]

    def version(self) -> str:
        """The server's version string."""
        return str(self._info("server")["redis_version"])

    def _info(self, section: str) -> dict[str, Any]:
        return dict(self.client.info(section))  # type: ignore[arg-type]


def command_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Calls per command between two ``command_calls`` readings, without the harness's own."""
    out = {k: v - before.get(k, 0) for k, v in after.items()}
    return {k: v for k, v in out.items()
            if v > 0 and k.split("|", 1)[0] not in HARNESS_COMMANDS}


@dataclass
class ThrowawayRedis:
    """A redis-server on ``port`` with persistence off, in a temporary directory."""

    port: int
    process: subprocess.Popen[bytes] | None = None
    workdir: str = field(default="")

    def start(self) -> None:
        """Start it and wait until it answers; fails if the port is taken."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server is not installed (apt-get install redis-server)")
        if _answers(self.port):
            raise SystemExit(f"something already answers on port {self.port}: pick a free "
                             "--redis-port, or pass --redis-running to use (and flush) it")
        self.workdir = tempfile.mkdtemp(prefix="streamq-bench-redis-")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.workdir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not _answers(self.port):
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                raise SystemExit(f"redis-server on port {self.port} did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server (if this object started it) and remove its directory."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _answers(port: int) -> bool:
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()
