"""Client connections killed (``CLIENT KILL TYPE normal``) and paused (``CLIENT PAUSE <ms>
WRITE``) over and over under load: every acknowledged job completes, workers stay up.

Plus the regression found here: an enqueue resent after its connection broke, reaching a
server that has no scripts loaded (it restarted, failed over, or flushed them), reloads the
scripts instead of raising redis-py's ``NoScriptError``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from streamq import JobState
from tests.chaos.chaos_app import TIER, build_app
from tests.chaos.conftest import Size
from tests.chaos.fleet import Fleet, Producer, new_namespace, settle
from tests.chaos.ledger import Enqueues, Report, check, read_lines, recovery_after
from tests.chaos.servers import redis_server

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

WORKERS = 2
RATE = 200.0
FAULT_EVERY_S = 0.5
PAUSE_MS = 300


async def test_enqueue_resent_to_a_server_without_scripts_reloads_them() -> None:
    with redis_server() as server:
        app = build_app(server.url, "chaos", 1.0)
        admin = server.client()
        try:
            queue = app.queue(TIER)
            await queue.enqueue("work", None, job_id="before")
            for n in range(3):
                admin.execute_command("CLIENT", "KILL", "TYPE", "normal")  # spares admin
                admin.script_flush()
                job = await queue.enqueue("work", None, job_id=f"after-{n}")
                assert await job.state() is JobState.WAITING
        finally:
            admin.close()
            await app.aclose()


async def test_killed_and_paused_connections_lose_nothing(
    workdir: Path, size: Size, record: Callable[[Report], None]
) -> None:
    jobs = int(RATE * 8 * size.scale)
    with redis_server() as server:
        fleet = Fleet(server.url, new_namespace(), workdir)
        app = build_app(server.url, fleet.namespace, fleet.lease)
        enqueues = Enqueues()
        producer = Producer(app, enqueues, rate=RATE)
        admin = server.client()
        rng = random.Random(3)
        faults: list[float] = []
        killed = paused = 0
        try:
            fleet.start(WORKERS)
            began = time.monotonic()
            producing = asyncio.create_task(producer.run(jobs))
            while not producing.done():
                await asyncio.wait({producing}, timeout=FAULT_EVERY_S * rng.uniform(0.5, 1.5))
                faults.append(time.time())
                if len(faults) % 2:
                    killed += admin.execute_command("CLIENT", "KILL", "TYPE", "normal")
                else:
                    admin.execute_command("CLIENT", "PAUSE", PAUSE_MS, "WRITE")
                    paused += 1
            await producing
            view = await settle(app, timeout=120, quiet=10)
            elapsed = time.monotonic() - began
            alive = len(fleet.alive())
        finally:
            admin.close()
            fleet.stop()
            await app.aclose()
    lines = read_lines(fleet.ledger_dir)
    report = check("client-kill+pause", enqueues, lines, view)
    report.kills = len(faults)
    report.recovery_s = recovery_after(lines, faults)
    report.elapsed_s = elapsed
    report.extra = {"connections_killed": killed, "pauses": paused,
                    "pause_ms": PAUSE_MS, "workers_alive": f"{alive}/{WORKERS}",
                    "enqueue_errors_retried": producer.errors}
    record(report)
    assert report.ok, report.line() + "\n" + fleet.output()[-3000:]
    assert alive == WORKERS, fleet.output()[-3000:]
    assert killed > 0 and paused > 0
