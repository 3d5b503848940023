"""``Queue``: one tier's producer and inspection side (``app.queue("high")``)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from datetime import datetime
from functools import update_wrapper
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from streamq import codec
from streamq.broker import reads
from streamq.broker.connection import translate_errors
from streamq.broker.keys import QueueKeys
from streamq.broker.records import NewJob
from streamq.config import PRIORITIES, TierSettings
from streamq.errors import ConfigurationError, JobFailed, JobNotFound, JobStateError
from streamq.job import Job, JobInfo, JobState
from streamq.job_ids import new_job_id, new_job_ids
from streamq.processor import resolve_rate_key
from streamq.scheduling.backoff import Backoff
from streamq.timeunits import Duration, timeout_seconds, to_ms, to_seconds

if TYPE_CHECKING:
    from streamq.app import App
    from streamq.broker.backend import Backend
    from streamq.broker.result_watch import Waiter

MAX_JOB_ID_LENGTH = 256
MAX_LOG_LINES = 1000
ENQUEUE_OPTIONS = frozenset(
    {"priority", "delay", "run_at", "job_id", "attempts", "backoff", "timeout", "rate_key"}
)
P = ParamSpec("P")
R = TypeVar("R")


def _reading(
    method: Callable[Concatenate[Queue, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[Queue, P], Coroutine[Any, Any, R]]:
    """A read of Redis with the client: redis-py's errors become streamq's. It connects
    without preparing the queue: a tier not in Redis reads as empty, and is not created."""

    async def reading(self: Queue, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with translate_errors(self._app.url):
            return await method(self, *args, **kwargs)

    update_wrapper(reading, method)
    return reading


class Queue:
    """Enqueue into and inspect one tier. Get one with ``app.queue(tier)``."""

    def __init__(self, app: App, settings: TierSettings) -> None:
        self._app = app
        self.settings = settings
        self.keys = QueueKeys(app.namespace, settings.name)

    @property
    def name(self) -> str:
        """The tier's name."""
        return self.settings.name

    def __repr__(self) -> str:
        return f"<Queue {self.name!r}>"

    async def _backend(self) -> Backend:
        return await self._app.backend(self.keys)

    # ----------------------------------------------------------------- producing

    async def enqueue(
        self, name: str, data: Any = None, *, priority: int = 0,
        delay: Duration | None = None, run_at: datetime | None = None,
        job_id: str | None = None, attempts: int | None = None,
        backoff: Backoff | None = None, timeout: Duration | None = None,
        rate_key: str | None = None,
    ) -> Job:
        """Add one job and return its handle.

        ``priority`` 0..9 (lower runs sooner within the tier); ``delay`` (seconds or
        timedelta) or ``run_at`` (an aware datetime) to run later; ``job_id`` makes the
        call idempotent: while a job with that id exists, enqueue returns it unchanged.
        ``attempts``, ``backoff`` and ``timeout`` override the processor's and tier's.
        ``rate_key`` (e.g. a tenant id) puts the job under the tier's ``rate_limit_per_key``
        for that key; it overrides the processor's ``rate_key`` function.
        Raises ``QueueFull``, ``InvalidPayload``/``PayloadTooLarge`` or
        ``ConfigurationError`` before anything is written.
        """
        now_ms = self._app.now_ms()
        job = self._prepare(name, data, now_ms, None, priority=priority, delay=delay,
                            run_at=run_at, job_id=job_id, attempts=attempts, backoff=backoff,
                            timeout=timeout, rate_key=rate_key)
        backend = await self._backend()
        await backend.scripts.enqueue(self.keys, [job], now_ms, self.settings.max_waiting)
        return Job(self, job.id, name, data, 0, job.attempts)

    async def enqueue_many(
        self, jobs: Iterable[tuple[str, Any] | tuple[str, Any, Mapping[str, Any]]]
    ) -> list[Job]:
        """Add many jobs atomically in one round trip: all are added, or none.

        Each item is ``(name, data)`` or ``(name, data, options)`` where ``options`` holds
        any keyword arguments of :meth:`enqueue`.
        """
        now_ms = self._app.now_ms()
        prepared: list[NewJob] = []
        handles: list[Job] = []
        items = list(jobs)
        limit = self._app.max_payload_bytes
        # name -> what its (name, data) jobs share after id, name and data, taken from the
        # first one prepared: the next ones need only their data encoded (20 % of the Python)
        alike: dict[str, tuple[Any, ...]] = {}
        for item, made_id in zip(items, new_job_ids(len(items)), strict=True):
            if (type(item) is tuple and len(item) == 2 and type(item[0]) is str
                    and (shared := alike.get(item[0]))):
                name, data = item
                job = NewJob._make((made_id, name, codec.encode(data, limit=limit), *shared))
            else:
                name, data, options = _unpack(item)
                job = (self._prepare(name, data, now_ms, made_id, **options) if options
                       else self._prepare(name, data, now_ms, made_id))
                if not options and self._needs_only_data(name):
                    alike[name] = job[3:]
            prepared.append(job)
            handles.append(Job(self, job.id, name, data, 0, job.attempts))
        if prepared:
            backend = await self._backend()
            await backend.scripts.enqueue(self.keys, prepared, now_ms, self.settings.max_waiting)
        return handles

    def _needs_only_data(self, name: str) -> bool:
        """Whether ``_prepare`` of a ``name`` job without options only encodes its data:
        its processor (if any) has no model to validate it and no rate key to read from it."""
        processor = self._app.processors.get(name)
        return processor is None or (processor.model is None and processor.rate_key is None)

    def _prepare(
        self, name: str, data: Any, now_ms: int, made_id: str | None, *, priority: int = 0,
        delay: Duration | None = None, run_at: datetime | None = None,
        job_id: str | None = None, attempts: int | None = None,
        backoff: Backoff | None = None, timeout: Duration | None = None,
        rate_key: str | None = None,
    ) -> NewJob:
        codec.check_job_name(name)
        processor = self._app.processors.get(name)
        if processor is not None:
            data = processor.validate(data)
        encoded = codec.encode(data, limit=self._app.max_payload_bytes)
        if type(priority) is not int or priority not in PRIORITIES:
            raise ConfigurationError(
                f"priority must be an integer from 0 (soonest) to 9, got {priority!r}"
            )
        if attempts is not None and (type(attempts) is not int or attempts < 1):
            raise ConfigurationError(f"attempts must be an integer >= 1, got {attempts!r}")
        resolved_attempts = attempts or (processor.attempts if processor else None)
        # positional: a NamedTuple built from keywords costs twice as much (bulk enqueue)
        return NewJob(
            _check_job_id(job_id) if job_id is not None else made_id or new_job_id(),
            name,
            encoded,
            priority,
            0 if delay is None and run_at is None else _due_ms(now_ms, delay, run_at),
            resolved_attempts or self.settings.attempts,
            "" if backoff is None and timeout is None else _options(backoff, timeout),
            resolve_rate_key(processor, data, rate_key),
            job_id is None,
        )

    # ----------------------------------------------------------------- inspecting

    @_reading
    async def get_job(self, job_id: str) -> JobInfo | None:
        """Everything stored about a job, or ``None`` if there is no such job."""
        backend = await self._app.backend()
        [(fields, logs)] = await reads.job_fields(backend.client, self.keys, [job_id])
        return JobInfo.from_hash(self.name, job_id, fields, logs) if fields else None

    @_reading
    async def state_of(self, job_id: str) -> JobState:
        """A job's state; raises ``JobNotFound`` if there is no such job."""
        backend = await self._app.backend()
        state, *_ = await reads.job_outcome(backend.client, self.keys, job_id)
        if state is None:
            raise JobNotFound(self.name, job_id)
        return JobState(state)

    @_reading
    async def counts(self) -> dict[str, int]:
        """Jobs per state: waiting, active, delayed, completed, failed."""
        backend = await self._app.backend()
        return await reads.counts(backend.client, self.keys)

    @_reading
    async def jobs(self, state: JobState | str, limit: int = 100) -> list[JobInfo]:
        """Up to ``limit`` jobs in ``state``, without their logs (finished ones newest first)."""
        state = _job_state(state)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise ConfigurationError(f"limit must be an integer >= 0, got {limit!r}")
        if limit == 0:
            return []
        backend = await self._app.backend()
        ids = await reads.job_ids_in(backend.client, self.keys, state.value, limit)
        found = await reads.job_fields(backend.client, self.keys, ids, with_logs=False)
        return [
            JobInfo.from_hash(self.name, job_id, fields, logs)
            for job_id, (fields, logs) in zip(ids, found, strict=True)
            if fields
        ]

    async def dead_letters(self, limit: int = 100) -> list[JobInfo]:
        """The FAILED jobs (the dead-letter queue), newest first."""
        return await self.jobs(JobState.FAILED, limit)

    @_reading
    async def is_paused(self) -> bool:
        """Whether workers are holding off this queue."""
        backend = await self._app.backend()
        return await reads.is_paused(backend.client, self.keys)

    # ----------------------------------------------------------------- managing

    async def pause(self) -> None:
        """Stop workers from starting jobs of this tier; running jobs finish."""
        await (await self._backend()).scripts.pause(self.keys, True)

    async def resume(self) -> None:
        """Let workers start jobs of this tier again."""
        await (await self._backend()).scripts.pause(self.keys, False)

    async def drain(self, *, delayed: bool = True) -> int:
        """Delete every job that has not started (waiting, and delayed unless told not to).

        Running jobs are left to finish. Returns how many jobs were deleted.
        """
        backend = await self._backend()
        total = 0
        while deleted := await backend.scripts.drain(
            self.keys, f"drainer:{new_job_id()}", 1000, delayed, self._app.now_ms()
        ):
            total += deleted
        return total

    async def remove(self, job_id: str) -> None:
        """Delete a job in any state. A running job's worker discards its outcome."""
        await (await self._backend()).scripts.remove(self.keys, job_id, self._app.now_ms())

    async def promote(self, job_id: str) -> None:
        """Run a delayed job now."""
        await (await self._backend()).scripts.promote(self.keys, job_id)

    async def retry(self, job_id: str) -> None:
        """Run a FAILED job again, with fresh attempts."""
        await (await self._backend()).scripts.retry(self.keys, job_id)

    @_reading
    async def retry_failed(self) -> int:
        """Run every job FAILED when the call starts again, once each, with fresh attempts.

        A job that fails again while the call goes on is not retried a second time, and one
        removed or retried by someone else meanwhile is skipped. Returns how many were retried.
        """
        backend = await self._backend()
        retried = 0
        for job_id in await reads.failed_ids(backend.client, self.keys):
            try:
                await backend.scripts.retry(self.keys, job_id)
            except (JobNotFound, JobStateError):
                continue
            retried += 1
        return retried

    async def clean(self, state: JobState | str, *, older_than: Duration = 0) -> int:
        """Delete completed or failed jobs that finished more than ``older_than`` ago."""
        state = _job_state(state)
        if state not in (JobState.COMPLETED, JobState.FAILED):
            raise ConfigurationError(
                f"clean takes 'completed' or 'failed', got {state.value!r}; "
                "use drain() for jobs that have not started, remove() for one job"
            )
        cutoff = self._app.now_ms() - to_ms(older_than, "older_than")
        backend = await self._backend()
        total = 0
        while deleted := await backend.scripts.clean(self.keys, state.value, cutoff, 1000):
            total += deleted
        return total

    # ----------------------------------------------------------------- used by Job

    async def set_progress(self, job_id: str, value: float,
                           run: tuple[str, str] | None = None) -> None:
        """Record a job's progress (0..100); with ``run``, only while that run is the job's."""
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
            raise ConfigurationError(f"progress must be a number from 0 to 100, got {value!r}")
        await (await self._backend()).scripts.progress(self.keys, job_id, value, run)

    async def append_log(self, job_id: str, line: str, run: tuple[str, str] | None = None) -> None:
        """Append a line to a job's log; with ``run``, only while that run is the job's."""
        await (await self._backend()).scripts.log(self.keys, job_id, str(line), MAX_LOG_LINES,
                                                  run)

    async def wait_result(self, job_id: str, timeout: Duration | None) -> Any:
        """Wait for a job to finish; its result, or ``JobFailed``/``TimeoutError``. The
        timeout bounds the whole wait, connecting and reads of Redis included, so a Redis
        slow to answer cannot stretch it; ``timeout=0`` reads the job once."""
        seconds = None if timeout is None else to_seconds(timeout, "timeout", infinite=True)
        deadline = math.inf if seconds is None else time.monotonic() + seconds
        seen: list[str] = []
        try:
            async with asyncio.timeout(seconds or None) as limit:
                backend = await self._backend()
                with translate_errors(self._app.url):
                    async with backend.result_watch(self.keys).waiting_for(job_id) as waiter:
                        state, result, error, tb = await self._outcome(
                            backend, job_id, waiter, seen, deadline)
        except TimeoutError:
            if not limit.expired():
                raise
            state = seen[-1] if seen else "unread (Redis did not answer in time)"
        if state is None:
            raise JobNotFound(self.name, job_id)
        if state == "completed":
            return None if result is None else codec.decode(result)
        if state == "failed":
            raise JobFailed(job_id, error, tb)
        raise TimeoutError(
            f"job {job_id!r} is still {state} after {timeout} s; call result() again to keep "
            f"waiting, or check that a worker serves tier {self.name!r} (streamq stats)"
        )

    async def _outcome(
        self, backend: Backend, job_id: str, waiter: Waiter, seen: list[str], deadline: float
    ) -> tuple[str | None, str | None, str | None, str | None]:
        """The job's outcome once it is done (or gone), or as it is at ``deadline`` (the
        waits end there too: ``asyncio.timeout`` alone could be lost on Python 3.11, whose
        ``wait_for`` swallows a cancellation that comes as its wait ends). Each state read
        is appended to ``seen``."""
        while True:
            outcome = await reads.job_outcome(backend.client, self.keys, job_id)
            remaining = deadline - time.monotonic()
            if outcome[0] in (None, "completed", "failed") or remaining <= 0:
                return outcome
            seen.append(outcome[0])
            await waiter.wait(remaining)


def _unpack(item: Any) -> tuple[str, Any, Mapping[str, Any]]:
    if isinstance(item, tuple) and len(item) == 2:
        return item[0], item[1], {}
    if isinstance(item, tuple) and len(item) == 3 and isinstance(item[2], Mapping):
        unknown = set(item[2]) - ENQUEUE_OPTIONS
        if unknown:
            raise ConfigurationError(
                f"unknown enqueue option(s) {sorted(unknown)}; known: {sorted(ENQUEUE_OPTIONS)}"
            )
        return item[0], item[1], item[2]
    raise ConfigurationError(
        "enqueue_many takes (name, data) or (name, data, {options}) tuples, "
        f"got {type(item).__name__}"
    )


def _job_state(value: JobState | str) -> JobState:
    try:
        return JobState(value)
    except ValueError:
        raise ConfigurationError(
            f"unknown job state {value!r}: use one of {', '.join(s.value for s in JobState)}"
        ) from None


def _check_job_id(job_id: object) -> str:
    if (not isinstance(job_id, str) or not job_id or len(job_id) > MAX_JOB_ID_LENGTH
            or not codec.is_unicode(job_id)):
        raise ConfigurationError(
            f"job_id must be a non-empty string of at most {MAX_JOB_ID_LENGTH} characters "
            f"of valid Unicode (any character, no lone surrogates), got {job_id!r}"
        )
    return job_id



def _options(backoff: Backoff | None, timeout: Duration | None) -> str:
    opts: dict[str, Any] = {}
    if backoff is not None:
        if not isinstance(backoff, Backoff):
            raise ConfigurationError("backoff must be a Backoff, e.g. Backoff.fixed(60)")
        opts["backoff"] = backoff.to_json()
    if timeout is not None:
        opts["timeout"] = timeout_seconds(timeout)
    return codec.encode(opts)


def _due_ms(now_ms: int, delay: Duration | None, run_at: datetime | None) -> int:
    if delay is not None and run_at is not None:
        raise ConfigurationError("give delay or run_at, not both")
    if delay is not None:
        ms = to_ms(delay, "delay")
        return now_ms + ms if ms > 0 else 0
    if run_at is not None:
        if not isinstance(run_at, datetime):
            raise ConfigurationError(f"run_at must be a datetime, got {type(run_at).__name__}")
        if run_at.tzinfo is None or run_at.utcoffset() is None:
            raise ConfigurationError(
                "run_at must be timezone-aware, e.g. datetime(..., tzinfo=timezone.utc): "
                "a naive datetime is ambiguous"
            )
        due = math.ceil(run_at.timestamp() * 1000)
        return due if due > now_ms else 0
    return 0



