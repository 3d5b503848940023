"""One tier inside a worker: claim jobs into free slots, run them, record outcomes in
batches; its upkeep (worker/upkeep.py) renews leases, reclaims stalled jobs and promotes due
delayed ones."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING

import anyio
import structlog

from streamq.broker.consumers import BlockingReader, retire_consumer
from streamq.broker.records import ClaimedJob, Delivered, Finished
from streamq.broker.scripts import Claimed, RateLimited
from streamq.errors import ConnectionError, QueueStateLost
from streamq.worker.failures import record_failure
from streamq.worker.hooks import SoftTimeouts
from streamq.worker.runner import Completed, run_job
from streamq.worker.running import Early, JobTasks, Running, confirm_early
from streamq.worker.scheduler import fire_due
from streamq.worker.upkeep import PROMOTE_BATCH, RETRY_PAUSE_S, Upkeep, recreate_queue

if TYPE_CHECKING:
    from streamq.app import App
    from streamq.broker.backend import Backend
    from streamq.config import TierSettings
    from streamq.worker.burst import BurstGroup

log = structlog.get_logger("streamq.worker")

IDLE_BLOCK_MS = 2000
"""How long an idle worker blocks in Redis per read (it wakes at once when a job arrives)."""
RATE_WAIT_MAX_S = 1.0
"""Longest wait for a rate limit's next token before asking Redis again."""
BURST_LOOK_S = 1.0
"""A burst run with jobs running and none ready claims again when one finishes, or this late."""
CLAIM_AHEAD_BELOW_S = 0.02
"""A tier whose jobs take less than this on average (in this worker) claims up to
``concurrency`` jobs ahead of its free slots, so that Redis runs the next claim while the
worker runs the jobs it holds; longer jobs never wait in a worker (docs/architecture.md)."""


class TierRunner:
    """Runs the jobs of one tier with its own concurrency limit."""

    def __init__(self, app: App, settings: TierSettings, concurrency: int, consumer: str) -> None:
        self.app = app
        self.settings = settings
        self.queue = app.queue(settings.name)
        self.keys = self.queue.keys
        self.concurrency = concurrency
        self.consumer = consumer
        self.active: dict[tuple[int, str], Running] = {}
        self.processed = 0
        self.on_finished: list[Callable[[], None]] = []
        """Called after each finished job (the recycling watch, a burst run's group)."""
        self.recent: deque[tuple[float, str]] = deque(maxlen=256)
        """(monotonic time, job id) of the last jobs finished: a blocked-loop report names
        a job that blocked the loop even if it finished before the upkeep loop could run."""
        self._slot_freed = asyncio.Event()
        self._done: list[tuple[Running, Finished]] = []
        self.failing: set[Running] = set()
        """Jobs whose failed attempt is being recorded (worker/failures.py)."""
        self._held: deque[Running] = deque()
        """Jobs claimed ahead, waiting here for a slot (their leases are renewed)."""
        self._running = 0
        """Processors running now."""
        self._job_seconds = 1.0
        """Moving average of how long this tier's processors take (starts out long)."""
        self._recording = 0
        """Jobs in the complete call under way."""
        self._done_ready = asyncio.Event()
        self._stopping = False
        self._grace = 0.0
        self._grace_scope: anyio.CancelScope | None = None
        self._idle_scope: anyio.CancelScope | None = None
        self.upkeep = Upkeep(self)
        self.soft_timeouts = SoftTimeouts(app.hooks)
        self._tasks = JobTasks()
        self._reader: BlockingReader | None = None

    # ----------------------------------------------------------------- lifecycle

    async def run(self, burst: BurstGroup | None) -> None:
        """Run until :meth:`request_stop` (in a ``burst`` run: until all its tiers are idle)."""
        backend = await self.app.backend(self.keys)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._flush_loop, backend)
                tg.start_soon(self.upkeep.run, backend)
                await self._fetch_loop(backend, burst)
                await self._shut_down(backend)
                tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await self._cancel_leftovers()
                await self._close_reader()

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
        await self._hand_back_held(backend)
        with anyio.move_on_after(self._grace) as self._grace_scope:
            while self.active:
                self._slot_freed.clear()
                await self._slot_freed.wait()
        self._grace_scope = None
        recorded = {r for r, _ in self._done} | self.failing  # finished, being recorded
        unfinished = [r for r in self.active.values() if r not in recorded]
        for running in unfinished:
            running.cancel()
        if cancelled := [r.task for r in unfinished if r.task is not None]:
            await asyncio.wait(cancelled, timeout=5)
        if unfinished:
            await self._release(backend, unfinished)
            log.warning("handed running jobs back at shutdown", tier=self.keys.tier,
                        jobs=[r.job.id for r in unfinished])
        with anyio.move_on_after(5):
            while self.active:
                self._slot_freed.clear()
                await self._slot_freed.wait()
        if not self.active:
            await self._close_reader()  # a read still blocked in Redis could deliver meanwhile
            with contextlib.suppress(ConnectionError):
                await retire_consumer(backend, self.keys, self.consumer, self.app.now_ms())

    async def _close_reader(self) -> None:
        if self._reader is not None:
            await self._reader.aclose()
            self._reader = None

    async def _hand_back_held(self, backend: Backend) -> None:
        """Jobs claimed ahead that never started go back to the queue at once (their
        attempt uncounted), so a stopping worker does not sit on them."""
        held = [r for r in self._held if not r.cancelled]
        self._held.clear()
        if held:
            await self._release(backend, held)
            self._slot_freed.set()

    async def _release(self, backend: Backend, jobs: list[Running]) -> None:
        """Hand ``jobs`` back to the queue, attempt uncounted, and forget them."""
        with contextlib.suppress(ConnectionError):
            await backend.scripts.release(
                self.keys, self.consumer, [(r.job.id, r.job.priority, r.job.entry) for r in jobs])
        for running in jobs:
            self.active.pop(running.job.entry_key, None)

    # ----------------------------------------------------------------- claiming

    async def _fetch_loop(self, backend: Backend, burst: BurstGroup | None) -> None:
        delivered: list[Delivered] = []
        wakeup = backend.connection.wakeup
        swept: int | None = None  # burst: the generation when a pass found nothing new
        while not self._stopping:
            free = self._free_slots()
            if free <= 0:
                await self._wait_for_slot()
                continue
            mark = wakeup.version(self.keys.tier) if wakeup else 0
            jobs = await self._claim(backend, free, delivered, burst is not None)
            delivered = []
            self.upkeep.claimed.set()
            if jobs is None:
                await self._idle(backend, mark, paused=True)
                continue
            if isinstance(jobs, RateLimited):
                await self._wait_for_token(jobs.wait_ms)
                continue
            for job in jobs:
                self._start(backend, job)
            if jobs:
                swept = None
                continue
            if burst is not None:
                if self.active:
                    await self._wait_for_slot(finish=True)
                    continue
                if swept is not None and await burst.over(self, swept):
                    return
                # the upkeep loop may have promoted due jobs since the last claim: once more
                swept = burst.generation
                await fire_due(self.app, backend, self.settings)
                await backend.scripts.promote_due(self.keys, self.app.now_ms(), PROMOTE_BATCH)
                continue
            delivered = await self._idle(backend, mark, paused=False)

    async def _claim(
        self, backend: Backend, free: int, delivered: list[Delivered], burst: bool
    ) -> Claimed:
        """Claim; jobs held in delivered entries start as soon as the claim is sent, a round
        trip sooner, unless the tier is rate-limited (only claim applies the limits)."""
        limited = self.settings.rate_limit or self.settings.rate_limit_per_key
        sent = None if limited or not any(one.held for one in delivered) else (
            backend.scripts.claim_now(self.keys, self.consumer, self.app.now_ms(), free,
                                      delivered))
        if sent is None:
            return await self._claim_in_redis(backend, backend.scripts.claim(
                self.keys, self.consumer, self.app.now_ms(), free, delivered,
                rate_limit=self.settings.rate_limit,
                rate_limit_per_key=self.settings.rate_limit_per_key), burst)
        early = self._start_early(backend, delivered, free)
        claimed = await self._claim_in_redis(backend, sent, burst)
        confirm_early(early, claimed, self.active, self.keys.tier)
        return claimed

    def _start_early(self, backend: Backend, delivered: list[Delivered], free: int) -> Early:
        early: Early = {}
        for one in delivered:
            if one.held is not None and len(early) < free and self._running < self.concurrency:
                running = Running(one.held, confirmed=asyncio.get_running_loop().create_future())
                self.active[one.held.entry_key] = early[one.held.entry_key] = running
                self._launch(backend, running)
        return early

    async def _claim_in_redis(
        self, backend: Backend, claim: Coroutine[None, None, Claimed], burst: bool
    ) -> Claimed:
        try:
            claimed = await claim
        except QueueStateLost as exc:
            await recreate_queue(self.app, backend, self.keys, exc)
            return []
        except ConnectionError as exc:
            if burst:
                raise
            log.error("cannot claim jobs; retrying", tier=self.keys.tier, error=str(exc))
            await anyio.sleep(RETRY_PAUSE_S)
            return []
        return [] if claimed is None and burst else claimed  # paused: idle, for a burst run

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

    async def _wait_for_slot(self, finish: bool = False) -> None:
        """Until a slot is free; ``finish`` (a burst run that found nothing to claim): until
        a running job finishes, or BURST_LOOK_S for jobs enqueued meanwhile."""
        self._slot_freed.clear()
        if finish:
            with anyio.move_on_after(BURST_LOOK_S):
                await self._slot_freed.wait()
        elif self._free_slots() <= 0 and not self._stopping:
            await self._slot_freed.wait()

    def _free_slots(self) -> int:
        """How many jobs to claim. A job whose processor returned frees its slot before its
        outcome is recorded, so the next claim overlaps the batch's complete call (at
        most ``concurrency`` such jobs count as free). Short jobs are claimed up to
        ``concurrency`` ahead (CLAIM_AHEAD_BELOW_S), so the worker has jobs to run while
        Redis answers the next claim."""
        unrecorded = min(len(self._done) + self._recording + len(self.failing), self.concurrency)
        ahead = self.concurrency if self._job_seconds < CLAIM_AHEAD_BELOW_S else 0
        return self.concurrency + ahead - len(self.active) + unrecorded

    async def _idle(self, backend: Backend, mark: int, paused: bool) -> list[Delivered]:
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

    async def _blocking_read(self, backend: Backend) -> list[Delivered]:
        if self._reader is None:
            self._reader = BlockingReader(backend.connection, self.keys, self.consumer)
        try:
            delivered = await self._reader.read(IDLE_BLOCK_MS)
            if delivered and self._free_slots() <= 0:  # the slots filled during the read:
                await self._claim(backend, 0, delivered, False)  # hand its entries back now
                return []
            return delivered
        except QueueStateLost as exc:
            await recreate_queue(self.app, backend, self.keys, exc)
        except ConnectionError as exc:
            log.error("cannot read jobs; retrying", tier=self.keys.tier, error=str(exc))
            await anyio.sleep(RETRY_PAUSE_S)
        return []

    # ----------------------------------------------------------------- running

    def _start(self, backend: Backend, job: ClaimedJob) -> None:
        if job.entry_key in self.active:  # it started early, before its claim answered
            return
        running = self.active[job.entry_key] = Running(job)
        if self._running < self.concurrency and not self._stopping:  # stopping: handed back
            self._launch(backend, running)
        else:
            self._held.append(running)

    def _start_held(self, backend: Backend) -> None:
        while self._held and self._running < self.concurrency and not self._stopping:
            running = self._held.popleft()
            if not running.cancelled:  # its lease was lost while it waited
                self._launch(backend, running)

    def _launch(self, backend: Backend, running: Running) -> None:
        # A plain asyncio task per job: an anyio task-group spawn plus a cancel scope cost a
        # third of the worker's CPU per job. run() cancels and awaits leftovers on exit.
        self._running += 1
        running.task = self._tasks.start(self._run_one(backend, running))

    async def _cancel_leftovers(self) -> None:
        for running in self.active.values():
            running.cancel()
        await self._tasks.wait(timeout=5)

    async def _run_one(self, backend: Backend, running: Running) -> None:
        job = running.job
        started = time.monotonic()
        outcome = None
        try:
            outcome = await run_job(job, self.app.processors.get(job.name), self.queue,
                                    self.settings, self.consumer, self.app.hooks,
                                    self.soft_timeouts)
        except asyncio.CancelledError:
            if running.cancelled:
                return
            raise
        finally:
            self._running -= 1
            self._job_seconds += (time.monotonic() - started - self._job_seconds) / 16
            if outcome is not None and running.confirmed is None:
                self._count(running)  # first: reaching max_jobs stops held jobs starting
            self._start_held(backend)
        if running.confirmed is not None:  # started early: counted once its claim confirms it
            if not await running.confirmed:
                return
            self._count(running)
        if isinstance(outcome, Completed):
            self._done.append((running, Finished(job.id, job.priority, job.entry, outcome.result)))
            self._done_ready.set()
            self._slot_freed.set()
            return
        await record_failure(self, backend, running, outcome)

    def free_slot(self) -> None:
        """Wake the claiming loop: a slot is free (or counts as free)."""
        self._slot_freed.set()

    def done_with(self, running: Running) -> None:
        """Forget a job whose outcome is recorded or dropped (lease lost): its slot and its
        lease are free."""
        if self.active.pop(running.job.entry_key, None) is not None:
            self._count(running)
        self._slot_freed.set()

    def _count(self, running: Running) -> None:
        """Count a job as processed once: as soon as its processor returned, so that a
        worker recycling after N jobs stops claiming before the Nth job is recorded."""
        if running.counted:
            return
        running.counted = True
        self.processed += 1
        self.recent.append((time.monotonic(), running.job.id))
        for callback in self.on_finished:
            callback()

    async def _flush_loop(self, backend: Backend) -> None:
        """Record completed jobs in batches: one script call for all that finished meanwhile."""
        while True:
            await self._done_ready.wait()
            self._done_ready.clear()
            batch, self._done = self._done, []
            self._recording = len(batch)
            try:
                recorded = await backend.scripts.complete(
                    self.keys, self.consumer, self.app.now_ms(), self.settings.keep_completed,
                    [finished for _, finished in batch])
            except QueueStateLost as exc:  # recreate the group; the retry then finds the
                self._recording = 0        # batch's leases lost and discards the results
                self._done[:0] = batch
                self._done_ready.set()
                await recreate_queue(self.app, backend, self.keys, exc)
                continue
            except ConnectionError as exc:
                self._recording = 0
                log.error("cannot record completed jobs; retrying", tier=self.keys.tier,
                          error=str(exc))
                self._done[:0] = batch
                self._done_ready.set()
                await anyio.sleep(RETRY_PAUSE_S)
                continue
            self._recording = 0
            for (running, _), ok in zip(batch, recorded, strict=True):
                if not ok:
                    log.warning("lease lost before completion: result discarded",
                                tier=self.keys.tier, job_id=running.job.id)
                self.done_with(running)
