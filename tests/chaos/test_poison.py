"""A poison job, whose processor SIGKILLs its own worker process every time, under
``streamq worker --processes 2``: each run kills a child, the supervisor replaces it, the
lease expires and reclaim counts the stall as an attempt; once its attempts are used the job
is dead-lettered. The fleet dies exactly ``attempts`` times (no crash loop), and the other
jobs keep completing throughout."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from streamq import JobState
from tests.chaos.chaos_app import TIER, build_app
from tests.chaos.conftest import Size
from tests.chaos.fleet import Fleet, Producer, new_namespace, settle
from tests.chaos.ledger import EFFECT, Enqueues, Report, check, read_lines
from tests.chaos.servers import redis_server

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

POISON_ATTEMPTS = 3
RATE = 100.0
AFTER_S = 3.0
"""Load kept up after the poison job is dead-lettered, to see that nothing dies any more."""


async def test_poison_job_is_dead_lettered_after_its_attempts(
    workdir: Path, size: Size, record: Callable[[Report], None]
) -> None:
    with redis_server() as server:
        fleet = Fleet(server.url, new_namespace(), workdir, concurrency=4)
        app = build_app(server.url, fleet.namespace, fleet.lease)
        queue = app.queue(TIER)
        enqueues = Enqueues()
        producer = Producer(app, enqueues, rate=RATE)
        try:
            fleet.spawn("--processes", "2")
            fleet.wait_for_log("worker started", 2)
            began = time.monotonic()
            producing = asyncio.create_task(producer.run(int(RATE * 60 * size.scale)))
            await asyncio.sleep(0.5)
            enqueues.trying("poison")
            sent_at = time.time()
            poison = await queue.enqueue("poison", None, job_id="poison",
                                         attempts=POISON_ATTEMPTS)
            enqueues.acknowledged("poison", sent_at)
            while await poison.state() is not JobState.FAILED:
                assert time.monotonic() - began < 60, fleet.output()[-3000:]
                assert not producing.done()
                await asyncio.sleep(0.1)
            dead_after, dead_at = time.monotonic() - began, time.time()
            deaths_then = fleet.output().count("worker process died")
            await asyncio.sleep(AFTER_S * size.scale)
            producing.cancel()
            view = await settle(app, timeout=60, quiet=8)
            info = await queue.get_job("poison")
            elapsed = time.monotonic() - began
        finally:
            fleet.stop()
            await app.aclose()
    output = fleet.output()
    deaths = output.count("worker process died")
    backoffs = [float(d) for d in re.findall(r"restart_in_s=([\d.]+)", output)]
    lines = read_lines(fleet.ledger_dir)
    report = check("poison-job", enqueues, lines, view)
    report.kills = deaths
    report.restarts = output.count("worker process started") - 2
    report.elapsed_s = elapsed
    effects_after = sum(1 for line in lines if line.kind == EFFECT and line.at > dead_at)
    report.extra = {"poison_attempts": POISON_ATTEMPTS,
                    "dead_lettered_after_s": round(dead_after, 2),
                    "restart_backoffs_s": backoffs,
                    "effects_after_dead_letter": effects_after}
    record(report)
    assert report.ok, report.line() + "\n" + output[-3000:]
    assert info is not None and info.state is JobState.FAILED
    assert info.attempt == POISON_ATTEMPTS
    assert info.error is not None and "stalled" in info.error
    assert view.dead == {"poison"}
    assert deaths == deaths_then == POISON_ATTEMPTS, output[-3000:]
    assert report.restarts == POISON_ATTEMPTS
    assert max(backoffs) <= 2.0  # the supervisor backs off, but three deaths stay quick
    assert effects_after > 0  # the other jobs kept completing
