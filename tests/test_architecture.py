"""The folders show the architecture: only broker/ talks to Redis, every script is wired."""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "streamq"
REDIS_MODULES = ("redis", "fakeredis", "lupa")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_only_broker_imports_redis() -> None:
    offenders = {
        str(path.relative_to(SRC)): sorted(m for m in imported_modules(path)
                                           if m.split(".")[0] in REDIS_MODULES)
        for path in SRC.rglob("*.py")
        if "broker" not in path.relative_to(SRC).parts
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_broker_calls_redis() -> None:
    """Nothing outside broker/ calls a command on a Redis client (``backend.client.exists``
    in the CLI was one): reads go through ``broker/reads.py``, writes through Scripts."""
    offenders = []
    for path in SRC.rglob("*.py"):
        if "broker" in path.relative_to(SRC).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Attribute)
                    and node.func.value.attr == "client"):
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert offenders == []


def test_scheduling_is_pure() -> None:
    """Backoff is a pure function of time: it imports nothing that does I/O."""
    for path in (SRC / "scheduling").rglob("*.py"):
        modules = imported_modules(path)
        assert not {m for m in modules if m.startswith(("streamq.broker", "streamq.worker",
                                                        "asyncio", "anyio"))}, path


def test_modules_stay_small() -> None:
    """Around 400 lines at most per module (STYLE.md)."""
    sizes = {str(p.relative_to(SRC)): len(p.read_text().splitlines()) for p in SRC.rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > 420} == {}


WORKER_START = "import streamq, streamq.cli, streamq.loading, streamq.worker.worker"
"""What ``streamq worker --app ...`` imports before its first job."""
BURST_RUN = """
import asyncio, streamq
app = streamq.App("memory://")
@app.processor("noop")
async def noop(job):
    pass
async def run():
    await app.enqueue("noop", 1)
    await app.worker().run(burst=True)
asyncio.run(run())
"""
"""A worker's run on the embedded backend: start, one job, a sweep for due jobs, stop."""


@cache
def modules_after(code: str) -> frozenset[str]:
    """The modules a fresh interpreter has imported once it has run ``code``."""
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys; print('modules:', *sys.modules)"],
        capture_output=True, text=True, check=True)
    return frozenset(done.stdout.rpartition("modules:")[2].split())


def test_a_worker_start_imports_neither_pytest_nor_pydantic() -> None:
    """pytest (the plugin) costs about 0.2 s and pydantic about 0.06 s, and neither is
    needed by an app without models."""
    assert modules_after(WORKER_START) & {"pytest", "pydantic"} == set()


def test_a_worker_without_schedules_never_imports_them() -> None:
    """Schedules (cron, zoneinfo, cronsim) load when a tick is due or the App manages them,
    not in every worker start."""
    schedules = {"streamq.schedules", "streamq.scheduling.schedule", "streamq.scheduling.cron",
                 "zoneinfo", "cronsim"}
    assert modules_after(WORKER_START) & schedules == set()
    assert modules_after(BURST_RUN) & schedules == set()



def test_a_first_connection_reads_no_package_metadata() -> None:
    """streamq gives redis-py its version for CLIENT SETINFO: redis-py would read it from its
    package metadata (about 3 ms, email parser included) at every worker's first connection."""
    pytest.importorskip("redis.driver_info")
    code = ("from streamq.broker.connection import open_connection\n"
            "open_connection('redis://localhost:1').client.connection_pool.make_connection()")
    assert "email.parser" not in modules_after(code)


def test_a_worker_start_leaves_out_what_only_other_commands_use() -> None:
    """The admin commands' output helpers load with those commands, the embedded backend's
    wake-ups (and fakeredis) with memory://."""
    assert modules_after(WORKER_START) & {"streamq.cli_output", "streamq.broker.wakeup",
                                          "fakeredis"} == set()
