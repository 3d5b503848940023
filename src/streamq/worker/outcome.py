"""What one attempt came to, as the worker records it (and as after-job hooks see it)."""

from __future__ import annotations

from typing import Any, NamedTuple

from streamq.hooks import JobOutcome


class Completed(NamedTuple):
    """The processor returned; ``result`` is its JSON, ``value`` the returned object."""

    result: str
    value: Any = None


class Failed(NamedTuple):
    """The attempt failed. ``retry_delay_ms`` is None when no retry may follow."""

    error: str
    traceback: str
    retry_delay_ms: int | None


Outcome = Completed | Failed


def public(outcome: Outcome, duration: float) -> JobOutcome:
    """``outcome`` as the :class:`JobOutcome` that after-job hooks receive."""
    if isinstance(outcome, Completed):
        return JobOutcome("completed", duration, result=outcome.value)
    if outcome.retry_delay_ms is None:
        return JobOutcome("failed", duration, error=outcome.error)
    return JobOutcome("retrying", duration, error=outcome.error,
                      retry_in=outcome.retry_delay_ms / 1000)
