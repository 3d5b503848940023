"""RateLimit and the Tier rate-limit fields: defaults, units, and bad values rejected."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from streamq import App, ConfigurationError, RateLimit, Tier


def test_defaults_and_units() -> None:
    """per defaults to 1 s, burst to limit; per accepts a timedelta; Lua sees integer ms."""
    limit = RateLimit(100, per=timedelta(minutes=1))
    assert (limit.limit, limit.per, limit.burst, limit.per_ms, limit.capacity) == (
        100, 60.0, 100, 60_000, 100)
    assert RateLimit(5).per_ms == 1000
    assert RateLimit(5, per=0.07).per_ms == 70
    assert RateLimit(10, per=1, burst=2).capacity == 2


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"limit": 0}, "limit must be an integer >= 1"),
    ({"limit": -3}, "limit must be an integer >= 1"),
    ({"limit": 1.5}, "limit must be an integer >= 1"),
    ({"limit": True}, "limit must be an integer >= 1"),
    ({"limit": 1, "per": 0}, "per must be at least 0.001 seconds"),
    ({"limit": 1, "per": 0.0004}, "per must be at least 0.001 seconds"),
    ({"limit": 1, "per": -1}, "per must be a finite number"),
    ({"limit": 1, "per": float("inf")}, "per must be a finite number"),
    ({"limit": 1, "per": "60"}, "per must be a number of seconds"),
    ({"limit": 1, "burst": 0}, "burst must be an integer >= 1"),
    ({"limit": 1, "burst": 2.5}, "burst must be an integer >= 1"),
    ({"limit": 1, "burst": False}, "burst must be an integer >= 1"),
    ({"limit": 10**9, "per": 10**7}, "RateLimit is too large"),
])
def test_bad_values_are_rejected(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        RateLimit(**kwargs)


def test_tier_fields_take_only_rate_limits() -> None:
    for field in ("rate_limit", "rate_limit_per_key"):
        with pytest.raises(ConfigurationError, match=f"Tier {field} must be a RateLimit"):
            Tier("x", **{field: 100})


def test_tier_settings_carry_both_limits() -> None:
    """Both limits reach the resolved settings; other tiers keep none."""
    app = App("memory://", tiers=[Tier("high", rate_limit=RateLimit(5, per=60),
                                       rate_limit_per_key=RateLimit(1, per=60))])
    high = app.tiers["high"]
    assert (high.rate_limit, high.rate_limit_per_key) == (
        RateLimit(5, per=60), RateLimit(1, per=60))
    assert (app.tiers["low"].rate_limit, app.tiers["low"].rate_limit_per_key) == (None, None)
