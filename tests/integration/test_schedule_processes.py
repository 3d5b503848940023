"""Real processes on the real Redis server: three worker subprocesses and this test process
all fire the same ``every=1`` schedule for about 4.5 s; every tick runs exactly once."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from streamq import App
from streamq.worker.scheduler import fire_due
from tests.conftest import delete_namespace
from tests.integration.schedule_app import build_app

pytestmark = [pytest.mark.slow, pytest.mark.realredis]

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 3
RUN_S = 4.5


@pytest.fixture
async def app(redis_url: str, namespace: str) -> AsyncIterator[App]:
    application = build_app(redis_url, namespace)
    yield application
    await application.aclose()
    await delete_namespace(redis_url, namespace)


def start_workers(redis_url: str, namespace: str, tmp_path: Path) -> list[Any]:
    env = {**os.environ, "STREAMQ_TEST_REDIS_URL": redis_url,
           "STREAMQ_TEST_NAMESPACE": namespace}
    processes = []
    for i in range(WORKERS):
        with (tmp_path / f"worker-{i}.log").open("wb") as log:
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "tests.integration.schedule_app"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
    return processes


async def test_every_tick_runs_exactly_once(
    app: App, redis_url: str, namespace: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each tick ran once (counted executions, not jobs), none was missed, and exactly one
    fire per tick won (counted from every scheduler's "schedule fired" log lines: a broken
    compare-and-set shows up here even when the job id dedups the extra fires)."""
    processes = start_workers(redis_url, namespace, tmp_path)
    try:
        await app.schedule("beat", every=1)
        backend = await app.backend()
        deadline = time.monotonic() + RUN_S
        while time.monotonic() < deadline:  # this process is a fourth scheduler
            await fire_due(app, backend, app.tiers["standard"])
            await asyncio.sleep(0.3)
        await app.unschedule("beat")
        queue = app.queue()

        async def drained() -> bool:
            counts = await queue.counts()
            return counts["waiting"] + counts["active"] + counts["delayed"] == 0

        for _ in range(100):
            if await drained():
                break
            await asyncio.sleep(0.1)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(15)
    runs = [str(r) for r in await backend.client.lrange(f"{namespace}:runs", 0, -1)]
    per_tick = Counter(runs)
    ticks = sorted(int(job_id.rsplit(":", 1)[1]) for job_id in per_tick)
    logs = [(tmp_path / f"worker-{i}.log").read_text() for i in range(WORKERS)]
    fired_by_workers = [len(re.findall(r"schedule fired", log)) for log in logs]
    fired_here = len(re.findall(r"schedule fired", capsys.readouterr().out))
    with capsys.disabled():
        print(f"\nticks run: {len(ticks)}, fired by each worker process: {fired_by_workers}, "
              f"by the test process: {fired_here}")
    assert {job_id: n for job_id, n in per_tick.items() if n > 1} == {}
    assert len(ticks) >= RUN_S - 1.5
    assert ticks == list(range(ticks[0], ticks[-1] + 1000, 1000)), "a tick was missed"
    assert sum(fired_by_workers) > 0, "\n".join(logs)
    assert sum(fired_by_workers) + fired_here == len(ticks)
    assert all(p.returncode == 0 for p in processes), "\n".join(logs)
