"""The App that chaos-suite worker processes run: ``streamq worker --app
tests.chaos.chaos_app:app``.

Configured from the environment (the test sets it): ``STREAMQ_CHAOS_URL``,
``STREAMQ_CHAOS_NAMESPACE``, ``STREAMQ_CHAOS_LEDGER`` (the directory of the ledger files),
``STREAMQ_CHAOS_LEASE`` (seconds) and ``STREAMQ_CHAOS_WORK_MS`` ("min,max" ms of work).

``work`` appends a start line and, after its work, an effect line to this process's ledger
file; ``poison`` kills its own process every time it runs.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal

from streamq import App, Job, Tier
from tests.chaos.ledger import EFFECT, START, LedgerWriter

TIER = "standard"
ATTEMPTS = 10
"""Generous, so a job hit by several kills in a row still completes (stalls count)."""


def chaos_tier(lease: float) -> Tier:
    """The tier the chaos workers and producers use: every finished job kept for the check."""
    return Tier(TIER, lease=lease, attempts=ATTEMPTS, keep_completed=10_000_000,
                keep_failed=10_000_000)


def build_app(url: str, namespace: str, lease: float) -> App:
    """The chaos App (producers build it too, to enqueue with the same tier settings)."""
    return App(url, namespace=namespace, tiers=[chaos_tier(lease)])


def _work_range() -> tuple[float, float]:
    low, high = os.environ.get("STREAMQ_CHAOS_WORK_MS", "2,20").split(",")
    return float(low) / 1000, float(high) / 1000


app = build_app(os.environ.get("STREAMQ_CHAOS_URL", "redis://127.0.0.1:6410/0"),
                os.environ.get("STREAMQ_CHAOS_NAMESPACE", "chaos"),
                float(os.environ.get("STREAMQ_CHAOS_LEASE", "1")))
_ledger = LedgerWriter(os.environ.get("STREAMQ_CHAOS_LEDGER", "."))
_low, _high = _work_range()


@app.processor("work", tier=TIER)
async def work(job: Job) -> int:
    """Record the start, work a little, record the effect (the job's side effect)."""
    _ledger.write(START, job.id, job.attempt)
    await asyncio.sleep(random.uniform(_low, _high))
    _ledger.write(EFFECT, job.id, job.attempt)
    return job.attempt


@app.processor("poison", tier=TIER)
async def poison(job: Job) -> None:
    """Kill this worker process, every time."""
    _ledger.write(START, job.id, job.attempt)
    os.kill(os.getpid(), signal.SIGKILL)
