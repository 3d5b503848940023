"""Tick arithmetic (pure): cron via cronsim, intervals anchored at the epoch, DST, misfire."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from streamq import ConfigurationError
from streamq.scheduling import cron
from streamq.scheduling.schedule import Fire, Schedule, plan

PARIS = ZoneInfo("Europe/Paris")


def ms(dt: datetime) -> int:
    return round(dt.timestamp() * 1000)


def paris(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=PARIS, fold=fold)  # type: ignore[misc]


def cron_schedule(expr: str, tz: str = "UTC", misfire: str = "skip") -> Schedule:
    return Schedule("k", "task", "standard", expr, None, tz, None,
                    "skip" if misfire == "skip" else "run_once")


def every_schedule(every_ms: int, misfire: str = "skip") -> Schedule:
    return Schedule("k", "task", "standard", None, every_ms, "UTC", None,
                    "skip" if misfire == "skip" else "run_once")


@pytest.mark.parametrize("expr", ["", "* * *", "61 * * * *", "0 25 * * *", "a b c d e",
                                  "0 0 31 2 *", 5, None])
def test_invalid_cron(expr: object) -> None:
    with pytest.raises(ConfigurationError, match="cron"):
        cron.check_cron(expr)


def test_valid_cron_is_normalised() -> None:
    assert cron.check_cron("  0  2 * *   MON ") == "0 2 * * MON"
    assert cron.check_cron("*/10 * * * * *") == "*/10 * * * * *"


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../etc/passwd", 3])
def test_unknown_tz(name: object) -> None:
    with pytest.raises(ConfigurationError, match="time zone"):
        cron.check_tz(name)


@pytest.mark.parametrize("every", [0, -1, math.nan, math.inf, 0.0001, "5", True,
                                   timedelta(0), 10**11, timedelta(days=10**6)])
def test_invalid_every(every: object) -> None:
    with pytest.raises(ConfigurationError, match="every"):
        cron.check_every(every)


def test_every_units() -> None:
    assert cron.check_every(30) == 30_000
    assert cron.check_every(0.25) == 250
    assert cron.check_every(timedelta(minutes=2)) == 120_000


def test_interval_ticks_are_epoch_multiples() -> None:
    """Every worker computes the same ticks: multiples of the interval since the epoch."""
    assert cron.next_interval_tick(30_000, 1_700_000_000_000) == 1_700_000_010_000
    assert cron.next_interval_tick(30_000, 1_700_000_010_000) == 1_700_000_040_000
    assert cron.next_interval_tick(1000, 1_700_000_000_999) == 1_700_000_001_000


def test_cron_in_a_time_zone() -> None:
    """'0 2 * * *' in Paris is 01:00 UTC in winter, 00:00 UTC in summer."""
    start = ms(datetime(2026, 1, 10, 12, tzinfo=UTC))
    assert cron.next_cron_tick("0 2 * * *", PARIS, start) == ms(
        datetime(2026, 1, 11, 1, tzinfo=UTC))
    start = ms(datetime(2026, 7, 10, 12, tzinfo=UTC))
    assert cron.next_cron_tick("0 2 * * *", PARIS, start) == ms(
        datetime(2026, 7, 11, 0, tzinfo=UTC))


def test_dst_spring_forward_skipped_time_runs_right_after_the_change() -> None:
    """2026-03-29, Paris: 02:00 -> 03:00. A 02:30 job runs once, at 03:00 CEST (Debian
    cron's rule, which cronsim follows), then at 02:30 again the next day."""
    ticks, t = [], ms(paris(2026, 3, 28, 12))
    for _ in range(3):
        t = cron.next_cron_tick("30 2 * * *", PARIS, t)  # type: ignore[assignment]
        ticks.append(datetime.fromtimestamp(t / 1000, PARIS))
    assert [d.isoformat() for d in ticks] == [
        "2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00", "2026-03-31T02:30:00+02:00"]


def test_dst_fall_back_hourly_job_runs_in_both_copies_of_the_hour() -> None:
    """2026-10-25, Paris: 03:00 CEST -> 02:00 CET, so 02:00-02:59 happens twice. An hourly
    job ticks every real hour: at 02:00 CEST and again at 02:00 CET (25 ticks that day)."""
    t, day = ms(paris(2026, 10, 25, 0, 30)), []
    while True:
        t = cron.next_cron_tick("0 * * * *", PARIS, t)  # type: ignore[assignment]
        if t >= ms(paris(2026, 10, 26)):
            break
        day.append(datetime.fromtimestamp(t / 1000, PARIS))
    assert [d.isoformat() for d in day[:4]] == [
        "2026-10-25T01:00:00+02:00", "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00", "2026-10-25T03:00:00+01:00"]
    assert len(day) == 24  # 01:00 .. 23:00 wall clock (23), with 02:00 twice
    real = [ms(d) for d in day]
    assert all(b - a == 3_600_000 for a, b in itertools.pairwise(real))


def test_dst_fall_back_fixed_time_job_runs_once() -> None:
    """A 02:30 job on the day 02:30 happens twice runs once (the first, CEST), even when
    asked from inside the repeated hour."""
    first = cron.next_cron_tick("30 2 * * *", PARIS, ms(paris(2026, 10, 24, 12)))
    assert first == ms(paris(2026, 10, 25, 2, 30, fold=0))
    inside = ms(paris(2026, 10, 25, 2, 10, fold=1))  # the second 02:10 (CET)
    assert cron.next_cron_tick("30 2 * * *", PARIS, inside) == ms(paris(2026, 10, 26, 2, 30))


def test_dst_six_fields_at_a_fixed_time_follow_cronsims_own_rule() -> None:
    """With seconds first (six fields), cronsim treats a fixed time like a wildcard hour:
    skipped on the day the clock skips it, run in both copies of a repeated hour. Pinned,
    as docs/scheduling.md warns: five fields keep Debian cron's rules."""
    spring = ms(paris(2026, 3, 28, 12))
    assert cron.next_cron_tick("0 30 2 * * *", PARIS, spring) == ms(paris(2026, 3, 30, 2, 30))
    autumn = ms(paris(2026, 10, 25, 2, 40, fold=0))  # after the first 02:30 (CEST)
    assert cron.next_cron_tick("0 30 2 * * *", PARIS, autumn) == ms(
        paris(2026, 10, 25, 2, 30, fold=1))


def test_previous_tick() -> None:
    sched = cron_schedule("0 * * * *")
    t = ms(datetime(2026, 1, 1, 10, 0, tzinfo=UTC))
    assert sched.previous_before(t) == t - 3_600_000
    assert sched.previous_before(t + 1) == t
    assert every_schedule(1000).previous_before(5500) == 5000
    assert every_schedule(1000).previous_before(5000) == 4000


GRACE = 60_000
H = 3_600_000


def test_on_time_tick_fires() -> None:
    sched = cron_schedule("0 * * * *")
    assert plan(sched, 10 * H, 10 * H + 500, GRACE) == Fire(10 * H, 11 * H)


def test_missed_ticks_skip() -> None:
    """Workers were down for 3.5 hours: skip enqueues nothing, moves to the next tick."""
    sched = cron_schedule("0 * * * *")
    assert plan(sched, 10 * H, 13 * H + H // 2, GRACE) == Fire(None, 14 * H)


def test_missed_ticks_run_once_runs_the_latest() -> None:
    sched = cron_schedule("0 * * * *", misfire="run_once")
    assert plan(sched, 10 * H, 13 * H + H // 2, GRACE) == Fire(13 * H, 14 * H)


def test_missed_ticks_with_a_recent_one_fire_the_recent_one() -> None:
    """If a later tick is within the grace, it runs (on time); older ones are dropped."""
    for misfire in ("skip", "run_once"):
        sched = cron_schedule("0 * * * *", misfire=misfire)
        assert plan(sched, 10 * H, 13 * H + 5000, GRACE) == Fire(13 * H, 14 * H)


def test_interval_catch_up_within_grace_fires_each_tick() -> None:
    sched = every_schedule(1000)
    assert plan(sched, 5000, 8000, GRACE) == Fire(5000, 6000)


def test_jitter_is_deterministic_and_bounded() -> None:
    sched = Schedule("k", "task", "standard", None, 1000, "UTC", None, jitter_ms=2000)
    dues = [sched.due_ms(t) - t for t in range(0, 500_000, 1000)]
    assert all(0 <= d <= 2000 for d in dues)
    assert len(set(dues)) > 50
    assert sched.due_ms(7000) == sched.due_ms(7000)
    assert every_schedule(1000).due_ms(7000) == 7000


def test_json_round_trip() -> None:
    sched = Schedule("k", "task", "high", "0 2 * * *", None, "Europe/Paris", {"a": [1]},
                     "run_once", 500, 3, 4, 2.5)
    assert Schedule.from_json(sched.to_json()) == sched
    assert Schedule.from_json(sched.to_json(), paused=True).paused
