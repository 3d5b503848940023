"""Timing options are checked at the call, before anything is written, on both backends:
the gaps test_errors.py leaves (far-future delays, tzinfo that gives no offset, dates,
backoff types, batches) and the aware run_at forms that must be accepted."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from streamq import App, Backoff, ConfigurationError, Job, Retry
from streamq.timeunits import MAX_SECONDS
from tests.helpers import FakeClock
from tests.test_errors import refused, snapshot


class NoOffset(tzinfo):
    """A tzinfo that does not know its offset: such a datetime is still naive."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None


@pytest.mark.parametrize(
    ("options", "phrase"),
    [
        ({"delay": MAX_SECONDS + 1}, "delay must be at most 10,000,000,000 seconds"),
        ({"delay": timedelta(days=10**6)}, "delay must be at most"),
        ({"delay": 1e300}, "delay must be at most"),
        ({"run_at": datetime(2030, 1, 1, tzinfo=NoOffset())}, "tzinfo=timezone.utc"),
        ({"run_at": date(2030, 1, 1)}, "run_at must be a datetime, got date"),
        ({"run_at": "2030-01-01T00:00:00Z"}, "run_at must be a datetime, got str"),
        ({"delay": 0, "run_at": datetime(2030, 1, 1, tzinfo=UTC)}, "not both"),
        ({"delay": True}, "number of seconds or a timedelta"),
        ({"backoff": "exponential"}, "Backoff.fixed(60)"),
        ({"backoff": {"kind": "fixed", "base": 1}}, "Backoff.fixed(60)"),
        ({"backoff": Backoff.custom(lambda attempt: 1)}, "Tier(..., backoff=...)"),
        ({"timeout": MAX_SECONDS * 2}, "timeout must be at most"),
    ],
    ids=["delay-huge", "timedelta-huge", "delay-1e300", "tzinfo-without-offset", "date",
         "iso-string", "delay-and-run_at", "delay-bool", "backoff-string", "backoff-dict",
         "backoff-custom", "timeout-huge"],
)
async def test_bad_timing_options_are_refused(
    app: App, options: dict[str, Any], phrase: str
) -> None:
    """Each bad option raises ConfigurationError saying what to do; nothing is written."""
    await refused(app, ConfigurationError, phrase, **options)


async def test_one_bad_job_refuses_the_whole_batch(app: App) -> None:
    """enqueue_many checks every job before the one write: a naive run_at in the third job
    leaves nothing behind."""
    await app.queue().enqueue("good", None)
    before = await snapshot(app)
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        await app.queue().enqueue_many([
            ("a", 1, {"delay": 5}),
            ("b", 2, {"run_at": datetime(2030, 1, 1, tzinfo=UTC)}),
            ("c", 3, {"run_at": datetime(2030, 1, 1)}),
        ])
    assert await snapshot(app) == before


async def test_run_at_in_a_zoneinfo_zone_across_dst(clock_app: App, clock: FakeClock) -> None:
    """run_at with a zoneinfo zone is an exact instant, on both sides of a DST change:
    01:30 and 03:30 Paris on the spring-forward day are one real hour apart."""
    paris = ZoneInfo("Europe/Paris")
    clock.now = datetime(2030, 3, 30, tzinfo=UTC).timestamp()
    before = datetime(2030, 3, 31, 1, 30, tzinfo=paris)  # CET, UTC+1
    after = datetime(2030, 3, 31, 3, 30, tzinfo=paris)  # CEST, UTC+2
    a = await clock_app.queue().enqueue("x", None, run_at=before)
    b = await clock_app.queue().enqueue("x", None, run_at=after)
    info_a, info_b = await a.info(), await b.info()
    assert info_a.run_at == datetime(2030, 3, 31, 0, 30, tzinfo=UTC)
    assert info_b.run_at == datetime(2030, 3, 31, 1, 30, tzinfo=UTC)


async def test_longest_delay_is_accepted_and_readable(clock_app: App) -> None:
    """The longest accepted delay gives a job whose due time reads back as a datetime."""
    job = await clock_app.queue().enqueue("x", None, delay=MAX_SECONDS)
    info = await job.info()
    assert info.run_at is not None and info.run_at.year > 2300


async def test_bad_retry_delay_is_recorded_on_the_job(app: App) -> None:
    """``raise Retry(delay=-1)`` inside a processor fails that attempt with the reason,
    like any other exception, instead of crashing the worker."""

    @app.processor("odd", attempts=2, backoff=Backoff.fixed(0))
    async def odd(job: Job) -> str:
        raise Retry(delay=-1)

    job = await app.enqueue("odd")
    await app.worker().run(burst=True)
    info = await job.info()
    assert (info.state.value, info.attempt) == ("failed", 2)
    assert info.error is not None
    assert info.error.startswith("ConfigurationError: Retry delay must be a finite number")
