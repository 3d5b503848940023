"""Enqueue and process jobs on several tiers while a Redis master is killed, and check the
ledger kept here, outside Redis, against what Redis holds at the end.

The producer retries every enqueue that fails with the same ``job_id`` (safe: enqueue is
deduplicated); one in-process worker runs every tier. The ledger requires: every
acknowledged job COMPLETED, or missing from Redis altogether (acknowledged by a master that
died before its replica copied it: reported as ``lost``, which the caller bounds); nothing
ran that was never enqueued; queues empty at the end. Jobs that ran twice are counted.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from streamq import App, ConnectionError, Job, JobNotFound, JobState
from tests.helpers import running

IDLE = {"waiting": 0, "active": 0, "delayed": 0}


@dataclass
class Ledger:
    """What the producer and the processor saw, with monotonic times."""

    tried: set[str] = field(default_factory=set)
    acked: dict[str, float] = field(default_factory=dict)
    effects: Counter[str] = field(default_factory=Counter)
    first_effect: dict[str, float] = field(default_factory=dict)
    enqueue_errors: int = 0


@dataclass(frozen=True)
class Report:
    """The outcome of one run; ``*_recovery_s`` are None when the kill caused no errors."""

    acked: int
    completed: int
    lost: list[str]
    duplicates: int
    enqueue_errors: int
    enqueue_recovery_s: float | None
    work_recovery_s: float | None

    def summary(self) -> str:
        """One line for the test's output (and the docs' figures)."""
        def secs(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.2f} s"
        return (f"acked={self.acked} completed={self.completed} lost={len(self.lost)} "
                f"duplicates={self.duplicates} enqueue_errors={self.enqueue_errors} "
                f"enqueue_recovery={secs(self.enqueue_recovery_s)} "
                f"work_recovery={secs(self.work_recovery_s)}")


async def run_with_kill(
    app: App, tiers: list[str], killed_tier: str, kill: Callable[[], None], *,
    before_s: float, after_s: float, settle_s: float = 30,
) -> Report:
    """Load ``tiers`` for ``before_s``, call ``kill``, keep loading ``after_s`` more seconds
    after the first successful enqueue on ``killed_tier``, then wait for the queues to empty
    and check the ledger."""
    ledger = Ledger()

    @app.processor("record")
    async def record(job: Job) -> None:
        ledger.effects[job.id] += 1
        ledger.first_effect.setdefault(job.id, time.monotonic())

    killed_at: list[float] = []
    resumed_at: list[float] = []

    async def produce() -> None:
        number = 0
        while not resumed_at or time.monotonic() - resumed_at[0] < after_s:
            tier = tiers[number % len(tiers)]
            job_id = f"{tier}-{number}"
            ledger.tried.add(job_id)
            while True:
                try:
                    await app.queue(tier).enqueue("record", job_id, job_id=job_id)
                    break
                except ConnectionError:
                    ledger.enqueue_errors += 1
                    await asyncio.sleep(0.05)
            now = time.monotonic()
            ledger.acked[job_id] = now
            if killed_at and tier == killed_tier and not resumed_at:
                resumed_at.append(now)
            number += 1
            await asyncio.sleep(0.002)

    async with running(app.worker(tiers), grace=5):
        producer = asyncio.create_task(produce())
        await asyncio.sleep(before_s)
        errors_before = ledger.enqueue_errors
        await asyncio.to_thread(kill)
        killed_at.append(time.monotonic())
        await asyncio.wait_for(producer, 60)
        await _settle(app, tiers, settle_s)
    return await _check(app, ledger, killed_tier, killed_at[0], resumed_at[0],
                        ledger.enqueue_errors > errors_before)


async def _settle(app: App, tiers: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        counts = [await app.queue(tier).counts() for tier in tiers]
        if all({k: c[k] for k in IDLE} == IDLE for c in counts):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"queues not empty after {timeout:g} s: {counts}")
        await asyncio.sleep(0.1)


async def _check(app: App, ledger: Ledger, killed_tier: str, killed_at: float,
                 resumed_at: float, had_errors: bool) -> Report:
    lost: list[str] = []
    completed = 0
    for job_id in ledger.acked:
        try:
            state = await app.queue(job_id.rsplit("-", 1)[0]).state_of(job_id)
        except JobNotFound:
            lost.append(job_id)
            continue
        assert state is JobState.COMPLETED, f"{job_id} is {state}"
        assert ledger.effects[job_id] >= 1, f"{job_id} completed but never ran"
        completed += 1
    assert set(ledger.effects) <= ledger.tried, "a job ran that was never enqueued"
    assert all(ledger.acked[job_id] < killed_at for job_id in lost), (
        f"jobs acknowledged after the kill are missing: {lost}")
    after_kill = [ledger.first_effect[j] for j, t in ledger.acked.items()
                  if t > killed_at and j.startswith(killed_tier) and j in ledger.first_effect]
    return Report(
        acked=len(ledger.acked), completed=completed, lost=lost,
        duplicates=sum(n - 1 for n in ledger.effects.values()),
        enqueue_errors=ledger.enqueue_errors,
        enqueue_recovery_s=resumed_at - killed_at if had_errors else None,
        work_recovery_s=min(after_kill) - killed_at if had_errors and after_kill else None,
    )
