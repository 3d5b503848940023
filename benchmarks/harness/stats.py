"""Percentiles and medians that tolerate missing values."""

from __future__ import annotations

import statistics
from collections.abc import Iterable


def percentile(values: Iterable[float], p: float) -> float | None:
    """The ``p``-th percentile (0..100), linear between the closest ranks."""
    xs = sorted(values)
    if not xs:
        return None
    k = (len(xs) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def median(values: Iterable[float | None]) -> float | None:
    """The median of the values that are not ``None``; ``None`` when there are none."""
    xs = [x for x in values if x is not None]
    return statistics.median(xs) if xs else None
