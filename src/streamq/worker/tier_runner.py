"""One tier inside a worker: claim jobs into free slots, run them, record outcomes in
batches, renew leases, reclaim stalled jobs and promote due delayed ones."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import structlog

from streamq.broker.consumers import BlockingReader, delete_consumer
from streamq.broker.records import ClaimedJob, Finished
from streamq.broker.scripts import RateLimited
from streamq.errors import ConnectionError, QueueStateLost
from streamq.worker.runner import Completed, run_job
from streamq.worker.scheduler import fire_due

if TYPE_CHECKING:
    from streamq.app import App
    from streamq.broker.backend import Backend
    from streamq.config import TierSettings

log = structlog.get_logger("streamq.worker")

IDLE_BLOCK_MS = 2000
"""How long an idle worker blocks in Redis per read (it wakes at once when a job arrives)."""
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
RATE_WAIT_MAX_S = 1.0
"""Longest wait for a rate limit's next token before asking Redis again."""


@dataclass(slots=True, eq=False)
class Running:
    """A job this worker started and has not yet recorded the outcome of."""

    job: ClaimedJob
    task: asyncio.Task[None] | None = None
    cancelled: bool = False

    def cancel(self) -> None:
        """Stop the job's task (shutdown, or the lease was lost); its outcome is dropped."""
        self.cancelled = True
        if self.task is not None:
            self.task.cancel()


class TierRunner:
    """Runs the jobs of one tier with its own concurrency limit."""

    def __init__(self, app: App, settings: TierSettings, concurrency: int, consumer: str) -> None:
        self.app = app
        self.settings = settings
        self.queue = app.queue(settings.name)
        self.keys = self.queue.keys
        self.concurrency = concurrency
        self.consumer = consumer
        self.active: dict[str, Running] = {}
        self.processed = 0
        self.on_finished: Callable[[], None] | None = None
        """Called after each finished job (the worker's recycling watch sets it)."""
        self._recent: deque[tuple[float, str]] = deque(maxlen=256)
        """(monotonic time, job id) of the last jobs finished: a blocked-loop report names
        a job that blocked the loop even if it finished before the upkeep loop could run."""
        self._slot_freed = asyncio.Event()
        self._done: list[tuple[Running, Finished]] = []
        self._done_ready = asyncio.Event()
        self._stopping = False
        self._grace = 0.0
        self._grace_scope: anyio.CancelScope | None = None
        self._idle_scope: anyio.CancelScope | None = None
        self._cursors: tuple[str, ...] = ("0-0",) * 10
        self._look_every = LOOK_EVERY_S
        self._next_promote = 0.0
        self._upkeep_wake = asyncio.Event()
        self._reader: BlockingReader | None = None

    # ----------------------------------------------------------------- lifecycle

    async def run(self, burst: bool) -> None:
        """Run until :meth:`request_stop` (or, with ``burst``, until nothing is left)."""
        backend = await self.app.backend(self.keys)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._flush_loop, backend)
                tg.start_soon(self._maintenance_loop, backend)
                await self._fetch_loop(backend, burst)
                await self._shut_down(backend)
                tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await self._cancel_leftovers()
                if self._reader is not None:
                    await self._reader.aclose()

    def request_stop(self, grace: float) -> None:
        """Stop claiming; running jobs get ``grace`` seconds, then are handed back."""
        self._grace = min(self._grace, grace) if self._stopping else grace
        self._stopping = True
        self._slot_freed.set()
        if self._idle_scope is not None:
            self._idle_scope.cancel()
        if self._grace_scope is not None:  # already shutting down: a shorter grace wins
            deadline = anyio.current_time() + grace
            self._grace_scope.deadline = min(self._grace_scope.deadline, deadline)

    async def _shut_down(self, backend: Backend) -> None:
        with anyio.move_on_after(self._grace) as self._grace_scope:
            while self.active:
                self._slot_freed.clear()
                await self._slot_freed.wait()
        self._grace_scope = None
        recorded = {running for running, _ in self._done}  # finished, awaiting the flush
        unfinished = [r for r in self.active.values() if r not in recorded]
        for running in unfinished:
            running.cancel()
        if cancelled := [r.task for r in unfinished if r.task is not None]:
            await asyncio.wait(cancelled, timeout=5)
        if unfinished:
            with contextlib.suppress(ConnectionError):
                await backend.scripts.release(
                    self.keys, self.consumer,
                    [(r.job.id, r.job.priority, r.job.entry) for r in unfinished],
                )
            log.warning("handed running jobs back at shutdown", tier=self.keys.tier,
                        jobs=[r.job.id for r in unfinished])
            for running in unfinished:
                self.active.pop(running.job.entry, None)
        with anyio.move_on_after(5):
            while self.active:
                self._slot_freed.clear()
                await self._slot_freed.wait()
        if not self.active:
            with contextlib.suppress(ConnectionError):
                await delete_consumer(backend.client, backend.connection.url, self.keys,
                                      self.consumer)

    # ----------------------------------------------------------------- claiming

    async def _fetch_loop(self, backend: Backend, burst: bool) -> None:
        delivered: list[tuple[int, str, str]] = []
        wakeup = backend.connection.wakeup
        swept = False  # burst: a claim made after a promotion pass found nothing new
        while not self._stopping:
            free = self.concurrency - len(self.active)
            if free <= 0:
                await self._wait_for_slot()
                continue
            mark = wakeup.version(self.keys.tier) if wakeup else 0
            jobs = await self._claim(backend, free, delivered, burst)
            delivered = []
            if jobs is None:
                await self._idle(backend, mark, paused=True)
                continue
            if isinstance(jobs, RateLimited):
                await self._wait_for_token(jobs.wait_ms)
                continue
            for job in jobs:
                self._start(backend, job)
            if jobs:
                swept = False
                continue
            if burst:
                if self.active:
                    await self._wait_for_slot()
                    continue
                if swept:
                    return
                # Claim once more after this pass even if it promoted nothing: the
                # maintenance loop may have promoted due jobs since the last claim.
                await fire_due(self.app, backend, self.settings)
                await backend.scripts.promote_due(self.keys, self.app.now_ms(), PROMOTE_BATCH)
                swept = True
                continue
            delivered = await self._idle(backend, mark, paused=False)

    async def _claim(
        self, backend: Backend, free: int, delivered: list[tuple[int, str, str]], burst: bool
    ) -> list[ClaimedJob] | RateLimited | None:
        try:
            return await backend.scripts.claim(
                self.keys, self.consumer, self.app.now_ms(), free, delivered,
                rate_limit=self.settings.rate_limit,
                rate_limit_per_key=self.settings.rate_limit_per_key)
        except QueueStateLost as exc:
            log.error(str(exc), tier=self.keys.tier)
            backend.prepared.discard(self.keys.tier)
            await self.app.backend(self.keys)
            return []
        except ConnectionError as exc:
            if burst:
                raise
            log.error("cannot claim jobs; retrying", tier=self.keys.tier, error=str(exc))
            await anyio.sleep(RETRY_PAUSE_S)
            return []

    async def _wait_for_token(self, wait_ms: int) -> None:
        """Rate-limited: sleep until the next token (at most RATE_WAIT_MAX_S; stop ends it).
        Nothing is held meanwhile: the jobs stay in Redis, their attempts unchanged."""
        with anyio.CancelScope() as scope:
            self._idle_scope = scope
            try:
                if not self._stopping:
                    await anyio.sleep(min(wait_ms / 1000, RATE_WAIT_MAX_S))
            finally:
                self._idle_scope = None

    async def _wait_for_slot(self) -> None:
        self._slot_freed.clear()
        if self.concurrency - len(self.active) <= 0 and not self._stopping:
            await self._slot_freed.wait()

    async def _idle(self, backend: Backend, mark: int, paused: bool) -> list[tuple[int, str, str]]:
        """Wait for work: in a blocking read on Redis, on the wake-up when embedded."""
        wakeup = backend.connection.wakeup
        with anyio.CancelScope() as scope:
            self._idle_scope = scope
            try:
                if self._stopping:
                    return []
                if wakeup is not None:
                    await wakeup.wait(self.keys.tier, mark, IDLE_BLOCK_MS / 1000)
                elif paused:
                    await anyio.sleep(RETRY_PAUSE_S / 2)
                else:
                    return await self._blocking_read(backend)
            finally:
                self._idle_scope = None
        return []

    async def _blocking_read(self, backend: Backend) -> list[tuple[int, str, str]]:
        if self._reader is None:
            self._reader = BlockingReader(backend.connection, self.keys, self.consumer)
        try:
            return await self._reader.read(IDLE_BLOCK_MS)
        except QueueStateLost as exc:
            log.error(str(exc), tier=self.keys.tier)
            backend.prepared.discard(self.keys.tier)
            await self.app.backend(self.keys)
        except ConnectionError as exc:
            log.error("cannot read jobs; retrying", tier=self.keys.tier, error=str(exc))
            await anyio.sleep(RETRY_PAUSE_S)
        return []

    # ----------------------------------------------------------------- running

    def _start(self, backend: Backend, job: ClaimedJob) -> None:
        # A plain asyncio task per job: an anyio task-group spawn plus a cancel scope cost a
        # third of the worker's CPU per job. run() cancels and awaits leftovers on exit.
        running = self.active[job.entry] = Running(job)
        running.task = asyncio.get_running_loop().create_task(self._run_one(backend, running))
        running.task.add_done_callback(self._job_task_done)

    @staticmethod
    def _job_task_done(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("worker error while recording a job's outcome", exc_info=exc)

    async def _cancel_leftovers(self) -> None:
        tasks = [r.task for r in self.active.values() if r.task is not None]
        for running in self.active.values():
            running.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)

    async def _run_one(self, backend: Backend, running: Running) -> None:
        job = running.job
        try:
            outcome = await run_job(job, self.app.processors.get(job.name), self.queue,
                                    self.settings, self.app.hooks)
        except asyncio.CancelledError:
            if running.cancelled:
                return
            raise
        if isinstance(outcome, Completed):
            self._done.append((running, Finished(job.id, job.priority, job.entry,
                                                 outcome.result)))
            self._done_ready.set()
            return
        try:
            status = await backend.scripts.fail(
                self.keys, self.consumer, job, self.app.now_ms(), error=outcome.error,
                traceback=outcome.traceback, retry_delay_ms=outcome.retry_delay_ms,
                keep=self.settings.keep_failed)
        except ConnectionError as exc:
            status = f"unrecorded ({exc}); the job runs again after its lease"
        if status == "delayed" and outcome.retry_delay_ms is not None:
            self._promote_at(time.monotonic() + outcome.retry_delay_ms / 1000)
        log.info("job attempt failed", tier=self.keys.tier, job_id=job.id, job=job.name,
                 attempt=job.attempt, attempts=job.attempts, error=outcome.error, now=status)
        self._finished(running)

    def _finished(self, running: Running) -> None:
        if self.active.pop(running.job.entry, None) is not None:
            self.processed += 1
            self._recent.append((time.monotonic(), running.job.id))
            if self.on_finished is not None:
                self.on_finished()
        self._slot_freed.set()

    async def _flush_loop(self, backend: Backend) -> None:
        """Record completed jobs in batches: one script call for all that finished meanwhile."""
        while True:
            await self._done_ready.wait()
            self._done_ready.clear()
            batch, self._done = self._done, []
            try:
                recorded = await backend.scripts.complete(
                    self.keys, self.consumer, self.app.now_ms(), self.settings.keep_completed,
                    [finished for _, finished in batch])
            except ConnectionError as exc:
                log.error("cannot record completed jobs; retrying", tier=self.keys.tier,
                          error=str(exc))
                self._done[:0] = batch
                self._done_ready.set()
                await anyio.sleep(RETRY_PAUSE_S)
                continue
            for (running, _), ok in zip(batch, recorded, strict=True):
                if not ok:
                    log.warning("lease lost before completion: result discarded",
                                tier=self.keys.tier, job_id=running.job.id)
                self._finished(running)

    # ----------------------------------------------------------------- upkeep

    def _promote_at(self, at: float) -> None:
        """Look for due delayed jobs at monotonic time ``at`` if that is sooner than planned."""
        if at < self._next_promote:
            self._next_promote = at
            self._upkeep_wake.set()

    async def _maintenance_loop(self, backend: Backend) -> None:
        lease_s = self.settings.lease_ms / 1000
        renew_every, reclaim_every = lease_s / 3, min(lease_s / 2, 5.0)
        if backend.connection.is_memory:
            self._look_every = LOOK_EVERY_EMBEDDED_S
        next_renew = next_reclaim = next_fire = self._next_promote = time.monotonic()
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
                    self._next_promote = now + await self._promote(backend)
                if now >= next_fire:
                    next_fire = now + min(self._look_every,
                                          await fire_due(self.app, backend, self.settings))
            except (ConnectionError, QueueStateLost) as exc:
                log.error("queue upkeep failed; retrying", tier=self.keys.tier, error=str(exc))
                backend.prepared.discard(self.keys.tier)
                await anyio.sleep(RETRY_PAUSE_S)
                continue
            self._upkeep_wake.clear()
            wait = min(next_renew, next_reclaim, self._next_promote, next_fire) - time.monotonic()
            with anyio.move_on_after(max(0.0, wait)):
                await self._upkeep_wake.wait()

    def _report_blocked(self, late_s: float, since: float) -> None:
        """Lease renewal came ``late_s`` late: the event loop was blocked. Name the jobs that
        ran meanwhile (running now, or finished since renewal was due); say nothing if none."""
        jobs = [r.job.id for r in self.active.values()]
        jobs += [job_id for at, job_id in self._recent if at >= since and job_id not in jobs]
        if jobs:
            log.warning("event loop was blocked: lease renewal is late; a processor may be "
                        "blocking (use async I/O or anyio.to_thread)", tier=self.keys.tier,
                        late_s=round(late_s, 2), jobs=jobs)

    async def _renew(self, backend: Backend) -> None:
        running = list(self.active.values())
        if not running:
            return
        renewed = await backend.scripts.extend(
            self.keys, self.consumer, [(r.job.priority, r.job.entry) for r in running])
        for r, ok in zip(running, renewed, strict=True):
            if not ok and r.job.entry in self.active:
                log.warning("lease lost: the job was reclaimed or removed; cancelling it here",
                            tier=self.keys.tier, job_id=r.job.id)
                r.cancel()
                self._finished(r)

    async def _reclaim(self, backend: Backend) -> None:
        result = await backend.scripts.reclaim(
            self.keys, "reclaimer", self.app.now_ms(), self.settings.lease_ms, RECLAIM_BATCH,
            self.settings.keep_failed, self._cursors)
        self._cursors = result.cursors
        if result.stalled:
            log.warning("reclaimed stalled jobs (their worker stopped renewing the lease)",
                        tier=self.keys.tier, jobs=list(result.stalled),
                        requeued=result.requeued, dead_lettered=result.failed)

    async def _promote(self, backend: Backend) -> float:
        """Promote due delayed jobs; returns seconds until the next look."""
        now_ms = self.app.now_ms()
        promoted, next_due = await backend.scripts.promote_due(self.keys, now_ms, PROMOTE_BATCH)
        if promoted >= PROMOTE_BATCH:
            return 0.0
        if next_due < 0:
            return self._look_every
        return min(max((next_due - now_ms) / 1000, 0.0), self._look_every)
