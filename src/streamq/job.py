"""Jobs: the state enum, the read-only ``JobInfo`` snapshot, and the ``Job`` handle."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from streamq import codec
from streamq.errors import InvalidPayload

if TYPE_CHECKING:
    from streamq.queue import Queue
    from streamq.timeunits import Duration


class JobState(enum.StrEnum):
    """Where a job is in its life. ``FAILED`` jobs are the dead-letter queue."""

    WAITING = "waiting"
    DELAYED = "delayed"
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"


def _when(ms: str | None) -> datetime | None:
    return None if not ms else datetime.fromtimestamp(int(ms) / 1000, UTC)


def _json(text: str | None) -> Any:
    """Stored JSON decoded; text that is not JSON (written by something other than streamq)
    reads back as that text, printable, so a corrupt job can still be inspected."""
    if text is None:
        return None
    try:
        return codec.decode(text)
    except InvalidPayload:
        return codec.printable(text)


@dataclass(frozen=True, slots=True)
class JobInfo:
    """Everything stored about one job, read at one moment (``queue.get_job``). ``error``
    and ``traceback`` are those of the last failed attempt, kept when a later one
    completes. ``logs`` are read by ``get_job`` only: listings (``jobs``,
    ``dead_letters``) leave them empty, one read a job less."""

    id: str
    name: str
    tier: str
    state: JobState
    data: Any
    attempt: int
    attempts: int
    priority: int
    progress: float
    result: Any
    error: str | None
    traceback: str | None
    logs: list[str]
    enqueued_at: datetime | None
    run_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    worker: str | None

    @classmethod
    def from_hash(cls, tier: str, job_id: str, h: dict[str, str], logs: list[str]) -> JobInfo:
        """Build from the job hash's fields (see docs/architecture.md)."""
        return cls(
            id=job_id,
            name=h.get("name", ""),
            tier=tier,
            state=JobState(h["state"]),
            data=_json(h.get("data")),
            attempt=int(h.get("attempt", 0)),
            attempts=int(h.get("max", 0)),
            priority=int(h.get("prio", 0)),
            progress=float(h.get("progress", 0)),
            result=_json(h.get("result")),
            error=h.get("error") or None,
            traceback=h.get("tb") or None,
            logs=logs,
            enqueued_at=_when(h.get("enq")),
            run_at=_when(h.get("due")),
            started_at=_when(h.get("start")),
            finished_at=_when(h.get("end")),
            worker=h.get("worker"),
        )


class Job:
    """A handle on one job: returned by enqueue, and passed to the processor that runs it.

    In a processor, ``data`` is the job's data (an instance of the processor's ``model``
    when it has one) and ``attempt`` the 1-based attempt number. On the handle ``enqueue``
    returns, ``data`` and ``attempts`` are what the call passed (before the model's
    validation), ``attempt`` is 0, and an existing job with the same ``job_id`` keeps its
    own: ``queue.get_job(job.id)`` shows what is stored.
    """

    __slots__ = ("_queue", "_run", "attempt", "attempts", "data", "id", "name")

    def __init__(
        self, queue: Queue, job_id: str, name: str, data: Any, attempt: int = 0,
        attempts: int = 0, run: tuple[str, str] | None = None,
    ) -> None:
        self._queue = queue
        self._run = run
        """In a processor: (entry, consumer) of the run, which progress and log check."""
        self.id = job_id
        self.name = name
        self.data = data
        self.attempt = attempt
        self.attempts = attempts

    @property
    def tier(self) -> str:
        """The tier (queue) the job belongs to."""
        return self._queue.name

    def __repr__(self) -> str:
        return f"<Job {self.id!r} {self.name!r} tier={self.tier!r} attempt={self.attempt}>"

    async def state(self) -> JobState:
        """The job's current state; raises ``JobNotFound`` if it no longer exists."""
        return await self._queue.state_of(self.id)

    async def info(self) -> JobInfo:
        """Everything stored about the job; raises ``JobNotFound`` if it no longer exists."""
        info = await self._queue.get_job(self.id)
        if info is None:
            from streamq.errors import JobNotFound

            raise JobNotFound(self.tier, self.id)
        return info

    async def result(self, timeout: Duration | None = None) -> Any:
        """Wait for the job to finish and return its result.

        Raises ``JobFailed`` if it ended FAILED, ``TimeoutError`` if it has not finished
        within ``timeout`` (seconds or a ``timedelta``; the reads of Redis count too, and
        0 reads the job once). Woken by the queue's events, not by polling.
        """
        return await self._queue.wait_result(self.id, timeout)

    async def progress(self, value: float) -> None:
        """Record progress, 0..100, visible to ``queue.get_job``: from the processor running
        the job (on a job that is not running, ``JobStateError``). In a processor whose run
        lost the job (removed, or reclaimed after its lease) it raises ``JobStateError``
        and writes nothing: the job's next run keeps its own progress."""
        await self._queue.set_progress(self.id, value, self._run)

    async def log(self, line: str) -> None:
        """Append a line to the job's log (the newest 1000 lines are kept); like
        ``progress``, refused to a run that lost the job."""
        await self._queue.append_log(self.id, line, self._run)
