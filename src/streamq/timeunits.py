"""Durations: public APIs take seconds or ``timedelta``; internals use integer ms."""

from __future__ import annotations

import math
from datetime import timedelta

from streamq.errors import ConfigurationError

Duration = float | int | timedelta
MAX_SECONDS = 10**10
"""The longest duration accepted anywhere (about 317 years): longer due times would not fit
a datetime when read back."""


def to_seconds(value: Duration, what: str, *, infinite: bool = False) -> float:
    """``value`` as float seconds; a clear error for negatives, NaN, infinity (unless
    ``infinite``: ``math.inf`` for "no limit") and non-numbers."""
    if infinite and value == math.inf:
        return math.inf
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ConfigurationError(
            f"{what} must be a number of seconds or a timedelta, got {type(value).__name__}"
        )
    if math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
        raise ConfigurationError(f"{what} must be a finite number of seconds >= 0, got {value!r}")
    if seconds > MAX_SECONDS:
        raise ConfigurationError(
            f"{what} must be at most {MAX_SECONDS:,} seconds (about 317 years), got {value!r}")
    return seconds


def to_ms(value: Duration, what: str) -> int:
    """``value`` as integer milliseconds (rounded up, so a tiny delay is never zero)."""
    return math.ceil(to_seconds(value, what) * 1000)


def timeout_seconds(value: Duration | None, what: str = "timeout") -> float | None:
    """A job's timeout in seconds: ``None`` (the tier's, or none), else a duration > 0."""
    if value is None:
        return None
    seconds = to_seconds(value, what)
    if seconds <= 0:
        raise ConfigurationError(f"{what} must be > 0 seconds, or None, got {value!r}")
    return seconds
