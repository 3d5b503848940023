"""A tier's upkeep, independent of how many jobs run: renew the leases of its running jobs,
reclaim stalled ones, promote due delayed jobs, fire due schedule ticks, and report an event
loop that was blocked."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import anyio
import structlog

from streamq.errors import ConnectionError, QueueStateLost
from streamq.worker.scheduler import fire_due

if TYPE_CHECKING:
    from streamq.app import App
    from streamq.broker.backend import Backend
    from streamq.broker.keys import QueueKeys
    from streamq.worker.tier_runner import TierRunner

log = structlog.get_logger("streamq.worker")

LOOK_EVERY_S = 1.0
"""Longest wait between two looks for due delayed jobs and schedule ticks on Redis. A delayed
job added by another process is promoted at most this late; this worker's own retries wake
the promoter at their due time. An idle worker costs about 0.2 % CPU per tier at this rate."""
LOOK_EVERY_EMBEDDED_S = 0.25
"""The same on the embedded backend, where a look costs no round trip."""
PROMOTE_BATCH = 100
"""Delayed jobs per promote_due call: ~1 ms inside Redis (docs/retries.md has the figures)."""
RECLAIM_BATCH = 100
RETRY_PAUSE_S = 1.0
"""Pause before trying Redis again after a connection error."""


async def recreate_queue(app: App, backend: Backend, keys: QueueKeys, lost: QueueStateLost
                         ) -> None:
    """The queue's consumer group vanished (Redis lost its data): say so loudly and recreate
    it; if Redis is unreachable meanwhile, pause, and the next call tries again."""
    log.error(str(lost), tier=keys.tier)
    backend.prepared.discard(keys.tier)
    try:
        await app.backend(keys)
    except ConnectionError as exc:
        log.error("cannot recreate the queue; retrying", tier=keys.tier, error=str(exc))
        await anyio.sleep(RETRY_PAUSE_S)


class Upkeep:
    """The upkeep loop of one :class:`TierRunner`."""

    def __init__(self, runner: TierRunner) -> None:
        self.runner = runner
        self.keys = runner.keys
        self.settings = runner.settings
        self._cursors: tuple[str, ...] = ("0-0",) * 10
        self._look_every = LOOK_EVERY_S
        self._next_promote = 0.0
        self._wake = asyncio.Event()
        self.claimed = asyncio.Event()
        """Set by the runner once its first claim has answered: the first pass waits for it,
        so that the first claim does not wait in Redis behind a reclaim and a promotion."""

    def promote_at(self, at: float) -> None:
        """Look for due delayed jobs at monotonic time ``at`` if that is sooner than planned."""
        if at < self._next_promote:
            self._next_promote = at
            self._wake.set()

    async def run(self, backend: Backend) -> None:
        """Run until cancelled (the runner stops it)."""
        lease_s = self.settings.lease_ms / 1000
        renew_every, reclaim_every = lease_s / 3, min(lease_s / 2, 5.0)
        if backend.connection.is_memory:
            self._look_every = LOOK_EVERY_EMBEDDED_S
        await self.claimed.wait()
        next_reclaim = next_fire = self._next_promote = time.monotonic()
        next_renew = next_reclaim + renew_every  # the leases of the first jobs are fresh
        while True:
            now = time.monotonic()
            try:
                if now >= next_renew:
                    if now - next_renew > renew_every:
                        self._report_blocked(now - next_renew, since=next_renew)
                    await self._renew(backend)
                    next_renew = now + renew_every
                if now >= next_reclaim:
                    await self._reclaim(backend)
                    next_reclaim = now + reclaim_every
                if now >= self._next_promote:
                    self._next_promote = now + await self.promote(backend)
                if now >= next_fire:
                    next_fire = now + min(self._look_every, await fire_due(
                        self.runner.app, backend, self.settings))
            except (ConnectionError, QueueStateLost) as exc:
                log.error("queue upkeep failed; retrying", tier=self.keys.tier, error=str(exc))
                backend.prepared.discard(self.keys.tier)
                await anyio.sleep(RETRY_PAUSE_S)
                # renewal is late because Redis failed, not because the loop was blocked
                next_renew = time.monotonic()
                continue
            self._wake.clear()
            wait = min(next_renew, next_reclaim, self._next_promote, next_fire) - time.monotonic()
            with anyio.move_on_after(max(0.0, wait)):
                await self._wake.wait()

    def _report_blocked(self, late_s: float, since: float) -> None:
        """Lease renewal came ``late_s`` late: the event loop was blocked. Name the jobs that
        ran meanwhile (running now, or finished since renewal was due); say nothing if none."""
        jobs = [r.job.id for r in self.runner.active.values()]
        jobs += [job_id for at, job_id in self.runner.recent
                 if at >= since and job_id not in jobs]
        if jobs:
            log.warning("event loop was blocked: lease renewal is late; a processor may be "
                        "blocking (use async I/O or anyio.to_thread)", tier=self.keys.tier,
                        late_s=round(late_s, 2), jobs=jobs)

    async def _renew(self, backend: Backend) -> None:
        active = self.runner.active
        running = list(active.values())
        if not running:
            return
        renewed = await backend.scripts.extend(
            self.keys, self.runner.consumer, [(r.job.priority, r.job.entry) for r in running])
        for r, ok in zip(running, renewed, strict=True):
            if not ok and r.job.entry_key in active:
                log.warning("lease lost: the job was reclaimed or removed; cancelling it here",
                            tier=self.keys.tier, job_id=r.job.id)
                r.cancel()
                self.runner.done_with(r)

    async def _reclaim(self, backend: Backend) -> None:
        result = await backend.scripts.reclaim(
            self.keys, "reclaimer", self.runner.app.now_ms(), self.settings.lease_ms,
            RECLAIM_BATCH, self.settings.keep_failed, self._cursors)
        self._cursors = result.cursors
        if result.stalled:
            log.warning("reclaimed stalled jobs (their worker stopped renewing the lease)",
                        tier=self.keys.tier, jobs=list(result.stalled),
                        requeued=result.requeued, dead_lettered=result.failed)

    async def promote(self, backend: Backend) -> float:
        """Promote due delayed jobs; returns seconds until the next look."""
        now_ms = self.runner.app.now_ms()
        promoted, next_due = await backend.scripts.promote_due(self.keys, now_ms, PROMOTE_BATCH)
        if promoted >= PROMOTE_BATCH:
            return 0.0
        if next_due < 0:
            return self._look_every
        return min(max((next_due - now_ms) / 1000, 0.0), self._look_every)
