"""Tiers and their defaults: frozen value objects, with units decided once."""

from __future__ import annotations

import re
from dataclasses import dataclass

from streamq.errors import ConfigurationError
from streamq.scheduling.backoff import Backoff
from streamq.timeunits import Duration, timeout_seconds, to_ms, to_seconds

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
PRIORITIES = range(10)
"""Priorities are 0 (soonest) to 9 within a tier: one ready stream each."""


def check_name(value: object, what: str) -> str:
    """A tier or namespace name: letters, digits, ``_ . -``, at most 64 characters."""
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise ConfigurationError(
            f"{what} {value!r} is not valid: use 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return value


MAX_BUCKET_UNITS = 2**50
"""Lua numbers are doubles: a bucket's size in its integer units (tokens x ms) stays below."""


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``limit`` jobs start per ``per`` seconds (float or timedelta), across all
    workers and processes: a token bucket that refills ``limit`` tokens per ``per`` and holds
    at most ``burst`` (default ``limit``). ``burst`` below ``limit`` smooths starts out;
    above it lets a quiet queue catch up in a burst. See docs/rate-limits.md.
    """

    limit: int
    per: float = 1.0
    burst: int | None = None

    def __post_init__(self) -> None:
        if type(self.limit) is not int or self.limit < 1:
            raise ConfigurationError(
                f"RateLimit limit must be an integer >= 1, got {self.limit!r}")
        object.__setattr__(self, "per", to_seconds(self.per, "RateLimit per"))
        if self.per < 0.001:
            raise ConfigurationError(
                f"RateLimit per must be at least 0.001 seconds (1 ms), got {self.per!r}")
        if self.burst is None:
            object.__setattr__(self, "burst", self.limit)
        elif type(self.burst) is not int or self.burst < 1:
            raise ConfigurationError(
                f"RateLimit burst must be an integer >= 1 (or None = limit), got {self.burst!r}")
        if max(self.limit, self.capacity) * self.per_ms > MAX_BUCKET_UNITS:
            raise ConfigurationError(
                "RateLimit is too large: limit (or burst) x per in ms must stay below 2**50; "
                "use a shorter per with a proportionally smaller limit")

    @property
    def per_ms(self) -> int:
        """The window in integer milliseconds."""
        return round(self.per * 1000)

    @property
    def capacity(self) -> int:
        """The most tokens the bucket holds (``burst``, which defaults to ``limit``)."""
        return self.limit if self.burst is None else self.burst


def _positive_int(value: object, what: str, *, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigurationError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return value



@dataclass(frozen=True, slots=True)
class Tier:
    """A queue with its own workers and defaults. Every job belongs to one tier.

    Fields left as ``None`` inherit the default tier of the same name (for a new tier name,
    the ``standard`` tier), so ``Tier("high", concurrency=16)`` changes only concurrency.
    ``lease``: how long a claimed job may go without its worker renewing it before another
    worker reclaims it. ``timeout``: per-job limit. ``max_waiting``: jobs waiting or delayed
    beyond which enqueue raises ``QueueFull`` (0 = unbounded). ``keep_completed`` /
    ``keep_failed``: how many finished jobs are kept for inspection (0 = none).
    ``rate_limit``: how many jobs of the tier start per window, across all workers.
    ``rate_limit_per_key``: the same, for each rate key (e.g. a tenant) on its own; a job gets
    its key from ``enqueue(rate_key=...)`` or its processor's ``rate_key=`` function.
    """

    name: str
    concurrency: int | None = None
    attempts: int | None = None
    backoff: Backoff | None = None
    timeout: Duration | None = None
    lease: Duration | None = None
    rate_limit: RateLimit | None = None
    keep_completed: int | None = None
    keep_failed: int | None = None
    max_waiting: int | None = None
    rate_limit_per_key: RateLimit | None = None

    def __post_init__(self) -> None:
        check_name(self.name, "tier name")
        for what, minimum in (("concurrency", 1), ("attempts", 1), ("keep_completed", 0),
                              ("keep_failed", 0), ("max_waiting", 0)):
            value = getattr(self, what)
            if value is not None:
                _positive_int(value, f"Tier {what}", minimum=minimum)
        if self.backoff is not None and not isinstance(self.backoff, Backoff):
            raise ConfigurationError("Tier backoff must be a Backoff, e.g. Backoff.fixed(60)")
        timeout_seconds(self.timeout, "Tier timeout")
        if self.lease is not None and to_seconds(self.lease, "Tier lease") < 1:
            raise ConfigurationError("Tier lease must be at least 1 second")
        for what in ("rate_limit", "rate_limit_per_key"):
            if getattr(self, what) is not None and not isinstance(getattr(self, what), RateLimit):
                raise ConfigurationError(
                    f"Tier {what} must be a RateLimit, e.g. RateLimit(100, per=60)")


@dataclass(frozen=True, slots=True)
class TierSettings:
    """A tier with every value decided (defaults applied), in the units the code uses."""

    name: str
    concurrency: int
    attempts: int
    backoff: Backoff
    timeout_s: float | None
    lease_ms: int
    rate_limit: RateLimit | None
    keep_completed: int
    keep_failed: int
    max_waiting: int
    rate_limit_per_key: RateLimit | None = None

    def apply(self, tier: Tier) -> TierSettings:
        """These settings, with the values ``tier`` sets replacing them."""
        return TierSettings(
            name=tier.name,
            concurrency=tier.concurrency or self.concurrency,
            attempts=tier.attempts or self.attempts,
            backoff=tier.backoff or self.backoff,
            timeout_s=(self.timeout_s if tier.timeout is None
                       else to_seconds(tier.timeout, "timeout")),
            lease_ms=self.lease_ms if tier.lease is None else to_ms(tier.lease, "lease"),
            rate_limit=tier.rate_limit or self.rate_limit,
            keep_completed=(self.keep_completed if tier.keep_completed is None
                            else tier.keep_completed),
            keep_failed=self.keep_failed if tier.keep_failed is None else tier.keep_failed,
            max_waiting=self.max_waiting if tier.max_waiting is None else tier.max_waiting,
            rate_limit_per_key=tier.rate_limit_per_key or self.rate_limit_per_key,
        )


def _defaults(name: str, concurrency: int, attempts: int, backoff: Backoff,
              keep_completed: int, keep_failed: int, max_waiting: int) -> TierSettings:
    return TierSettings(name, concurrency, attempts, backoff, None, 30_000, None,
                        keep_completed, keep_failed, max_waiting)


DEFAULT_TIERS: dict[str, TierSettings] = {
    t.name: t
    for t in (
        _defaults("critical", 2, 5, Backoff.exponential(1.0), 1000, 5000, 10_000),
        _defaults("high", 4, 3, Backoff.exponential(2.0), 500, 2000, 50_000),
        _defaults("standard", 8, 3, Backoff.exponential(5.0), 100, 1000, 100_000),
        _defaults("low", 16, 2, Backoff.fixed(60.0), 50, 500, 50_000),
    )
}
"""The tiers the platform teams asked for (DESIGN.md Part 1); a new tier name starts from
``standard``'s values."""


def resolve_tiers(overrides: list[Tier] | tuple[Tier, ...] | None) -> dict[str, TierSettings]:
    """The default tiers, with each of ``overrides`` applied over its same-named default."""
    tiers = dict(DEFAULT_TIERS)
    for tier in overrides or ():
        if not isinstance(tier, Tier):
            raise ConfigurationError(f"tiers= takes Tier objects, got {type(tier).__name__}")
        tiers[tier.name] = tiers.get(tier.name, DEFAULT_TIERS["standard"]).apply(tier)
    return tiers
