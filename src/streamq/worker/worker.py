"""``Worker``: runs the jobs of one or more tiers in this process until stopped."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
import structlog

from streamq.queue import new_job_id
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
    jobs get the grace period, then are handed back); ``run(burst=True)`` returns as soon as
    nothing is ready or running.
    """

    def __init__(self, app: App, tiers: list[TierSettings], concurrency: int | None) -> None:
        if concurrency is not None and (not isinstance(concurrency, int) or concurrency < 1):
            from streamq.errors import ConfigurationError

            raise ConfigurationError(f"concurrency must be an integer >= 1, got {concurrency!r}")
        self.app = app
        self.consumer = f"{socket.gethostname()}:{os.getpid()}:{new_job_id()[:8]}"
        self.runners = [
            TierRunner(app, settings, concurrency or settings.concurrency, self.consumer)
            for settings in tiers
        ]
        self._stopped = asyncio.Event()
        self._running = False
        self._signals = 0

    @property
    def processed(self) -> int:
        """Jobs this worker has finished (completed, failed or retried)."""
        return sum(runner.processed for runner in self.runners)

    def __repr__(self) -> str:
        tiers = ", ".join(f"{r.keys.tier}x{r.concurrency}" for r in self.runners)
        return f"<Worker {self.consumer} [{tiers}]>"

    async def run(self, burst: bool = False) -> None:
        """Run until stopped (or, with ``burst``, until nothing is ready or running)."""
        self._running = True
        self._stopped.clear()
        restore = self._install_signal_handlers()
        log.info("worker started", worker=self.consumer, burst=burst,
                 tiers={r.keys.tier: r.concurrency for r in self.runners})
        try:
            async with anyio.create_task_group() as tg:
                for runner in self.runners:
                    tg.start_soon(runner.run, burst)
        finally:
            restore()
            self._running = False
            self._stopped.set()
            log.info("worker stopped", worker=self.consumer, processed=self.processed)

    async def stop(self, grace: float = DEFAULT_GRACE_S) -> None:
        """Stop claiming; running jobs get ``grace`` seconds to finish, then are handed back
        to the queue. Returns once the worker has stopped."""
        for runner in self.runners:
            runner.request_stop(grace)
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

    def _install_signal_handlers(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        loop = asyncio.get_running_loop()
        signums = (signal.SIGTERM, signal.SIGINT)
        for signum in signums:
            loop.add_signal_handler(signum, self._on_signal, signum)

        def restore() -> None:
            for signum in signums:
                loop.remove_signal_handler(signum)

        return restore
