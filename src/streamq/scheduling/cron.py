"""Tick arithmetic for schedules: pure functions of time, no I/O.

Cron expressions are parsed and evaluated by `cronsim <https://pypi.org/project/cronsim/>`_
(maintained by Healthchecks.io, typed, no dependencies). It follows Debian cron, including its
daylight-saving behaviour: a job whose time falls in the hour the clock skips runs right after
the change, a job at a fixed time runs once when an hour repeats, and wildcard-hour jobs run in
both copies of the repeated hour. Intervals (``every=``) tick at whole multiples of the
interval since the Unix epoch, so every worker computes the same ticks without agreeing on
anything.

All times are integer milliseconds since the epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from streamq.errors import ConfigurationError
from streamq.timeunits import Duration, to_seconds

_PROBE = datetime(2000, 1, 1, tzinfo=UTC)


def check_cron(expr: object) -> str:
    """``expr`` if cronsim accepts it and it ever fires, else :class:`ConfigurationError`."""
    if not isinstance(expr, str) or not expr.strip():
        raise ConfigurationError(f"cron must be a cron expression string, got {expr!r}")
    expr = " ".join(expr.split())
    try:
        next(CronSim(expr, _PROBE))
    except CronSimError as exc:
        raise ConfigurationError(
            f"invalid cron expression {expr!r}: {exc}; use 5 fields 'minute hour day-of-month "
            "month day-of-week' (e.g. '0 2 * * *' = 02:00 daily), or 6 with seconds first"
        ) from None
    except StopIteration:
        raise ConfigurationError(f"cron expression {expr!r} never fires") from None
    return expr


def check_tz(name: object) -> ZoneInfo:
    """The time zone called ``name`` (IANA, e.g. ``"Europe/Paris"``)."""
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"tz must be an IANA time zone name, got {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(
            f"unknown time zone {name!r}: use an IANA name such as 'UTC' or 'Europe/Paris' "
            "(install the tzdata package if the system has no time zone database)"
        ) from None


def check_every(every: Duration) -> int:
    """An interval (seconds or timedelta) as integer ms > 0."""
    every_ms = round(to_seconds(every, "every") * 1000)
    if every_ms < 1:
        raise ConfigurationError(f"every must be at least 1 ms, got {every!r}")
    return every_ms


def next_interval_tick(every_ms: int, after_ms: int) -> int:
    """The first multiple of ``every_ms`` (since the epoch) strictly after ``after_ms``."""
    return (after_ms // every_ms + 1) * every_ms


def next_cron_tick(expr: str, tz: ZoneInfo, after_ms: int) -> int | None:
    """The first tick of ``expr`` in ``tz`` strictly after ``after_ms`` (None: never again)."""
    ticks = CronSim(expr, datetime.fromtimestamp(after_ms / 1000, tz))
    return _first_tick(ticks, lambda tick_ms: tick_ms > after_ms)


def previous_cron_tick(expr: str, tz: ZoneInfo, before_ms: int) -> int | None:
    """The last tick of ``expr`` in ``tz`` strictly before ``before_ms`` (None: none)."""
    ticks = CronSim(expr, datetime.fromtimestamp(before_ms / 1000, tz), reverse=True)
    return _first_tick(ticks, lambda tick_ms: tick_ms < before_ms)


def _first_tick(ticks: Iterator[datetime], wanted: Callable[[int], bool]) -> int | None:
    """The first of ``ticks`` (as ms) that is ``wanted``. cronsim's Debian-style DST handling
    works on wall-clock time: inside a repeated hour it may return a tick on the wrong side
    of the start; those are stepped past."""
    for _ in range(100):
        try:
            tick = next(ticks)
        except StopIteration:
            return None
        tick_ms = round(tick.timestamp() * 1000)
        if wanted(tick_ms):
            return tick_ms
    return None  # pragma: no cover - cronsim always moves on within a few steps


def as_datetime(ms: int, tz: ZoneInfo | None = None) -> datetime:
    """``ms`` since the epoch as an aware datetime (UTC unless ``tz``)."""
    return datetime.fromtimestamp(ms / 1000, tz or UTC)
