"""Firing schedules: any worker fires the due ticks of the tiers it serves.

Each pass reads the schedules whose pending tick has come, applies the misfire policy in
Python (cron arithmetic lives in ``scheduling/``), then calls ``fire_schedule``, which
enqueues the tick's job and moves the tick only if the pending tick is still the one read.
Several workers racing for the same tick: one wins, the others get "already fired". A fire
replayed after a lost reply or a failover finds the tick moved (and the job id
``sched:<key>:<tick>`` already taken), so it adds nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from streamq import codec
from streamq.broker.connection import translate_errors
from streamq.broker.records import NewJob
from streamq.broker.schedules import due_ticks, next_tick
from streamq.errors import QueueFull, StreamqError
from streamq.processor import Processor, resolve_rate_key

if TYPE_CHECKING:
    from streamq.app import App
    from streamq.broker.backend import Backend
    from streamq.broker.keys import QueueKeys
    from streamq.config import TierSettings
    from streamq.scheduling.schedule import Schedule

log = structlog.get_logger("streamq.scheduler")

GRACE_MS = 60_000
"""A tick older than this when a worker first sees it was missed (the misfire policy applies)."""
LOOK_EVERY_S = 1.0
"""Longest wait between two looks for due ticks (the worker may look sooner)."""
FIRE_BATCH = 100
MAX_ROUNDS = 20


async def fire_due(app: App, backend: Backend, settings: TierSettings) -> float:
    """Fire every due tick of ``settings``'s tier; returns seconds until the next look."""
    keys = app.queue(settings.name).keys
    for _ in range(MAX_ROUNDS):
        now_ms = app.now_ms()
        with translate_errors(backend.connection.url):
            due = await due_ticks(backend.client, keys, now_ms, FIRE_BATCH)
        if not due:
            break
        moved = False
        for key, tick_ms, text in due:
            if text is not None:
                moved |= await _fire(app, backend, settings, keys, key, tick_ms, text, now_ms)
        if not moved:
            break  # every due tick is held back (a full queue, a definition it cannot read)
    else:
        return 0.0  # still catching up: come back at once
    with translate_errors(backend.connection.url):
        upcoming = await next_tick(backend.client, keys, after_ms=now_ms)
    if upcoming is None:
        return LOOK_EVERY_S
    return min(max((upcoming - app.now_ms()) / 1000, 0.0), LOOK_EVERY_S)


def _rate_key(processor: Processor | None, schedule: Schedule) -> str:
    """The job's rate key, as enqueue computes it (none if the processor's function fails)."""
    try:
        return resolve_rate_key(processor, schedule.data, None)
    except StreamqError as exc:
        log.error("schedule: cannot compute the job's rate key; enqueued without one",
                  schedule=schedule.key, error=str(exc))
        return ""


async def _fire(
    app: App, backend: Backend, settings: TierSettings, keys: QueueKeys, key: str,
    tick_ms: int, text: str, now_ms: int,
) -> bool:
    """Fire one due tick; returns whether it moved on (False: it stays due, to try again)."""
    from streamq.scheduling.schedule import Schedule, plan  # not imported by idle workers

    try:
        schedule = Schedule.from_json(text)
        fire = plan(schedule, tick_ms, now_ms, GRACE_MS)
    except (ValueError, KeyError, TypeError) as exc:
        log.error("cannot read schedule; skipping it (schedule it again to repair)",
                  tier=keys.tier, schedule=key, error=repr(exc))
        return False
    job = None
    if fire.tick_ms is not None:
        processor = app.processors.get(schedule.name)
        attempts = (schedule.attempts or (processor.attempts if processor else None)
                    or settings.attempts)
        job = NewJob(schedule.job_id(fire.tick_ms), schedule.name, codec.encode(schedule.data),
                      schedule.priority, schedule.due_ms(fire.tick_ms), attempts,
                      schedule.job_opts(), _rate_key(processor, schedule))
    try:
        won = await backend.scripts.fire_schedule(keys, key, now_ms, tick_ms, fire.next_ms,
                                                  job, settings.max_waiting)
    except QueueFull as exc:
        log.warning("schedule tick not enqueued: queue full; retrying", tier=keys.tier,
                    schedule=key, error=str(exc))
        return False
    if not won:
        return True  # another worker fired it, or the schedule changed meanwhile
    if job is None:
        log.warning("missed schedule ticks skipped (misfire='skip')", tier=keys.tier,
                    schedule=key, missed_since_ms=tick_ms, next_ms=fire.next_ms)
    elif fire.tick_ms != tick_ms:
        log.warning("missed schedule ticks: ran one", tier=keys.tier, schedule=key,
                    missed_since_ms=tick_ms, ran_tick_ms=fire.tick_ms, job_id=job.id)
    else:
        log.debug("schedule fired", tier=keys.tier, schedule=key, job_id=job.id)
    return True
