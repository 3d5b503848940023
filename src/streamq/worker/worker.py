"""``Worker``: runs the jobs of one or more tiers in this process until stopped."""

from __future__ import annotations

import asyncio
import math
import os
import signal
import socket
import threading
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import anyio
import structlog

from streamq.errors import StreamqError
from streamq.job_ids import new_job_id
from streamq.timeunits import Duration, to_seconds
from streamq.worker.burst import BurstGroup
from streamq.worker.hooks import run_shutdown, run_startup
from streamq.worker.recycle import Limits, RecycleWatch
from streamq.worker.tier_runner import TierRunner

if TYPE_CHECKING:
    from streamq.app import App
    from streamq.config import TierSettings

log = structlog.get_logger("streamq.worker")
DEFAULT_GRACE_S = 30.0


class Worker:
    """Runs jobs of the given tiers. Get one with ``app.worker(tier, concurrency)``.

    Each tier has its own concurrency limit, so a flood of low jobs never takes the slots of
    critical ones. ``run()`` returns after ``stop()``, SIGTERM or SIGINT (graceful: running
    jobs get the grace period, then are handed back); ``run(burst=True)`` returns once
    nothing is ready or running in any of its tiers.
    """

    def __init__(self, app: App, tiers: list[TierSettings], concurrency: int | None,
                 limits: Limits | None = None) -> None:
        if concurrency is not None and (not isinstance(concurrency, int) or concurrency < 1):
            from streamq.errors import ConfigurationError

            raise ConfigurationError(f"concurrency must be an integer >= 1, got {concurrency!r}")
        self.app = app
        self.consumer = f"{socket.gethostname()}:{os.getpid()}:{new_job_id()[:8]}"
        self.runners = [
            TierRunner(app, settings, concurrency or settings.concurrency, self.consumer)
            for settings in tiers
        ]
        self.limits = limits or Limits()
        self.recycled: str | None = None
        """Why the worker recycled itself (a ``max_*`` limit), or None."""
        self._stopped = asyncio.Event()
        self._running = False
        self._signals = 0
        self._hooks_scope: anyio.CancelScope | None = None
        """The on_startup or on_shutdown hooks running now: a second signal cancels them."""

    @property
    def processed(self) -> int:
        """Jobs this worker has finished (completed, failed or retried)."""
        return sum(runner.processed for runner in self.runners)

    def __repr__(self) -> str:
        tiers = ", ".join(f"{r.keys.tier}x{r.concurrency}" for r in self.runners)
        return f"<Worker {self.consumer} [{tiers}]>"

    async def run(self, burst: bool = False, *, handle_signals: bool = True) -> None:
        """Run until stopped (or, with ``burst``, until nothing is ready or running in any of
        its tiers). SIGTERM and SIGINT stop it gracefully, unless ``handle_signals`` is
        False (they are then the caller's, as in ``run_until_idle``); the handlers the
        process had are put back when it returns."""
        self._running = True
        self._stopped.clear()
        self.recycled = None
        restore = self._install_signal_handlers() if handle_signals else (lambda: None)
        try:
            self.limits.check_room()  # before connecting, and again after the hooks
            await self.app.connect()
            if not await self._run_hooks(run_startup(self.app.hooks)):
                log.warning("stopped during start-up: the on_startup hooks were cancelled; "
                            "no job ran, and the on_shutdown hooks do not run",
                            worker=self.consumer)
                return
            self._report_start(burst)
            try:
                self.limits.check_room()  # a hook may have loaded what fills it
                await self._run_tiers(burst)
            finally:
                await asyncio.gather(*(r.soft_timeouts.settle() for r in self.runners))
                await self._run_hooks(run_shutdown(self.app.hooks))
        finally:
            restore()
            self._running = False
            self._stopped.set()
            log.info("worker stopped", worker=self.consumer, processed=self.processed,
                     recycled=self.recycled)

    async def _run_hooks(self, hooks: Coroutine[Any, Any, None]) -> bool:
        """Run the on_startup or on_shutdown hooks, which a second signal cancels (a hook
        that hangs, say on a connect without a timeout, would keep the process alive).
        False if they were cancelled."""
        with anyio.CancelScope() as scope:
            self._hooks_scope = scope
            try:
                await hooks
            finally:
                self._hooks_scope = None
        return not scope.cancel_called  # a hook may have caught the cancellation

    def _report_start(self, burst: bool) -> None:
        """The start-up report: one line with what an operator checks first."""
        from streamq.broker.connection import redact

        loop = type(asyncio.get_running_loop())
        limits = {k: v for k, v in (("max_jobs", self.limits.max_jobs),
                                    ("max_lifetime_s", self.limits.max_lifetime_s),
                                    ("max_memory", self.limits.max_memory)) if v is not None}
        log.info("worker started", worker=self.consumer, url=redact(self.app.url),
                 tiers={r.keys.tier: r.concurrency for r in self.runners},
                 uvloop=loop.__module__.startswith("uvloop"), burst=burst, pid=os.getpid(),
                 **limits)

    async def _run_tiers(self, burst: bool) -> None:
        watch = RecycleWatch(self.limits, self._recycle) if self.limits else None
        burst_group = BurstGroup(len(self.runners)) if burst else None
        for runner in self.runners:
            runner.on_finished = [
                c.job_finished for c in (watch, burst_group) if c is not None]
        try:
            async with anyio.create_task_group() as tg:
                if watch is not None:
                    tg.start_soon(watch.watch)
                async with anyio.create_task_group() as tiers:
                    for runner in self.runners:
                        tiers.start_soon(runner.run, burst_group)
                tg.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            raise _sole(group) from None

    def _recycle(self, reason: str) -> None:
        self.recycled = reason
        log.info("recycling the worker: no new jobs; running jobs finish",
                 worker=self.consumer, reason=reason,
                 running=sum(len(r.active) for r in self.runners))
        for runner in self.runners:
            runner.request_stop(math.inf)

    async def stop(self, grace: Duration = DEFAULT_GRACE_S) -> None:
        """Stop claiming; running jobs get ``grace`` (seconds or a ``timedelta``) to finish,
        then are handed back to the queue. Returns once the worker has stopped.

        ``math.inf`` waits for them however long they take. A bad ``grace`` (negative, NaN,
        not a number) raises ``ConfigurationError`` and leaves the worker running as before.
        """
        grace_s = to_seconds(grace, "grace", infinite=True)
        for runner in self.runners:
            runner.request_stop(grace_s)
        if self._running:
            await self._stopped.wait()

    def _on_signal(self, signum: int) -> None:
        self._signals += 1
        if self._signals == 1:
            log.info("stopping gracefully; send the signal again to stop at once",
                     signal=signal.Signals(signum).name)
            for runner in self.runners:
                runner.request_stop(DEFAULT_GRACE_S)
        else:
            log.warning("stopping now: running jobs are handed back",
                        signal=signal.Signals(signum).name)
            for runner in self.runners:
                runner.request_stop(0)
            if self._hooks_scope is not None:
                log.warning("cancelling the on_startup or on_shutdown hooks still running")
                self._hooks_scope.cancel()

    def _install_signal_handlers(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        loop = asyncio.get_running_loop()
        previous = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
        for signum in previous:
            loop.add_signal_handler(signum, self._on_signal, signum)

        def restore() -> None:
            for signum, handler in previous.items():
                loop.remove_signal_handler(signum)  # leaves the default, not what was there
                if _restorable(handler):
                    signal.signal(signum, handler)

        return restore


def _restorable(handler: object) -> bool:
    """Whether a signal handler read before ``run()`` can be put back: not one installed
    from C (``None``), nor the stand-in of a handler an event loop held (asyncio's function,
    uvloop's method; the loop's own handler cannot be read back, and the stand-in alone would
    ignore the signal)."""
    if handler is None or getattr(handler, "__name__", "") == "_sighandler_noop":
        return False
    return not isinstance(getattr(handler, "__self__", None), asyncio.AbstractEventLoop)


def _sole(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one error inside nested task-group wrappers (so callers see ``ConnectionError``,
    not a group), the first when all are the same streamq error (a lost connection fails
    every tier's call at once), or the group itself when several tasks failed otherwise."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        error = pending.pop(0)
        if isinstance(error, BaseExceptionGroup):
            pending.extend(error.exceptions)
        else:
            leaves.append(error)
    if len(leaves) == 1 or (isinstance(leaves[0], StreamqError)
                            and all(type(error) is type(leaves[0]) for error in leaves)):
        return leaves[0]
    return group
