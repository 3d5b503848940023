"""Recycling: end a worker gracefully after N jobs, a lifetime, or once its RSS passes a limit.

A recycled worker stops claiming, lets its running jobs finish, and ``Worker.run()`` returns
(``streamq worker`` exits 0, and ``--processes`` starts a fresh process in its place).
"""

from __future__ import annotations

import os
import random
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import anyio

from streamq.errors import ConfigurationError
from streamq.timeunits import Duration, to_seconds

MEMORY_CHECK_EVERY_S = 1.0
"""How often a worker with ``max_memory`` reads its RSS."""
LIFETIME_JITTER = 0.1
"""A lifetime ends up to this share early, so processes started together do not all
recycle at the same moment."""


@dataclass(frozen=True, slots=True)
class Limits:
    """When a worker recycles itself; ``None`` means no limit."""

    max_jobs: int | None = None
    max_lifetime_s: float | None = None
    max_memory: int | None = None

    @classmethod
    def of(cls, max_jobs: int | None, max_lifetime: Duration | None,
           max_memory: int | None) -> Limits:
        """Checked limits (``ConfigurationError`` for a bad value)."""
        if max_jobs is not None and (type(max_jobs) is not int or max_jobs < 1):
            raise ConfigurationError(f"max_jobs must be an integer >= 1, got {max_jobs!r}")
        lifetime = None if max_lifetime is None else to_seconds(max_lifetime, "max_lifetime")
        if lifetime == 0:
            raise ConfigurationError("max_lifetime must be more than 0 seconds")
        if max_memory is not None and (type(max_memory) is not int or max_memory < 1):
            raise ConfigurationError(
                f"max_memory must be a number of bytes >= 1, got {max_memory!r}")
        return cls(max_jobs, lifetime, max_memory)

    def check_room(self) -> None:
        """``ConfigurationError`` if the process already uses ``max_memory``: the worker
        would recycle before its first job, and under ``--processes`` again and again."""
        if self.max_memory is not None and (rss := rss_bytes()) >= self.max_memory:
            raise ConfigurationError(
                f"max_memory is {self.max_memory:,} bytes, but this worker already uses "
                f"{rss:,} (RSS) before its first job: it would recycle at once. Give a "
                "limit well above that, with a unit: --max-memory 512MiB")

    def __bool__(self) -> bool:
        return not (self.max_jobs is None and self.max_lifetime_s is None
                    and self.max_memory is None)


def rss_bytes() -> int:
    """This process's resident set size in bytes: current RSS from ``/proc/self/statm`` on
    Linux; elsewhere the peak RSS from ``getrusage`` (which only grows, so it errs early)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB else


class RecycleWatch:
    """Decides when a worker should recycle, and calls ``recycle(reason)`` once when it
    should. ``job_finished`` (called after each job) acts at once, before the worker claims
    again, so ``max_jobs`` on a worker with concurrency 1 runs exactly that many jobs."""

    def __init__(self, limits: Limits, recycle: Callable[[str], None]) -> None:
        self.limits = limits
        self.reason: str | None = None
        self._recycle = recycle
        self._jobs = 0
        lifetime = limits.max_lifetime_s
        self._deadline = (None if lifetime is None else
                          time.monotonic() + lifetime * (1 - random.uniform(0, LIFETIME_JITTER)))

    def job_finished(self) -> None:
        self._jobs += 1
        if self.limits.max_jobs is not None and self._jobs >= self.limits.max_jobs:
            self._due(f"max_jobs reached ({self._jobs} jobs finished)")

    def _due(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
            self._recycle(reason)

    def check(self) -> str | None:
        """Why the worker should recycle now because of its lifetime or memory, or None."""
        limits = self.limits
        if self._deadline is not None and time.monotonic() >= self._deadline:
            return f"max_lifetime reached ({limits.max_lifetime_s:g} s)"
        if limits.max_memory is not None:
            rss = rss_bytes()
            if rss >= limits.max_memory:
                return f"max_memory reached (RSS {rss:,} bytes >= {limits.max_memory:,})"
        return None

    async def watch(self) -> None:
        """Check the lifetime and memory limits until one is reached (run as a task; nothing
        to watch when only ``max_jobs`` is set)."""
        while self.reason is None:
            if (reason := self.check()) is not None:
                self._due(reason)
                return
            waits = [MEMORY_CHECK_EVERY_S] if self.limits.max_memory is not None else []
            if self._deadline is not None:
                waits.append(max(0.0, self._deadline - time.monotonic()))
            if not waits:
                return
            await anyio.sleep(min(waits))
