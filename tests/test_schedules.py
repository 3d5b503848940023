"""Schedules on both backends with an injected clock: firing at ticks, exactly once with
several workers, updates, pause/resume, unschedule, misfire, jitter, validation."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pydantic
import pytest
import structlog

from streamq import (
    App,
    ConfigurationError,
    InvalidPayload,
    Job,
    JobState,
    ScheduleNotFound,
    StreamqError,
    Tier,
    UnknownJobType,
)
from streamq.worker.scheduler import LOOK_EVERY_S, fire_due
from tests.conftest import MakeApp
from tests.helpers import FakeClock, running, until

START_MS = 1_700_000_400_000
"""The clock's start in these tests: a multiple of 10 min (but not of an hour)."""


@pytest.fixture(autouse=True)
def _round_start(clock: FakeClock) -> None:
    clock.now = START_MS / 1000


async def fire(app: App, tier: str = "standard") -> float:
    """One scheduler pass, as a worker's upkeep loop makes it; seconds until the next."""
    return await fire_due(app, await app.backend(), app.tiers[tier])


async def state(app: App, key: str, tick_ms: int, tier: str = "standard") -> JobState | None:
    info = await app.queue(tier).get_job(f"sched:{key}:{tick_ms}")
    return None if info is None else info.state


async def sched_jobs(app: App, tier: str = "standard") -> list[str]:
    """Ids of every job of the tier enqueued by a schedule, in any state."""
    queue = app.queue(tier)
    ids: list[str] = []
    for s in JobState:
        ids += [i.id for i in await queue.jobs(s, 1000)]
    return sorted(i for i in ids if i.startswith("sched:"))


async def test_every_fires_at_each_tick(clock_app: App, clock: FakeClock) -> None:
    """every=60: nothing before the tick; at the tick one waiting job with its data."""
    info = await clock_app.schedule("report", every=60, tier="standard", data={"n": 1})
    assert info.next_run == datetime.fromtimestamp(START_MS / 1000 + 60, UTC)
    await fire(clock_app)
    assert await sched_jobs(clock_app) == []
    clock.advance(60)
    await fire(clock_app)
    job = await clock_app.queue().get_job(f"sched:report:{START_MS + 60_000}")
    assert job is not None and (job.state, job.data, job.name) == (
        JobState.WAITING, {"n": 1}, "report")
    await fire(clock_app)  # the same tick never fires twice
    clock.advance(59)
    await fire(clock_app)
    assert len(await sched_jobs(clock_app)) == 1
    clock.advance(1)
    await fire(clock_app)
    assert await state(clock_app, "report", START_MS + 120_000) == JobState.WAITING
    [listed] = await clock_app.schedules()
    assert listed.next_run == datetime.fromtimestamp(START_MS / 1000 + 180, UTC)


async def test_a_burst_worker_fires_and_runs_due_ticks(clock_app: App, clock: FakeClock) -> None:
    """worker.run(burst=True) fires due schedules of its tiers, then runs the jobs."""
    ran: list[str] = []

    @clock_app.processor("tick", tier="high")
    async def tick(job: Job) -> None:
        ran.append(job.id)

    await clock_app.schedule("tick", cron="*/5 * * * *", data=None, attempts=2, timeout=9)
    clock.advance(300)
    await clock_app.worker("high").run(burst=True)
    assert ran == [f"sched:tick:{START_MS + 300_000}"]
    info = await clock_app.queue("high").get_job(ran[0])
    assert info is not None and info.attempts == 2


async def test_exactly_once_with_several_workers(clock_app: App, clock: FakeClock) -> None:
    """Three running workers (plus this test firing too) over 8 ticks: each tick ran once."""
    ran: list[str] = []

    @clock_app.processor("beat")
    async def beat(job: Job) -> None:
        ran.append(job.id)

    await clock_app.schedule("beat", every=1)
    workers = [clock_app.worker(concurrency=4) for _ in range(3)]
    async with running(workers[0]), running(workers[1]), running(workers[2]):
        for i in range(1, 9):
            clock.advance(1)
            await fire(clock_app)
            expected = f"sched:beat:{START_MS + i * 1000}"

            async def done(expected: str = expected) -> bool:
                return expected in ran

            await until(done)
    assert sorted(ran) == [f"sched:beat:{START_MS + i * 1000}" for i in range(1, 9)]


async def test_update_keeps_a_pending_tick_and_moves_a_changed_one(
    clock_app: App, clock: FakeClock
) -> None:
    """Same timing (a restart calling schedule() again): the due tick still fires, with the
    new data. New timing: the tick is recomputed."""
    await clock_app.schedule("job", every=60, tier="standard", data=1)
    clock.advance(61)
    await clock_app.schedule("job", every=60, tier="standard", data=2)
    await fire(clock_app)
    info = await clock_app.queue().get_job(f"sched:job:{START_MS + 60_000}")
    assert info is not None and info.data == 2
    [listed] = await clock_app.schedules()
    assert listed.data == 2 and listed.every == timedelta(seconds=60)
    updated = await clock_app.schedule("job", every=3600, tier="standard", data=3)
    assert updated.next_run == datetime.fromtimestamp(
        (START_MS // 3_600_000 + 1) * 3600, UTC)
    assert [s.key for s in await clock_app.schedules()] == ["job"]


async def test_moving_a_schedule_to_another_tier(clock_app: App) -> None:
    await clock_app.schedule("job", every=60, tier="standard")
    await clock_app.schedule("job", every=60, tier="high")
    assert [(s.key, s.tier) for s in await clock_app.schedules()] == [("job", "high")]
    assert await clock_app.schedules("standard") == []


async def test_a_paused_schedule_moved_to_another_tier_stays_paused(
    clock_app: App, clock: FakeClock,
) -> None:
    """An operator's pause survives a deploy that moves the schedule (docs/scheduling.md)."""
    await clock_app.schedule("job", every=60, tier="standard")
    await clock_app.pause_schedule("job")
    await clock_app.schedule("job", every=60, tier="high")
    [moved] = await clock_app.schedules()
    assert (moved.tier, moved.paused, moved.next_run) == ("high", True, None)
    clock.advance(150)
    await fire(clock_app, "high")
    assert await sched_jobs(clock_app, "high") == []
    assert await clock_app.resume_schedule("job") is True


async def test_a_move_that_fails_leaves_the_schedule_in_its_old_tier(
    clock_app: App, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The old tier's copy is deleted only once the new tier holds the schedule."""
    await clock_app.schedule("job", every=60, tier="standard")
    backend = await clock_app.backend()

    async def lost(*args: Any, **kwargs: Any) -> None:
        raise StreamqError("Redis went away")

    monkeypatch.setattr(backend.scripts, "schedule", lost)
    with pytest.raises(StreamqError, match="went away"):
        await clock_app.schedule("job", every=60, tier="high")
    monkeypatch.undo()
    assert [(s.key, s.tier) for s in await clock_app.schedules()] == [("job", "standard")]


async def test_pause_and_resume(clock_app: App, clock: FakeClock) -> None:
    """A paused schedule does not fire; resuming starts from the next tick after now."""
    await clock_app.schedule("job", every=60, tier="standard", key="k")
    assert await clock_app.pause_schedule("k") is True
    assert await clock_app.pause_schedule("k") is False
    [info] = await clock_app.schedules()
    assert info.paused and info.next_run is None
    clock.advance(150)
    await fire(clock_app)
    assert await sched_jobs(clock_app) == []
    await clock_app.schedule("job", every=60, tier="standard", key="k", data="new")
    assert (await clock_app.schedules())[0].paused  # an update keeps the pause
    assert await clock_app.resume_schedule("k") is True
    [info] = await clock_app.schedules()
    assert not info.paused
    assert info.next_run == datetime.fromtimestamp(START_MS / 1000 + 180, UTC)
    clock.advance(30)
    await fire(clock_app)
    assert await sched_jobs(clock_app) == [f"sched:k:{START_MS + 180_000}"]
    with pytest.raises(ScheduleNotFound):
        await clock_app.pause_schedule("nope")
    with pytest.raises(ScheduleNotFound):
        await clock_app.resume_schedule("nope")


async def test_unschedule(clock_app: App, clock: FakeClock) -> None:
    await clock_app.schedule("job", every=60, tier="standard")
    await clock_app.schedule("job", every=60, tier="standard", key="other")
    await clock_app.unschedule("job")
    assert [s.key for s in await clock_app.schedules()] == ["other"]
    clock.advance(60)
    await fire(clock_app)
    assert await sched_jobs(clock_app) == [f"sched:other:{START_MS + 60_000}"]
    with pytest.raises(ScheduleNotFound, match="job"):
        await clock_app.unschedule("job")


@pytest.mark.parametrize(("misfire", "expected"), [("skip", []), ("run_once", [3_600_000])])
async def test_misfire_after_an_outage(
    clock_app: App, clock: FakeClock, misfire: str, expected: list[int]
) -> None:
    """No worker for 1 h 5 min with a 10-minute schedule: skip runs nothing, run_once runs
    the latest missed tick; both then wait for the next tick after now."""
    base = START_MS // 600_000 * 600_000
    await clock_app.schedule("job", every=600, tier="standard", misfire=misfire)
    clock.now = (base + 3_900_000) / 1000
    await fire(clock_app)
    assert await sched_jobs(clock_app) == [f"sched:job:{base + d}" for d in expected]
    [info] = await clock_app.schedules()
    assert info.next_run == datetime.fromtimestamp((base + 4_200_000) / 1000, UTC)


async def test_late_but_within_grace_still_fires(clock_app: App, clock: FakeClock) -> None:
    await clock_app.schedule("job", every=60, tier="standard", misfire="skip")
    clock.advance(60 + 30)
    await fire(clock_app)
    assert await sched_jobs(clock_app) == [f"sched:job:{START_MS + 60_000}"]


async def test_jitter_delays_within_bounds(clock_app: App, clock: FakeClock) -> None:
    """jitter=5: each tick's job is due between the tick and 5 s after it."""
    await clock_app.schedule("job", every=10, tier="standard", jitter=5)
    backend = await clock_app.backend()
    offsets = []
    for i in range(1, 13):
        clock.advance(10)
        await fire(clock_app)
        job_id = f"sched:job:{START_MS + i * 10_000}"
        due: Any = await backend.client.zscore(clock_app.queue().keys.delayed, job_id)
        if due is None:  # a jitter of 0 ms: waiting at once
            assert await state(clock_app, "job", START_MS + i * 10_000) == JobState.WAITING
            due = START_MS + i * 10_000
        offsets.append(int(due) - (START_MS + i * 10_000))
    assert all(0 <= o <= 5000 for o in offsets)
    assert len(set(offsets)) > 3


async def test_cron_time_zone_and_dst(clock_app: App, clock: FakeClock) -> None:
    """'30 2 * * *' in Paris on 2026-03-29 (02:00 -> 03:00) next runs at 03:00 CEST."""
    clock.now = datetime(2026, 3, 28, 23, 0, tzinfo=UTC).timestamp()
    info = await clock_app.schedule("job", cron="30 2 * * *", tz="Europe/Paris",
                                    tier="standard")
    assert info.tz == "Europe/Paris"
    assert info.next_run is not None and info.next_run.isoformat() == "2026-03-29T03:00:00+02:00"
    clock.now = datetime(2026, 3, 29, 1, 0, tzinfo=UTC).timestamp()
    await fire(clock_app)
    tick = int(datetime(2026, 3, 29, 1, 0, tzinfo=UTC).timestamp() * 1000)
    assert await sched_jobs(clock_app) == [f"sched:job:{tick}"]


class Payload(pydantic.BaseModel):
    to: str


@pytest.mark.parametrize(("options", "error"), [
    ({"cron": "61 * * * *"}, ConfigurationError),
    ({"cron": "0 2 * * *", "tz": "Mars/Olympus"}, ConfigurationError),
    ({"cron": "0 2 * * *", "every": 5}, ConfigurationError),
    ({}, ConfigurationError),
    ({"every": 0}, ConfigurationError),
    ({"every": -5}, ConfigurationError),
    ({"every": math.nan}, ConfigurationError),
    ({"every": 10**12}, ConfigurationError),
    ({"every": 5, "tz": "UTC"}, ConfigurationError),
    ({"every": 5, "tier": "nope"}, ConfigurationError),
    ({"every": 5, "data": {1, 2}}, InvalidPayload),
    ({"every": 5, "misfire": "later"}, ConfigurationError),
    ({"every": 5, "jitter": -1}, ConfigurationError),
    ({"every": 5, "priority": 10}, ConfigurationError),
    ({"every": 5, "attempts": 0}, ConfigurationError),
    ({"every": 5, "timeout": 0}, ConfigurationError),
    ({"every": 5, "key": ""}, ConfigurationError),
    ({"every": 5, "data": {"to": 3}, "name": "typed"}, InvalidPayload),
    ({"every": 5, "name": "unregistered", "tier": None}, UnknownJobType),
    ({"every": 5, "data": {}, "name": "keyed"}, InvalidPayload),
    ({"every": 5, "name": "job\ud800", "key": "named"}, ConfigurationError),
])
async def test_invalid_schedules_write_nothing(
    clock_app: App, options: dict[str, Any], error: type[Exception]
) -> None:
    @clock_app.processor("typed", model=Payload)
    async def typed(job: Job) -> None: ...

    @clock_app.processor("keyed", rate_key=lambda data: data["tenant"])
    async def keyed(job: Job) -> None: ...

    options = {"tier": "standard", **options}
    name = options.pop("name", "job")
    with pytest.raises(error):
        await clock_app.schedule(name, **options)
    assert await clock_app.schedules() == []


async def test_a_full_tier_holds_its_tick_and_looks_again_later(
    make_app: MakeApp, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tick the full tier (max_waiting) turns away stays due and is tried once a look, a
    second apart: fire_due tried it 20 times a pass and asked to be called again at once, so
    every worker of the tier spun for as long as the tier stayed full."""
    app = make_app(tiers=[Tier("standard", max_waiting=1)], clock=clock)
    queue = app.queue()
    filler = await queue.enqueue("job")
    await app.schedule("job", every=60, tier="standard")
    clock.advance(60)
    backend = await app.backend()
    fire_schedule, calls = backend.scripts.fire_schedule, []

    async def counted(*args: Any) -> bool:
        calls.append(args)
        return await fire_schedule(*args)

    monkeypatch.setattr(backend.scripts, "fire_schedule", counted)
    assert await fire(app) == LOOK_EVERY_S
    assert len(calls) == 1
    assert await sched_jobs(app) == []
    await queue.remove(filler.id)
    assert await fire(app) == LOOK_EVERY_S
    assert await sched_jobs(app) == [f"sched:job:{START_MS + 60_000}"]


@pytest.mark.parametrize("damage", [
    {"cron": "0 2 * *", "every_ms": None}, {"every_ms": 0}, {"every_ms": "60000"},
    {"jitter_ms": "5"}, {"tz": "Mars/Olympus_Mons"}, {"priority": 12}, {"misfire": "twice"},
    {"timeout_s": 0}, {"v": 2}, {"attempts": 0},
], ids=repr)
async def test_a_definition_with_a_bad_value_is_skipped_not_fatal(
    clock_app: App, clock: FakeClock, damage: dict[str, Any],
) -> None:
    """Every field present but one wrong (damaged, or another version's meaning): the
    scheduler skips it as an unreadable definition instead of raising out of the worker,
    schedules() leaves it out, and resuming it says to schedule it again."""
    await clock_app.schedule("job", every=60, tier="standard")
    await clock_app.schedule("other", every=60, tier="standard")
    backend = await clock_app.backend()
    keys = clock_app.queue().keys
    definition = json.loads(await backend.client.hget(keys.schedules, "job"))
    await backend.client.hset(keys.schedules, "job", json.dumps({**definition, **damage}))
    clock.advance(60)
    with structlog.testing.capture_logs() as logs:
        await fire(clock_app)
        assert [s.key for s in await clock_app.schedules()] == ["other"]
    assert await sched_jobs(clock_app) == [f"sched:other:{START_MS + 60_000}"]
    assert any(e["event"].startswith("cannot read schedule") for e in logs)
    await clock_app.pause_schedule("job")
    with pytest.raises(StreamqError, match="schedule it again"):
        await clock_app.resume_schedule("job")


async def test_an_unreadable_schedule_is_skipped_and_scheduling_again_repairs_it(
    clock_app: App, clock: FakeClock
) -> None:
    """A definition this version cannot read (damaged, or another version's) is skipped by
    the scheduler without spinning and left out of schedules(); scheduling its key again
    overwrites it (that raised the same error as reading it)."""
    await clock_app.schedule("job", every=60, tier="standard")
    backend = await clock_app.backend()
    await backend.client.hset(clock_app.queue().keys.schedules, "job", '{"key": "job"}')
    clock.advance(60)
    assert await fire(clock_app) == LOOK_EVERY_S
    assert await sched_jobs(clock_app) == []
    assert await clock_app.schedules() == []

    await clock_app.schedule("job", every=60, tier="standard")
    assert [info.key for info in await clock_app.schedules()] == ["job"]
    clock.advance(60)
    await fire(clock_app)
    assert await sched_jobs(clock_app) == [f"sched:job:{START_MS + 120_000}"]
