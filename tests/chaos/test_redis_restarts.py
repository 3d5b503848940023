"""redis-server SIGKILLed under load and restarted on the same data directory.

With AOF (``appendfsync always`` or ``everysec``) nothing acknowledged is lost: a process
crash leaves every written command in the AOF (the kernel still holds what was not fsynced).
Without persistence the restarted server is empty: the consumer group is gone, workers get
NOGROUP, log "queue state lost", recreate the group and carry on; jobs acknowledged before
the crash are gone by design and the ledger counts them as such, while every job enqueued
after the restart must complete.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from streamq import App, Job, Tier
from tests.chaos.chaos_app import build_app
from tests.chaos.conftest import Size
from tests.chaos.fleet import Fleet, Producer, new_namespace, settle
from tests.chaos.ledger import Enqueues, Report, check, read_lines, recovery_after
from tests.chaos.servers import (
    AOF_ALWAYS,
    AOF_EVERYSEC,
    NO_PERSISTENCE,
    RedisServer,
    redis_server,
)
from tests.helpers import running

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

WORKERS = 2
RATE = 200.0
FIRST_CRASH_S = 2.0
DOWN_S = 1.0
BETWEEN_CRASHES_S = 4.0


async def crash_redis_under_load(
    workdir: Path, size: Size, persistence: tuple[str, ...], scenario: str
) -> tuple[Report, Fleet]:
    """Run WORKERS workers and a producer; SIGKILL redis-server (1 crash in a short run,
    more in a long one), restart it after DOWN_S on the same directory; drain and check.
    Without persistence, jobs acknowledged before the last crash are excused (gone by
    design); the report counts them."""
    crashes = 1 if size.scale == 1 else size.scale // 2
    jobs = int(RATE * (FIRST_CRASH_S + crashes * BETWEEN_CRASHES_S))
    server = RedisServer(persistence)
    server.start()
    fleet = Fleet(server.url, new_namespace(), workdir)
    app = build_app(server.url, fleet.namespace, fleet.lease)
    enqueues = Enqueues()
    producer = Producer(app, enqueues, rate=RATE)
    crashed_at: list[float] = []
    restarted_at: list[float] = []
    try:
        fleet.start(WORKERS)
        began = time.monotonic()
        producing = asyncio.create_task(producer.run(jobs))
        await asyncio.sleep(FIRST_CRASH_S)
        for crash in range(crashes):
            if crash:
                await asyncio.sleep(BETWEEN_CRASHES_S - DOWN_S)
            crashed_at.append(time.time())  # an enqueue sent before may be lost with it
            server.kill9()
            await asyncio.sleep(DOWN_S)
            await asyncio.to_thread(server.start)
            restarted_at.append(time.time())
        await producing
        view = await settle(app, timeout=120, quiet=10)
        elapsed = time.monotonic() - began
        alive = len(fleet.alive())
    finally:
        fleet.stop()
        await app.aclose()
        server.stop()
    lines = read_lines(fleet.ledger_dir)
    excused = ({i for i, sent in enqueues.acked.items() if sent <= crashed_at[-1]}
               if persistence == NO_PERSISTENCE else set())
    report = check(scenario, enqueues, lines, view, excused)
    report.kills, report.restarts = len(crashed_at), len(restarted_at)
    report.recovery_s = recovery_after(lines, restarted_at)
    report.elapsed_s = elapsed
    report.extra = {"workers_alive": f"{alive}/{WORKERS}",
                    "enqueue_errors_retried": producer.errors,
                    "downtime_s": DOWN_S}
    return report, fleet


@pytest.mark.parametrize(("persistence", "label"), [
    (AOF_ALWAYS, "aof-always"), (AOF_EVERYSEC, "aof-everysec")])
async def test_redis_crash_with_aof_loses_nothing(
    workdir: Path, size: Size, record: Callable[[Report], None],
    persistence: tuple[str, ...], label: str,
) -> None:
    report, fleet = await crash_redis_under_load(
        workdir, size, persistence, f"redis-sigkill {label}")
    record(report)
    assert report.ok, report.line() + "\n" + fleet.output()[-3000:]
    assert report.lost == 0 and report.lost_by_design == 0
    assert report.extra["workers_alive"] == f"{WORKERS}/{WORKERS}", fleet.output()[-3000:]
    assert report.recovery_s is not None


async def test_redis_crash_without_persistence_recovers_and_says_so(
    workdir: Path, size: Size, record: Callable[[Report], None]
) -> None:
    report, fleet = await crash_redis_under_load(
        workdir, size, NO_PERSISTENCE, "redis-sigkill no-persistence")
    record(report)
    assert report.ok, report.line() + "\n" + fleet.output()[-3000:]
    assert report.lost_by_design > 0  # the crash did lose acknowledged jobs, by design
    assert report.extra["workers_alive"] == f"{WORKERS}/{WORKERS}", fleet.output()[-3000:]
    assert "queue state lost" in fleet.output()
    assert report.recovery_s is not None


async def test_a_worker_outlives_redis_being_down() -> None:
    """Redis unreachable for 2.5 s (several upkeep passes: renew, reclaim, promote, schedule
    ticks), then back: the in-process worker is still running and runs a new job."""
    with redis_server(AOF_EVERYSEC) as server:
        app = App(server.url, namespace="down", tiers=[Tier("standard", lease=1)])

        @app.processor("echo")
        async def echo(job: Job) -> str:
            return str(job.data)

        worker = app.worker()
        try:
            async with running(worker) as task:
                assert await (await app.enqueue("echo", "before")).result(timeout=10) == "before"
                server.kill9()
                await asyncio.sleep(2.5)
                assert not task.done(), task.exception()
                await asyncio.to_thread(server.start)
                job = await app.enqueue("echo", "after")
                assert await job.result(timeout=10) == "after"
                assert not task.done()
        finally:
            await app.aclose()
