"""Running one claimed job: find its processor, apply the timeout, decide the outcome."""

from __future__ import annotations

import asyncio
import math
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import structlog

from streamq import codec
from streamq.broker.scripts import ClaimedJob
from streamq.errors import InvalidPayload
from streamq.job import Job
from streamq.outcomes import Fail, Retry
from streamq.scheduling.backoff import Backoff

if TYPE_CHECKING:
    from streamq.config import TierSettings
    from streamq.processor import Processor
    from streamq.queue import Queue

log = structlog.get_logger("streamq.worker")
SOFT_TIMEOUT_SHARE = 0.8


@dataclass(frozen=True, slots=True)
class Completed:
    """The processor returned; ``result`` is its JSON."""

    result: str


@dataclass(frozen=True, slots=True)
class Failed:
    """The attempt failed. ``retry_delay_ms`` is None when no retry may follow."""

    error: str
    traceback: str
    retry_delay_ms: int | None


Outcome = Completed | Failed


def _options(job: ClaimedJob) -> dict[str, Any]:
    return codec.decode(job.opts) if job.opts else {}


def _retry_delay_ms(backoff: Backoff, job: ClaimedJob) -> int | None:
    if job.attempt >= job.attempts:
        return None
    return math.ceil(backoff.delay(job.attempt) * 1000)


async def run_job(
    job: ClaimedJob, processor: Processor | None, queue: Queue, settings: TierSettings
) -> Outcome:
    """Run ``job`` once and say what should happen to it. Never raises for the job's faults."""
    if processor is None:
        return Failed(
            f"unknown job type {job.name!r}: no processor is registered for it in the worker "
            f"serving tier {settings.name!r}; register it with @app.processor({job.name!r}) "
            "and retry the job", "", None,
        )
    options = _options(job)
    backoff = (Backoff.from_json(options["backoff"]) if "backoff" in options
               else processor.backoff or settings.backoff)
    timeout = options.get("timeout") or processor.timeout or settings.timeout_s
    try:
        data = processor.load(job.data)
    except InvalidPayload as exc:
        return Failed(str(exc), "", None)
    handle = Job(queue, job.id, job.name, data, job.attempt, job.attempts)
    try:
        if timeout is None:
            result = await processor.fn(handle)
        else:
            result = await _with_timeout(processor, handle, timeout)
    except Retry as exc:
        delay = (_retry_delay_ms(backoff, job) if exc.delay is None
                 else math.ceil(exc.delay * 1000))
        return Failed(str(exc), "", delay if job.attempt < job.attempts else None)
    except Fail as exc:
        return Failed(exc.reason, "", None)
    except _TimedOut:
        return Failed(f"timed out after {timeout:g} s", "", _retry_delay_ms(backoff, job))
    except Exception as exc:
        return Failed(f"{type(exc).__name__}: {exc}", traceback.format_exc(),
                      _retry_delay_ms(backoff, job))
    try:
        return Completed(codec.encode(result, what="the processor's return value"))
    except InvalidPayload as exc:
        return Failed(str(exc), "", None)


class _TimedOut(Exception):
    pass


async def _with_timeout(processor: Processor, handle: Job, timeout: float) -> Any:
    loop = asyncio.get_running_loop()
    warning = loop.call_later(timeout * SOFT_TIMEOUT_SHARE, _soft_warning, handle, timeout)
    try:
        with anyio.move_on_after(timeout):
            return await processor.fn(handle)
        raise _TimedOut
    finally:
        warning.cancel()


def _soft_warning(handle: Job, timeout: float) -> None:
    log.warning("job near its timeout", job_id=handle.id, job=handle.name, tier=handle.tier,
                attempt=handle.attempt, timeout_s=timeout, share=f"{SOFT_TIMEOUT_SHARE:.0%}")
