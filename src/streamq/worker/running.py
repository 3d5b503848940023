"""A job a worker started, and the check of jobs started early, before claim ran."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass

import structlog

from streamq.broker.records import ClaimedJob
from streamq.broker.scripts import Claimed

log = structlog.get_logger("streamq.worker")


@dataclass(slots=True, eq=False)
class Running:
    """A job this worker started and has not yet recorded the outcome of."""

    job: ClaimedJob
    task: asyncio.Task[None] | None = None
    confirmed: asyncio.Future[bool] | None = None
    """Started from a blocking read before claim ran: whether claim started it too."""
    cancelled: bool = False
    counted: bool = False
    """Counted as processed (its outcome is known, perhaps not yet recorded)."""

    def cancel(self) -> None:
        """Stop the job's task (shutdown, or the lease was lost); its outcome is dropped."""
        self.cancelled = True
        if self.task is not None:
            self.task.cancel()


def log_task_error(task: asyncio.Task[None]) -> None:
    """A job task's done callback: log what escaped it (a fault of the worker's, not the
    job's)."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("worker error while recording a job's outcome", exc_info=exc)


class JobTasks:
    """Every job task a tier runner started that has not ended, in ``active`` or not: a
    lost lease, an early start that claim did not make, or shutdown takes a job out of
    ``active`` as its task is cancelled, and the task may still be unwinding (a processor's
    ``finally``). The runner waits for them all before it exits, so that ``on_shutdown``
    hooks run after the last job."""

    __slots__ = ("_on_end", "_tasks")

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._on_end = self._ended  # bound once, not on every job

    def start(self, job: Coroutine[None, None, None]) -> asyncio.Task[None]:
        """Run ``job`` in a task of its own (asyncio keeps only weak references to it)."""
        task = asyncio.get_running_loop().create_task(job)
        self._tasks.add(task)
        task.add_done_callback(self._on_end)  # one callback: each is a loop turn's handle
        return task

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        log_task_error(task)

    async def wait(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for every job task still running."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)


Early = dict[tuple[int, str], "Running"]
"""Jobs started before their claim answered, by ``ClaimedJob.entry_key``."""


def confirm_early(
    early: Early, claimed: Claimed, active: dict[tuple[int, str], Running], tier: str
) -> None:
    """Tell each job started early whether claim started it too.

    The early jobs it did not start (the queue was paused, or the job removed, meanwhile)
    are cancelled and dropped from ``active``: their outcomes are never recorded."""
    started = {job.entry_key for job in claimed} if isinstance(claimed, list) else set()
    for entry, running in early.items():
        assert running.confirmed is not None
        running.confirmed.set_result(entry in started)
        if entry not in started:
            log.info("job not started after all", tier=tier, job_id=running.job.id)
            running.cancel()
            active.pop(entry, None)
