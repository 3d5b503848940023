"""A job's timeout as one timer on the event loop: it warns at ``SOFT_TIMEOUT_SHARE`` of the
timeout, is set again for the rest, then cancels the job's task.

anyio's ``move_on_after`` plus a second timer for the warning cost a worker about 18 µs a
job on uvloop, more than the rest of a no-op job's worker CPU; one timer costs about 3 µs.
The cancellation is asyncio's own (``Task.cancel``, counted by ``Task.cancelling``), as in
``asyncio.timeout``: a processor that catches it and goes on is not cancelled again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

SOFT_TIMEOUT_SHARE = 0.8
"""The share of the timeout after which a running job is reported near its timeout."""


class Deadline:
    """Cancels ``task`` ``timeout`` seconds from now, calling ``warn`` at the soft share of
    it first. Made in the task, around the one await the timeout limits."""

    __slots__ = ("_requested", "_task", "_timeout", "_timer", "_warn", "expired")

    def __init__(self, task: asyncio.Task[object], timeout: float, warn: Callable[[], None]):
        self._task = task
        self._timeout = timeout
        self._warn = warn
        self._requested = False
        """Whether this deadline's cancellation of the task is still counted by the task."""
        self.expired = False
        """Whether the timeout passed (the task was cancelled for it)."""
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(timeout * SOFT_TIMEOUT_SHARE, self._soft)

    def _soft(self) -> None:
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._timeout * (1 - SOFT_TIMEOUT_SHARE), self._expire)
        self._warn()

    def _expire(self) -> None:
        self.expired = self._requested = True
        self._task.cancel()

    def withdraw(self) -> int:
        """Stop the timer and take back this deadline's cancellation request, if it made
        one; returns how many cancellation requests of the task are left (others': a
        stopping worker's). Safe to call more than once."""
        self._timer.cancel()
        if self._requested:
            self._requested = False
            return self._task.uncancel()
        return self._task.cancelling()
