"""Running one claimed job: find its processor, apply the timeout, decide the outcome."""

from __future__ import annotations

import asyncio
import math
import traceback
from typing import TYPE_CHECKING, Any

import structlog

from streamq import codec
from streamq.broker.records import ClaimedJob
from streamq.errors import InvalidPayload
from streamq.job import Job
from streamq.outcomes import Fail, Retry
from streamq.scheduling.backoff import Backoff, describe, first_delay
from streamq.worker.deadline import SOFT_TIMEOUT_SHARE, Deadline
from streamq.worker.hooks import SoftTimeouts, around_job
from streamq.worker.outcome import Completed, Failed, Outcome

if TYPE_CHECKING:
    from streamq.config import TierSettings
    from streamq.hooks import Hooks
    from streamq.processor import Processor
    from streamq.queue import Queue

log = structlog.get_logger("streamq.worker")
__all__ = ["Completed", "Failed", "Outcome", "run_job"]


def _options(job: ClaimedJob) -> dict[str, Any]:
    return codec.decode(job.opts) if job.opts else {}


def _retry_later(
    error: str, tb: str, backoff: Backoff, job: ClaimedJob, settings: TierSettings
) -> Failed:
    """A failed attempt, retried after ``backoff``'s delay while attempts are left. If the
    backoff fails (a custom one raised or returned a bad value), the error says so and the
    tier's backoff decides this delay (the default exponential 5 s if that fails too)."""
    if job.attempt >= job.attempts:
        return Failed(error, tb, None)
    policies = (backoff,) if backoff is settings.backoff else (backoff, settings.backoff)
    seconds, used, problems = first_delay(policies, job.attempt)
    if problems:
        log.error("backoff failed; another policy decides this retry", job_id=job.id,
                  job=job.name, attempt=job.attempt, problems=problems, used=describe(used))
        error = f"{error} [{'; '.join(problems)}; retried after {describe(used)} instead]"
    return Failed(error, tb, math.ceil(seconds * 1000))


async def run_job(
    job: ClaimedJob, processor: Processor | None, queue: Queue, settings: TierSettings,
    consumer: str, hooks: Hooks, soft: SoftTimeouts,
) -> Outcome:
    """Run ``job`` once and say what should happen to it. Never raises but for the worker's
    own cancellation: what the job, its stored options or a hook raise is an outcome, so a
    job never stays ACTIVE in a worker that lives on. ``consumer``: the worker's, whose run
    ``job.progress`` and ``job.log`` check; ``hooks``: the App's, run around the attempt;
    ``soft`` runs its soft-timeout hooks (see ``worker/hooks.py``)."""
    if processor is None:
        return Failed(
            f"unknown job type {job.name!r}: no processor is registered for it in the worker "
            f"serving tier {settings.name!r}; register it with @app.processor({job.name!r}) "
            "and retry the job", "", None,
        )
    try:
        options = _options(job)
        data = processor.load(job.data)
        backoff = (Backoff.from_json(options["backoff"]) if "backoff" in options
                   else processor.backoff or settings.backoff)
        timeout = options.get("timeout") or processor.timeout or settings.timeout_s
        handle = Job(queue, job.id, job.name, data, job.attempt, job.attempts,
                     (job.entry, consumer))
        if not hooks.around_job:
            return await _attempt(processor, handle, job, backoff, timeout, settings, soft)
        return await around_job(
            hooks, handle,
            lambda: _attempt(processor, handle, job, backoff, timeout, settings, soft),
            lambda error, tb: _retry_later(error, tb, backoff, job, settings))
    except InvalidPayload as exc:  # not JSON (never unpickled): dead-lettered, not retried
        return Failed(str(exc), "", None)
    except asyncio.CancelledError:
        if _cancelled_by_worker():
            raise
        return Failed("worker error: CancelledError raised around the job (a hook?)",
                      traceback.format_exc(), None)
    except Exception as exc:
        return Failed(f"worker error: {type(exc).__name__}: {exc}", traceback.format_exc(),
                      None)


def _cancelled_by_worker() -> bool:
    """Whether this task was cancelled (its timeout, a lost lease, shutdown), rather than
    a CancelledError raised inside the job: one it awaited was cancelled by something else."""
    task = asyncio.current_task()
    return task is None or task.cancelling() > 0


async def _attempt(
    processor: Processor, handle: Job, job: ClaimedJob, backoff: Backoff,
    timeout: float | None, settings: TierSettings, soft: SoftTimeouts,
) -> Outcome:
    """One call of the processor, within its timeout, as an outcome."""
    try:
        if timeout is None:
            result = await processor.fn(handle)
        else:
            result = await _with_timeout(processor, handle, timeout, soft)
    except Retry as exc:
        if exc.delay is None:
            return _retry_later(str(exc), "", backoff, job, settings)
        delay = math.ceil(exc.delay * 1000)
        return Failed(str(exc), "", delay if job.attempt < job.attempts else None)
    except Fail as exc:
        return Failed(exc.reason, "", None)
    except _TimedOut:
        return _retry_later(f"timed out after {timeout:g} s", "", backoff, job, settings)
    except asyncio.CancelledError as exc:
        if _cancelled_by_worker():
            raise
        return _retry_later(f"CancelledError: {exc}", traceback.format_exc(), backoff, job,
                            settings)
    except Exception as exc:
        return _retry_later(f"{type(exc).__name__}: {exc}", traceback.format_exc(), backoff,
                            job, settings)
    try:
        return Completed(codec.encode(result, what="the processor's return value"), result)
    except InvalidPayload as exc:
        return Failed(str(exc), "", None)


class _TimedOut(Exception):
    pass


async def _with_timeout(
    processor: Processor, handle: Job, timeout: float, soft: SoftTimeouts
) -> Any:
    task = asyncio.current_task()
    assert task is not None
    deadline = Deadline(task, timeout, lambda: _soft_warning(handle, timeout, soft))
    try:
        return await processor.fn(handle)
    except asyncio.CancelledError:
        if deadline.expired and deadline.withdraw() == 0:  # cancelled for its timeout alone
            raise _TimedOut from None
        raise
    finally:
        deadline.withdraw()


def _soft_warning(handle: Job, timeout: float, soft: SoftTimeouts) -> None:
    log.warning("job near its timeout", job_id=handle.id, job=handle.name, tier=handle.tier,
                attempt=handle.attempt, timeout_s=timeout, share=f"{SOFT_TIMEOUT_SHARE:.0%}")
    soft.fire(handle, timeout)
