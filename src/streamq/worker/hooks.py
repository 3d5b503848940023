"""Running the App's hooks (``streamq.hooks``) in a worker: around ``Worker.run`` and around
each attempt, and the soft-timeout hook at 80 % of a job's timeout."""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import structlog

from streamq.errors import HookFailed
from streamq.hooks import hook_name
from streamq.worker.outcome import Completed, Failed, Outcome, public

if TYPE_CHECKING:
    from streamq.hooks import Hooks, SoftTimeoutHook
    from streamq.job import Job

log = structlog.get_logger("streamq.worker")

SOFT_TIMEOUT_HOOKS_WAIT_S = 5.0
"""How long a stopping worker waits for its soft-timeout hooks still running, before it
cancels them and runs the on_shutdown hooks."""


async def run_startup(hooks: Hooks) -> None:
    """Run the startup hooks in order; ``HookFailed`` names the first that raises."""
    for fn in hooks.startup:
        try:
            await fn()
        except Exception as exc:
            raise HookFailed(
                f"on_startup hook {hook_name(fn)} failed: {type(exc).__name__}: {exc}; the "
                "worker did not start (fix the hook or what it connects to, then start again)"
            ) from exc


async def run_shutdown(hooks: Hooks) -> None:
    """Run every shutdown hook in order; errors are logged and the next hook still runs."""
    for fn in hooks.shutdown:
        try:
            await fn()
        except Exception as exc:
            log.error("on_shutdown hook failed", hook=hook_name(fn),
                      error=f"{type(exc).__name__}: {exc}", exc_info=True)


async def around_job(
    hooks: Hooks, handle: Job, attempt: Callable[[], Awaitable[Outcome]],
    failed: Callable[[str, str], Failed],
) -> Outcome:
    """Run before-job hooks (in order), the attempt, then after-job hooks (in reverse order,
    like nested context managers; all of them run). A hook that raises fails the attempt:
    ``failed(error, traceback)`` builds that outcome (retried like any failure while attempts
    are left), which the after-job hooks run later see, as an outer context manager sees an
    inner one's exception. When a before-job hook fails, the processor and after-job hooks
    do not run."""
    started = time.perf_counter()
    for before in hooks.before_job:
        try:
            await before(handle)
        except Exception as exc:
            return failed(f"before_job hook {hook_name(before)} failed: "
                          f"{type(exc).__name__}: {exc}", traceback.format_exc())
    outcome = await attempt()
    if not hooks.after_job:
        return outcome
    duration = time.perf_counter() - started
    seen = public(outcome, duration)
    failure: Failed | None = None
    for after in reversed(hooks.after_job):
        try:
            await after(handle, seen)
        except Exception as exc:
            if failure is None:
                failure = _hook_failed(outcome, failed, f"after_job hook {hook_name(after)}",
                                       exc)
                seen = public(failure, duration)
    return outcome if failure is None else failure


def _hook_failed(
    outcome: Outcome, failed: Callable[[str, str], Failed], hook: str, exc: Exception
) -> Failed:
    """The attempt's outcome once an after-job hook raised: a failure, retried while
    attempts are left, unless the attempt had already failed for good (``Fail``, or its
    last attempt), which stays so."""
    if isinstance(outcome, Completed):
        note = " (the processor had completed; its result is discarded)"
    else:
        note = f" (the attempt had failed: {outcome.error})"
    failure = failed(f"{hook} failed{note}: {type(exc).__name__}: {exc}",
                     traceback.format_exc())
    if isinstance(outcome, Failed) and outcome.retry_delay_ms is None:
        return failure._replace(retry_delay_ms=None)
    return failure


class SoftTimeouts:
    """Runs an App's soft-timeout hooks for one tier of a worker, each beside its job in a
    task of its own, and keeps those tasks (asyncio holds only weak references to them) so
    that the stopping worker waits for them before its on_shutdown hooks close what they
    may use."""

    __slots__ = ("_hooks", "_tasks")

    def __init__(self, hooks: Hooks) -> None:
        self._hooks = hooks
        self._tasks: set[asyncio.Task[None]] = set()

    def fire(self, handle: Job, timeout: float) -> None:
        """Start each soft-timeout hook (the job keeps running). Called from a loop callback
        that carries the job task's context, so the tasks inherit it."""
        for fn in self._hooks.soft_timeout:
            task = asyncio.get_running_loop().create_task(_soft_timeout(fn, handle, timeout))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def settle(self) -> None:
        """Wait up to ``SOFT_TIMEOUT_HOOKS_WAIT_S`` for the hooks still running, then cancel
        the rest."""
        if not self._tasks:
            return
        wait = SOFT_TIMEOUT_HOOKS_WAIT_S
        _, pending = await asyncio.wait(set(self._tasks), timeout=wait)
        if pending:
            log.warning("on_soft_timeout hooks still running when the worker stopped were "
                        "cancelled", count=len(pending), waited_s=wait)
            for task in pending:
                task.cancel()
            await asyncio.wait(pending, timeout=1.0)


async def _soft_timeout(fn: SoftTimeoutHook, handle: Job, timeout: float) -> None:
    try:
        await fn(handle, timeout)
    except Exception as exc:
        log.error("on_soft_timeout hook failed", hook=hook_name(fn), job_id=handle.id,
                  error=f"{type(exc).__name__}: {exc}", exc_info=True)
