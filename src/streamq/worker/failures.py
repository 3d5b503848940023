"""Recording a failed attempt: the ``fail`` script, sent again while Redis cannot be reached,
as the batches of completions are."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import anyio
import structlog

from streamq.errors import ConnectionError, QueueStateLost
from streamq.worker.upkeep import RETRY_PAUSE_S, recreate_queue

if TYPE_CHECKING:
    from streamq.broker.backend import Backend
    from streamq.worker.outcome import Failed
    from streamq.worker.running import Running
    from streamq.worker.tier_runner import TierRunner

log = structlog.get_logger("streamq.worker")


async def record_failure(
    runner: TierRunner, backend: Backend, running: Running, outcome: Failed
) -> None:
    """Record ``outcome``, a failed attempt of ``running``'s job, then forget the job.

    Meanwhile its slot counts as free, as a completion's does while its batch is recorded
    (``runner.failing``): a burst run whose Redis went away still claims, meets the error
    and ends. While Redis cannot be reached the call is sent again every
    ``RETRY_PAUSE_S``. The job stays in the worker, its lease renewed, so it neither runs
    again nor loses its outcome (a ``Fail``, a retry's delay); a stopping worker waits for
    it as for a completion rather than hand it back (which would give the attempt back). A
    call that reached Redis before its reply was lost finds the entry acknowledged when
    sent again, and answers ``"lease_lost"``. The retries end when the lease is lost (the
    upkeep cancels this task) or the stopping worker stops waiting (its grace, then 5 s).
    """
    job = running.job
    runner.failing.add(running)
    runner.free_slot()
    try:
        status = await _send(runner, backend, running, outcome)
    finally:
        runner.failing.discard(running)
    if status == "delayed" and outcome.retry_delay_ms is not None:
        runner.upkeep.promote_at(time.monotonic() + outcome.retry_delay_ms / 1000)
    log.info("job attempt failed", tier=runner.keys.tier, job_id=job.id, job=job.name,
             attempt=job.attempt, attempts=job.attempts, error=outcome.error, now=status)
    runner.done_with(running)


async def _send(runner: TierRunner, backend: Backend, running: Running, outcome: Failed) -> str:
    """The ``fail`` call, until Redis answers: ``"delayed"``, ``"failed"`` or
    ``"lease_lost"``."""
    keys, job = runner.keys, running.job
    while True:
        try:
            return await backend.scripts.fail(
                keys, runner.consumer, job, runner.app.now_ms(), error=outcome.error,
                traceback=outcome.traceback, retry_delay_ms=outcome.retry_delay_ms,
                keep=runner.settings.keep_failed)
        except QueueStateLost as exc:
            await recreate_queue(runner.app, backend, keys, exc)
        except ConnectionError as exc:
            log.error("cannot record a failed attempt; retrying", tier=keys.tier,
                      job_id=job.id, error=str(exc))
            await anyio.sleep(RETRY_PAUSE_S)
