"""Exceptions a processor raises to steer its job: ``Retry`` and ``Fail``."""

from __future__ import annotations

from streamq.timeunits import Duration, to_seconds


class Retry(Exception):
    """Try the job again later. Counts as an attempt; out of attempts, the job FAILS.

    ``delay`` (seconds or timedelta) replaces the backoff for this one retry.
    """

    def __init__(self, delay: Duration | None = None, reason: str = "retry requested") -> None:
        self.delay = None if delay is None else to_seconds(delay, "Retry delay")
        self.reason = reason
        super().__init__(reason if delay is None else f"{reason} (in {self.delay} s)")


class Fail(Exception):
    """Give up on the job now: no more attempts, straight to FAILED (the dead-letter queue)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)
