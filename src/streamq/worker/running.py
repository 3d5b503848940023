"""A job a worker started, and the check of jobs started early, before claim ran."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass

from streamq.broker.records import ClaimedJob
from streamq.broker.scripts import RateLimited


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


Claimed = list[ClaimedJob] | RateLimited | None
Early = dict[tuple[int, str], "Running"]
"""Jobs started before their claim answered, by ``ClaimedJob.entry_key``."""


async def claim_early(
    claim: Coroutine[None, None, Claimed], start: Callable[[], Early]
) -> tuple[Claimed, list[Running]]:
    """Run ``claim`` and, as soon as its command is on its way, ``start()`` the jobs that
    run before claim answers. Returns claim's answer and the early jobs it
    did not start, which the caller cancels and forgets."""
    claiming = asyncio.ensure_future(claim)
    # One loop turn: claim's first step writes its command, or queues the write ahead of
    # the early jobs' first steps, so a job that kills its worker has used an attempt.
    await asyncio.sleep(0)
    early = start()
    claimed = await claiming
    return claimed, confirm_early(early, claimed)


def confirm_early(
    early: Early, claimed: Claimed
) -> list[Running]:
    """Tell each job started early whether claim started it too.

    Returns the early jobs it did not start (the queue was paused, or the job removed,
    meanwhile): the caller cancels and forgets those, and their outcomes are never
    recorded."""
    started = {job.entry_key for job in claimed} if isinstance(claimed, list) else set()
    refused = []
    for entry, running in early.items():
        assert running.confirmed is not None
        running.confirmed.set_result(entry in started)
        if entry not in started:
            refused.append(running)
    return refused
