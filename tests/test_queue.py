"""Queue: the producer and inspection side of a tier, on both backends.

Every test checks the stored state itself (counts, XLEN, ZSCORE, HGETALL), not only what the
API returns.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pydantic
import pytest
import redis.asyncio as aioredis

from streamq import (
    App,
    Backoff,
    ConfigurationError,
    Fail,
    InvalidPayload,
    Job,
    JobInfo,
    JobNotFound,
    JobState,
    JobStateError,
    Queue,
    QueueFull,
    Tier,
)
from streamq.broker.keys import GROUP
from tests.broker.helpers import stored_job
from tests.conftest import MakeApp
from tests.helpers import FakeClock

T0 = 1_700_000_000.0
"""The injected clock's start: a fixed instant, so due times are exact."""

EMPTY = {"waiting": 0, "active": 0, "delayed": 0, "completed": 0, "failed": 0}




@pytest.fixture
def clocked(make_app: MakeApp, clock: FakeClock) -> App:
    """An App whose scripts see the injected clock."""
    return make_app(clock=clock)


async def client_of(app: App) -> aioredis.Redis:
    """The App's own redis-py client (raw commands on the same server)."""
    return (await app.backend()).client


async def keys_of(app: App) -> list[str]:
    """Every key of the App's namespace."""
    client = await client_of(app)
    return sorted([key async for key in client.scan_iter(match=f"{app.namespace}:*")])


async def xlens(queue: Queue, app: App) -> list[int]:
    """XLEN of each priority's ready stream."""
    client = await client_of(app)
    return [await client.xlen(stream) for stream in queue.keys.ready]


async def drain_worker(app: App, tier: str = "standard") -> None:
    """Run a burst worker until nothing is ready or running."""
    await asyncio.wait_for(app.worker(tier).run(burst=True), 10)


def register_basics(app: App, tier: str = "standard") -> None:
    """``ok`` returns its data, ``bad`` raises Fail, ``boom`` raises RuntimeError."""

    @app.processor("ok", tier=tier)
    async def ok(job: Job) -> Any:
        return job.data

    @app.processor("bad", tier=tier)
    async def bad(job: Job) -> None:
        raise Fail("bad input")

    @app.processor("boom", tier=tier)
    async def boom(job: Job) -> None:
        raise RuntimeError("boom")


@asynccontextmanager
async def running_job(app: App, tier: str = "standard") -> AsyncIterator[Job]:
    """A job of ``tier`` held ACTIVE by a worker (concurrency 1) until the block exits."""
    started, release = asyncio.Event(), asyncio.Event()

    @app.processor("hold", tier=tier)
    async def hold(job: Job) -> str:
        started.set()
        await release.wait()
        return "released"

    job = await app.queue(tier).enqueue("hold", None)
    worker = app.worker(tier, concurrency=1)
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(started.wait(), 5)
        yield job
    finally:
        release.set()
        await asyncio.sleep(0.05)
        await asyncio.wait_for(worker.stop(grace=5), 10)
        await asyncio.wait_for(task, 10)


async def wait_for(predicate: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    """Poll ``predicate`` until true (only for state produced by another task)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition never became true"
        await asyncio.sleep(0.01)


# --------------------------------------------------------------------------- enqueue


async def test_enqueue_defaults_store_a_waiting_job(app: App) -> None:
    """A plain enqueue writes one waiting job: one stream entry holding its fields (no hash
    until it starts), a JobInfo."""
    queue = app.queue("high")
    job = await queue.enqueue("send_email", {"to": "a@b.c"})
    assert isinstance(job, Job)
    assert job.name == "send_email"
    assert job.tier == "high"
    assert job.data == {"to": "a@b.c"}
    assert isinstance(job.id, str)
    assert len(job.id) >= 16

    client = await client_of(app)
    stored = await stored_job(client, queue.keys, job.id)
    assert stored["state"] == "waiting"
    assert stored["name"] == "send_email"
    assert json.loads(stored["data"]) == {"to": "a@b.c"}
    assert stored["prio"] == "0"
    assert stored["attempt"] == "0"
    assert stored["max"] == "3"
    assert "due" not in stored
    assert "opts" not in stored
    entries = await client.xrange(queue.keys.ready[0])
    assert entries == [(stored["entry"], {"id": job.id, "name": "send_email",
                                          "data": stored["data"], "max": "3",
                                          "enq": stored["enq"]})]
    assert await client.exists(queue.keys.job(job.id)) == 0, "held in its entry alone"
    assert await xlens(queue, app) == [1] + [0] * 9
    assert await queue.counts() == {**EMPTY, "waiting": 1}


async def test_get_job_returns_every_field(clocked: App, clock: FakeClock) -> None:
    """JobInfo of a waiting job: identity, data, attempts, priority and enqueued_at."""
    queue = clocked.queue("low")
    await queue.enqueue("report", {"n": [1, 2]}, job_id="r-1", priority=4)
    info = await queue.get_job("r-1")
    assert isinstance(info, JobInfo)
    assert (info.id, info.name, info.tier, info.state) == ("r-1", "report", "low",
                                                           JobState.WAITING)
    assert info.data == {"n": [1, 2]}
    assert (info.attempt, info.attempts, info.priority, info.progress) == (0, 2, 4, 0.0)
    assert info.result is None
    assert info.error is None
    assert info.traceback is None
    assert info.logs == []
    assert info.enqueued_at == datetime.fromtimestamp(T0, UTC)
    assert info.run_at is None
    assert info.started_at is None
    assert info.finished_at is None
    assert info.worker is None


async def test_get_job_unknown_is_none(app: App) -> None:
    """An id that was never enqueued gives None, not an error."""
    assert await app.queue().get_job("never-enqueued") is None


async def test_get_job_timestamps_of_a_finished_job(clocked: App, clock: FakeClock) -> None:
    """enqueued_at, started_at and finished_at come from the App's clock; result is kept."""
    register_basics(clocked)
    queue = clocked.queue()
    job = await queue.enqueue("ok", {"x": 1})
    clock.advance(5)
    await drain_worker(clocked)
    info = await queue.get_job(job.id)
    assert info is not None
    assert info.state is JobState.COMPLETED
    assert info.result == {"x": 1}
    assert info.attempt == 1
    assert info.enqueued_at == datetime.fromtimestamp(T0, UTC)
    assert info.started_at == datetime.fromtimestamp(T0 + 5, UTC)
    assert info.finished_at == datetime.fromtimestamp(T0 + 5, UTC)
    assert info.worker
    client = await client_of(clocked)
    assert await client.zscore(queue.keys.completed, job.id) == (T0 + 5) * 1000


async def test_priority_selects_the_stream_and_the_order(app: App) -> None:
    """Priority p goes to ready:p; a worker runs priority 0 before priority 5 and 9."""
    order: list[str] = []

    @app.processor("rec")
    async def rec(job: Job) -> None:
        order.append(job.data)

    queue = app.queue()
    await queue.enqueue("rec", "p9", priority=9)
    await queue.enqueue("rec", "p5", priority=5)
    await queue.enqueue("rec", "p0", priority=0)
    assert await xlens(queue, app) == [1, 0, 0, 0, 0, 1, 0, 0, 0, 1]
    info = [i.priority for i in await queue.jobs("waiting")]
    assert info == [0, 5, 9]
    await asyncio.wait_for(app.worker("standard", concurrency=1).run(burst=True), 10)
    assert order == ["p0", "p5", "p9"]


async def test_delay_in_seconds_makes_a_delayed_job(clocked: App, clock: FakeClock) -> None:
    """delay=10 stores the job DELAYED, due at now + 10 s; it runs only once due."""
    register_basics(clocked)
    queue = clocked.queue()
    job = await queue.enqueue("ok", 1, delay=10)
    client = await client_of(clocked)
    assert await client.zscore(queue.keys.delayed, job.id) == (T0 + 10) * 1000
    assert await xlens(queue, clocked) == [0] * 10
    assert await job.state() is JobState.DELAYED
    info = await queue.get_job(job.id)
    assert info is not None
    assert info.run_at == datetime.fromtimestamp(T0 + 10, UTC)
    assert await queue.counts() == {**EMPTY, "delayed": 1}

    clock.advance(9.9)
    await drain_worker(clocked)
    assert await job.state() is JobState.DELAYED
    clock.advance(0.1)
    await drain_worker(clocked)
    assert await job.state() is JobState.COMPLETED
    assert await client.zcard(queue.keys.delayed) == 0


async def test_delay_as_timedelta(clocked: App) -> None:
    """A timedelta delay is the same as its seconds."""
    queue = clocked.queue()
    job = await queue.enqueue("x", None, delay=timedelta(minutes=2, milliseconds=5))
    client = await client_of(clocked)
    assert await client.zscore(queue.keys.delayed, job.id) == T0 * 1000 + 120_005


async def test_zero_delay_is_waiting_now(clocked: App) -> None:
    """delay=0 (or a run_at in the past) means run now: WAITING, not DELAYED."""
    queue = clocked.queue()
    a = await queue.enqueue("x", None, delay=0)
    b = await queue.enqueue("x", None, run_at=datetime.fromtimestamp(T0 - 60, UTC))
    assert await a.state() is JobState.WAITING
    assert await b.state() is JobState.WAITING
    assert await queue.counts() == {**EMPTY, "waiting": 2}


async def test_run_at_aware_datetime_any_timezone(clocked: App) -> None:
    """run_at is an instant: UTC and +02:00 datetimes of the same instant give one due time."""
    queue = clocked.queue()
    when = datetime.fromtimestamp(T0 + 30, UTC)
    a = await queue.enqueue("x", None, run_at=when)
    b = await queue.enqueue("x", None, run_at=when.astimezone(timezone(timedelta(hours=2))))
    client = await client_of(clocked)
    assert await client.zscore(queue.keys.delayed, a.id) == (T0 + 30) * 1000
    assert await client.zscore(queue.keys.delayed, b.id) == (T0 + 30) * 1000
    info = await queue.get_job(a.id)
    assert info is not None
    assert info.state is JobState.DELAYED
    assert info.run_at == when


async def test_job_id_is_used_as_given(app: App) -> None:
    """job_id= names the job: Redis stores it under that id and get_job finds it."""
    queue = app.queue()
    job = await queue.enqueue("x", {"a": 1}, job_id="welcome-42")
    assert job.id == "welcome-42"
    client = await client_of(app)
    assert (await stored_job(client, queue.keys, "welcome-42"))["name"] == "x"
    info = await queue.get_job("welcome-42")
    assert info is not None
    assert info.data == {"a": 1}


async def test_same_job_id_is_the_same_job(app: App) -> None:
    """Enqueueing an id that is alive changes nothing, in any state; after removal it is new."""
    register_basics(app)
    queue = app.queue()
    first = await queue.enqueue("ok", {"v": 1}, job_id="once")
    again = await queue.enqueue("ok", {"v": 2}, job_id="once", priority=3, delay=60)
    assert again.id == first.id == "once"
    assert await queue.counts() == {**EMPTY, "waiting": 1}
    assert await xlens(queue, app) == [1] + [0] * 9
    info = await queue.get_job("once")
    assert info is not None
    assert info.data == {"v": 1}
    assert info.priority == 0

    await drain_worker(app)
    await queue.enqueue("ok", {"v": 3}, job_id="once")
    assert await queue.counts() == {**EMPTY, "completed": 1}
    info = await queue.get_job("once")
    assert info is not None
    assert info.state is JobState.COMPLETED
    assert info.result == {"v": 1}

    await queue.remove("once")
    await queue.enqueue("ok", {"v": 4}, job_id="once")
    info = await queue.get_job("once")
    assert info is not None
    assert info.state is JobState.WAITING
    assert info.data == {"v": 4}


async def test_attempts_backoff_timeout_are_stored(app: App) -> None:
    """attempts goes to the job's max; backoff and timeout to its options."""
    queue = app.queue()
    job = await queue.enqueue("x", None, attempts=5, backoff=Backoff.fixed(7),
                              timeout=timedelta(seconds=30))
    client = await client_of(app)
    stored = await stored_job(client, queue.keys, job.id)
    assert stored["max"] == "5"
    opts = json.loads(stored["opts"])
    assert opts["timeout"] == 30.0
    assert opts["backoff"]["kind"] == "fixed"
    assert opts["backoff"]["base"] == 7.0
    info = await queue.get_job(job.id)
    assert info is not None
    assert info.attempts == 5


async def test_attempts_default_from_processor_then_tier(app: App) -> None:
    """Without attempts=, a processor's attempts apply, else the tier's."""

    @app.processor("seven", tier="critical", attempts=7)
    async def seven(job: Job) -> None:
        return None

    queue = app.queue("critical")
    a = await queue.enqueue("seven", None)
    b = await queue.enqueue("other", None)
    c = await queue.enqueue("seven", None, attempts=2)
    infos = [await queue.get_job(j.id) for j in (a, b, c)]
    assert [i.attempts for i in infos if i] == [7, 5, 2]


async def test_enqueue_backoff_decides_the_retry_delay(clocked: App, clock: FakeClock) -> None:
    """A failed attempt with backoff=Backoff.fixed(7) comes back due at now + 7 s."""
    register_basics(clocked)
    queue = clocked.queue()
    job = await queue.enqueue("boom", None, attempts=2, backoff=Backoff.fixed(7))
    await drain_worker(clocked)
    client = await client_of(clocked)
    assert await job.state() is JobState.DELAYED
    assert await client.zscore(queue.keys.delayed, job.id) == (T0 + 7) * 1000


async def test_enqueue_timeout_limits_the_run(app: App) -> None:
    """timeout=0.2 stops a processor that sleeps longer; the job fails 'timed out'."""

    @app.processor("slow")
    async def slow(job: Job) -> None:
        await asyncio.sleep(10)

    job = await app.queue().enqueue("slow", None, timeout=0.2, attempts=1)
    await drain_worker(app)
    info = await app.queue().get_job(job.id)
    assert info is not None
    assert info.state is JobState.FAILED
    assert info.error is not None
    assert "timed out" in info.error


# --------------------------------------------------------------------------- enqueue_many


async def test_enqueue_many_two_and_three_tuples(clocked: App) -> None:
    """(name, data) and (name, data, options) items, handles returned in order."""
    queue = clocked.queue()
    jobs = await queue.enqueue_many([
        ("a", {"n": 1}),
        ("b", {"n": 2}, {"priority": 3, "job_id": "b-1"}),
        ("c", [3], {"delay": 5, "attempts": 9}),
    ])
    assert [j.name for j in jobs] == ["a", "b", "c"]
    assert [j.data for j in jobs] == [{"n": 1}, {"n": 2}, [3]]
    assert jobs[1].id == "b-1"
    assert await queue.counts() == {**EMPTY, "waiting": 2, "delayed": 1}
    assert await xlens(queue, clocked) == [1, 0, 0, 1] + [0] * 6
    c = await queue.get_job(jobs[2].id)
    assert c is not None
    assert c.state is JobState.DELAYED
    assert c.attempts == 9
    client = await client_of(clocked)
    assert await client.zscore(queue.keys.delayed, jobs[2].id) == (T0 + 5) * 1000


async def test_enqueue_many_prepares_every_job_of_a_name(app: App) -> None:
    """Each job of a name that repeats in a batch gets its processor's checks and settings:
    the model validates and coerces every job's data, rate_key reads every job's data, the
    processor's attempts apply to all, and a later job's options are its own."""

    class Point(pydantic.BaseModel):
        x: int

    @app.processor("point", model=Point)
    async def point(job: Job) -> None:
        return None

    @app.processor("tenant", rate_key=lambda data: data["t"], attempts=7)
    async def tenant(job: Job) -> None:
        return None

    queue = app.queue()
    with pytest.raises(InvalidPayload, match="does not match Point"):
        await queue.enqueue_many([("point", {"x": 1}), ("point", {"x": "not a number"})])
    assert await queue.counts() == EMPTY
    jobs = await queue.enqueue_many([
        ("point", {"x": 1}), ("point", {"x": "2"}),
        ("tenant", {"t": "a"}), ("tenant", {"t": "b"}),
        ("tenant", {"t": "c"}, {"attempts": 2, "delay": 60}), ("tenant", {"t": "d"}),
    ])
    client = await client_of(app)
    stored = [await stored_job(client, queue.keys, job.id) for job in jobs]
    assert [json.loads(fields["data"]) for fields in stored[:2]] == [{"x": 1}, {"x": 2}]
    assert [fields.get("rk") for fields in stored[2:]] == ["a", "b", "c", "d"]
    assert [fields["max"] for fields in stored[2:]] == ["7", "7", "2", "7"]
    assert [job.attempts for job in jobs[2:]] == [7, 7, 2, 7]
    assert await queue.counts() == {**EMPTY, "waiting": 5, "delayed": 1}


async def test_enqueue_many_is_one_round_trip(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch is one enqueue script call, whatever its size; an empty batch is none."""
    queue = app.queue()
    await queue.counts()
    scripts = (await app.backend()).scripts
    calls: list[int] = []
    original = scripts.enqueue

    async def counting(keys: Any, jobs: list[Any], *args: Any) -> list[bool]:
        calls.append(len(jobs))
        return await original(keys, jobs, *args)

    monkeypatch.setattr(scripts, "enqueue", counting)
    await queue.enqueue_many([("x", i) for i in range(50)])
    assert calls == [50]
    assert await queue.enqueue_many([]) == []
    assert calls == [50]
    assert (await queue.counts())["waiting"] == 50


async def test_enqueue_many_same_id_twice_is_one_job(app: App) -> None:
    """Two items with one job_id in a batch make one job (the first)."""
    queue = app.queue()
    await queue.enqueue_many([("x", 1, {"job_id": "dup"}), ("x", 2, {"job_id": "dup"})])
    assert await queue.counts() == {**EMPTY, "waiting": 1}
    info = await queue.get_job("dup")
    assert info is not None
    assert info.data == 1


@pytest.mark.parametrize(
    ("bad_item", "error"),
    [
        (("x", {"when": datetime.now(UTC)}), InvalidPayload),
        (("x", 1, {"priority": 10}), ConfigurationError),
        (("x", 1, {"delay": -1}), ConfigurationError),
        (("x", 1, {"colour": "red"}), ConfigurationError),
        (("", 1), ConfigurationError),
        (["x", 1], ConfigurationError),
        ((["x"], 1), ConfigurationError),
    ],
    ids=["data", "priority", "delay", "unknown-option", "empty-name", "not-a-tuple",
         "unhashable-name"],
)
async def test_enqueue_many_is_all_or_nothing(
    app: App, bad_item: Any, error: type[Exception]
) -> None:
    """One bad item anywhere in the batch: the call raises and nothing at all is written."""
    queue = app.queue()
    await queue.counts()
    before = await keys_of(app)
    with pytest.raises(error):
        await queue.enqueue_many([("x", 1), ("x", 2, {"job_id": "good"}), bad_item, ("x", 3)])
    assert await queue.counts() == EMPTY
    assert await keys_of(app) == before
    assert await queue.get_job("good") is None


async def test_enqueue_many_queue_full_writes_nothing(make_app: MakeApp) -> None:
    """A batch that would pass max_waiting raises QueueFull and adds none of its jobs."""
    app = make_app(tiers=[Tier("standard", max_waiting=3)])
    queue = app.queue()
    await queue.enqueue("x", 0)
    before = await keys_of(app)
    with pytest.raises(QueueFull):
        await queue.enqueue_many([("x", 1), ("x", 2), ("x", 3)])
    assert await queue.counts() == {**EMPTY, "waiting": 1}
    assert await keys_of(app) == before
    await queue.enqueue_many([("x", 1), ("x", 2)])
    assert await queue.counts() == {**EMPTY, "waiting": 3}


# --------------------------------------------------------------------------- max_waiting


async def test_reads_create_no_queue(make_app: MakeApp) -> None:
    """Reading a tier not yet in Redis answers as for an empty one and writes nothing: the
    reads prepared the queue (streams, groups, meta), so `streamq stats --namespace typo`
    created every tier."""
    app = make_app()
    queue = app.queue("high")
    assert await queue.counts() == EMPTY
    assert not await queue.is_paused()
    assert await queue.get_job("x") is None
    for state in JobState:
        assert await queue.jobs(state) == []
    with pytest.raises(JobNotFound):
        await queue.state_of("x")
    assert await keys_of(app) == []


async def test_max_waiting_raises_queue_full_and_writes_nothing(make_app: MakeApp) -> None:
    """Past max_waiting, enqueue raises QueueFull (with its numbers) and writes nothing."""
    app = make_app(tiers=[Tier("high", max_waiting=2)])
    queue = app.queue("high")
    await queue.enqueue("x", 1)
    await queue.enqueue("x", 2, delay=60)
    before = await keys_of(app)
    with pytest.raises(QueueFull) as caught:
        await queue.enqueue("x", 3, job_id="third")
    assert (caught.value.tier, caught.value.waiting, caught.value.max_waiting) == ("high", 2, 2)
    assert "max_waiting" in str(caught.value)
    assert "more workers" in str(caught.value)
    assert await keys_of(app) == before
    assert await queue.get_job("third") is None
    assert await queue.counts() == {**EMPTY, "waiting": 1, "delayed": 1}
    assert await xlens(queue, app) == [1] + [0] * 9


async def test_a_batch_larger_than_max_waiting_says_so(make_app: MakeApp) -> None:
    """5 jobs at once into an empty tier of max_waiting 3: the message said the queue was
    "full: 0 jobs are waiting", which reads as a bug; it now names the batch."""
    app = make_app(tiers=[Tier("t", max_waiting=3)])
    queue = app.queue("t")
    with pytest.raises(QueueFull, match="cannot take 5 jobs at once") as caught:
        await queue.enqueue_many([("p", {"i": i}) for i in range(5)])
    assert (caught.value.waiting, caught.value.adding) == (0, 5)
    assert "split the batch" in str(caught.value)
    assert await queue.counts() == EMPTY


async def test_max_waiting_ignores_running_and_existing_ids(make_app: MakeApp) -> None:
    """Running jobs do not count toward max_waiting, and re-enqueueing a live id never fails."""
    app = make_app(tiers=[Tier("standard", max_waiting=1)])
    queue = app.queue()
    async with running_job(app) as held:
        await queue.enqueue("x", 1, job_id="w")
        assert await queue.counts() == {**EMPTY, "waiting": 1, "active": 1}
        await queue.enqueue("x", 1, job_id="w")
        await queue.enqueue("x", 1, job_id=held.id)
        with pytest.raises(QueueFull):
            await queue.enqueue("x", 2)
        await queue.remove("w")


# --------------------------------------------------------------------------- inspection


async def test_counts_and_jobs_for_every_state(clocked: App, clock: FakeClock) -> None:
    """One job in each state: counts() sees each, jobs(state) lists exactly that one."""
    register_basics(clocked)
    queue = clocked.queue()
    assert await queue.counts() == EMPTY
    done = await queue.enqueue("ok", 1, job_id="done")
    dead = await queue.enqueue("bad", 2, job_id="dead")
    await drain_worker(clocked)
    later = await queue.enqueue("ok", 3, job_id="later", delay=60)
    async with running_job(clocked) as held:
        waiting = await queue.enqueue("ok", 4, job_id="waits")
        assert await queue.counts() == {"waiting": 1, "active": 1, "delayed": 1,
                                        "completed": 1, "failed": 1}
        expected = {
            JobState.WAITING: waiting.id, JobState.ACTIVE: held.id,
            JobState.DELAYED: later.id, JobState.COMPLETED: done.id, JobState.FAILED: dead.id,
        }
        for state, job_id in expected.items():
            listed = await queue.jobs(state)
            assert [i.id for i in listed] == [job_id], state
            assert listed[0].state is state
            assert [i.id for i in await queue.jobs(state.value)] == [job_id]


async def test_jobs_waiting_oldest_first_with_limit(app: App) -> None:
    """jobs('waiting') lists in run order (priority, then age) and honours limit."""
    queue = app.queue()
    for n in range(5):
        await queue.enqueue("x", n, job_id=f"j{n}", priority=1)
    await queue.enqueue("x", 9, job_id="urgent", priority=0)
    ids = [i.id for i in await queue.jobs(JobState.WAITING, limit=3)]
    assert ids == ["urgent", "j0", "j1"]
    assert len(await queue.jobs(JobState.WAITING)) == 6


@pytest.mark.parametrize("state", list(JobState))
async def test_jobs_limit_zero_is_empty(clocked: App, state: JobState) -> None:
    """jobs(state, limit=0) lists nothing in every state (not everything); limit=1 one."""
    register_basics(clocked)
    queue = clocked.queue()
    await queue.enqueue_many([("ok", 1), ("bad", 2), ("ok", 3), ("bad", 4)])
    await drain_worker(clocked)
    await queue.enqueue_many([("ok", 5, {"delay": 60}), ("ok", 6, {"delay": 60})])
    async with running_job(clocked):
        await queue.enqueue_many([("ok", 7), ("ok", 8)])
        assert await queue.jobs(state, limit=0) == []
        assert len(await queue.jobs(state, limit=1)) == 1


async def test_jobs_refuses_bad_state_and_limit(app: App) -> None:
    """An unknown state or a negative limit is a ConfigurationError listing what is valid."""
    queue = app.queue()
    with pytest.raises(ConfigurationError, match="waiting, delayed, active, completed, failed"):
        await queue.jobs("dead")
    with pytest.raises(ConfigurationError, match="limit must be"):
        await queue.jobs("failed", limit=-1)
    with pytest.raises(ConfigurationError, match="limit must be"):
        await queue.dead_letters(limit=-5)


async def test_max_waiting_zero_is_unbounded(make_app: MakeApp) -> None:
    """Tier(max_waiting=0) never raises QueueFull."""
    app = make_app(tiers=[Tier("low", max_waiting=0)])
    await app.queue("low").enqueue_many([("x", n) for n in range(300)])
    assert (await app.queue("low").counts())["waiting"] == 300


async def test_unusual_job_ids(app: App) -> None:
    """Job ids with spaces, colons, braces and non-ASCII are stored and found as given."""
    queue = app.queue()
    for job_id in ("a b", "tenant:42:order", "{braces}", "über-ü", "x" * 256):
        await queue.enqueue("x", job_id, job_id=job_id)
        info = await queue.get_job(job_id)
        assert info is not None
        assert info.data == job_id
    assert (await queue.counts())["waiting"] == 5
    await queue.remove("{braces}")
    assert await queue.get_job("{braces}") is None


async def test_pause_resume_is_paused(app: App) -> None:
    """A paused queue keeps its jobs waiting; resume lets a running worker take them."""
    register_basics(app)
    queue = app.queue()
    assert await queue.is_paused() is False
    await queue.pause()
    assert await queue.is_paused() is True
    client = await client_of(app)
    assert await client.hget(queue.keys.meta, "paused") == "1"

    job = await queue.enqueue("ok", "v")
    worker = app.worker("standard")
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(0.3)
        assert await job.state() is JobState.WAITING
        assert await queue.counts() == {**EMPTY, "waiting": 1}
        await queue.resume()
        assert await queue.is_paused() is False
        assert await job.result(timeout=5) == "v"
    finally:
        await asyncio.wait_for(worker.stop(grace=1), 10)
        await task


async def test_drain_deletes_waiting_and_delayed_not_running(app: App) -> None:
    """drain() deletes every job not started (hashes too), leaves the running one alone."""
    queue = app.queue()
    async with running_job(app) as held:
        waiting = [await queue.enqueue("x", n, priority=n % 3) for n in range(3)]
        delayed = [await queue.enqueue("x", n, delay=60) for n in range(2)]
        assert await queue.drain() == 5
        assert await queue.counts() == {**EMPTY, "active": 1}
        for job in waiting + delayed:
            assert await queue.get_job(job.id) is None
        assert await held.state() is JobState.ACTIVE
        client = await client_of(app)
        consumers = [c for stream in queue.keys.ready
                     for c in await client.xinfo_consumers(stream, GROUP)]
        assert not [c for c in consumers if c["name"].startswith("drainer")]
        assert await queue.drain() == 0
    assert await held.state() is JobState.COMPLETED


async def test_drain_can_keep_delayed_jobs(app: App) -> None:
    """drain(delayed=False) deletes waiting jobs only."""
    queue = app.queue()
    await queue.enqueue("x", 1)
    kept = await queue.enqueue("x", 2, delay=60)
    assert await queue.drain(delayed=False) == 1
    assert await queue.counts() == {**EMPTY, "delayed": 1}
    assert await kept.state() is JobState.DELAYED


async def test_drain_many_jobs(app: App) -> None:
    """drain() loops until everything is gone, past one script batch."""
    queue = app.queue()
    await queue.enqueue_many([("x", n) for n in range(1200)])
    assert await queue.drain() == 1200
    assert await queue.counts() == EMPTY
    assert await xlens(queue, app) == [0] * 10


# --------------------------------------------------------------------------- remove / promote


async def test_remove_in_every_finished_or_pending_state(app: App) -> None:
    """remove() deletes a waiting, delayed, completed or failed job and all trace of it."""
    register_basics(app)
    queue = app.queue()
    done = await queue.enqueue("ok", 1)
    dead = await queue.enqueue("bad", 1)
    await drain_worker(app)
    waiting = await queue.enqueue("ok", 1)
    await waiting.log("a line")
    delayed = await queue.enqueue("ok", 1, delay=60)
    assert await queue.counts() == {**EMPTY, "waiting": 1, "delayed": 1, "completed": 1,
                                    "failed": 1}
    for job in (waiting, delayed, done, dead):
        await queue.remove(job.id)
        assert await queue.get_job(job.id) is None
    assert await queue.counts() == EMPTY
    assert await xlens(queue, app) == [0] * 10
    assert [k for k in await keys_of(app) if ":job:" in k or ":logs:" in k] == []


async def test_remove_running_job_discards_its_outcome(app: App) -> None:
    """Removing an ACTIVE job frees its pending entry; the worker's result is not recorded."""
    queue = app.queue()
    async with running_job(app) as held:
        await queue.remove(held.id)
        assert await queue.get_job(held.id) is None
        assert await queue.counts() == EMPTY
        client = await client_of(app)
        assert (await client.xpending(queue.keys.ready[0], GROUP))["pending"] == 0
    assert await queue.get_job(held.id) is None
    assert await queue.counts() == EMPTY


async def test_remove_unknown_raises_job_not_found(app: App) -> None:
    """remove() of an unknown id raises JobNotFound (also a KeyError) naming it."""
    with pytest.raises(JobNotFound, match="nope") as caught:
        await app.queue().remove("nope")
    assert isinstance(caught.value, KeyError)
    assert "never enqueued" in str(caught.value)


async def test_promote_runs_a_delayed_job_now(clocked: App) -> None:
    """promote() moves a delayed job to its ready stream at once."""
    queue = clocked.queue()
    job = await queue.enqueue("x", None, delay=3600, priority=2)
    await queue.promote(job.id)
    client = await client_of(clocked)
    assert await client.zscore(queue.keys.delayed, job.id) is None
    assert await xlens(queue, clocked) == [0, 0, 1] + [0] * 7
    info = await queue.get_job(job.id)
    assert info is not None
    assert info.state is JobState.WAITING
    assert info.run_at is None
    assert await queue.counts() == {**EMPTY, "waiting": 1}


async def test_promote_refuses_other_states(app: App) -> None:
    """promote() of a waiting job raises JobStateError; of an unknown one JobNotFound."""
    queue = app.queue()
    job = await queue.enqueue("x", None)
    with pytest.raises(JobStateError, match="only a delayed job"):
        await queue.promote(job.id)
    with pytest.raises(JobNotFound):
        await queue.promote("nope")
    assert await queue.counts() == {**EMPTY, "waiting": 1}


# --------------------------------------------------------------------------- clean


async def test_clean_older_than_uses_the_app_clock(clocked: App, clock: FakeClock) -> None:
    """clean(state, older_than) deletes only jobs finished at or before now - older_than."""
    register_basics(clocked)
    queue = clocked.queue()
    old = [await queue.enqueue("ok", n) for n in range(2)]
    old_dead = await queue.enqueue("bad", 0)
    await drain_worker(clocked)
    clock.advance(1000)
    new = await queue.enqueue("ok", 9)
    new_dead = await queue.enqueue("bad", 9)
    await drain_worker(clocked)
    clock.advance(500)

    assert await queue.clean("completed", older_than=1501) == 0
    assert await queue.clean("completed", older_than=timedelta(seconds=1500)) == 2
    assert await queue.counts() == {**EMPTY, "completed": 1, "failed": 2}
    for job in old:
        assert await queue.get_job(job.id) is None
    assert await new.state() is JobState.COMPLETED

    assert await queue.clean(JobState.FAILED, older_than=600) == 1
    assert await queue.get_job(old_dead.id) is None
    assert await new_dead.state() is JobState.FAILED
    assert await queue.clean("failed") == 1
    assert await queue.counts() == {**EMPTY, "completed": 1}


async def test_clean_refuses_unfinished_states(app: App) -> None:
    """clean() is for finished jobs; the message points at drain() and remove()."""
    with pytest.raises(ConfigurationError, match="drain"):
        await app.queue().clean("waiting")


# --------------------------------------------------------------------------- dead letters


async def test_dead_letters_newest_first(clocked: App, clock: FakeClock) -> None:
    """dead_letters() lists FAILED jobs newest first, with their error; limit applies."""
    register_basics(clocked)
    queue = clocked.queue()
    ids = []
    for n in range(3):
        job = await queue.enqueue("bad", n, job_id=f"dead-{n}")
        ids.append(job.id)
        await drain_worker(clocked)
        clock.advance(1)
    letters = await queue.dead_letters()
    assert [i.id for i in letters] == ["dead-2", "dead-1", "dead-0"]
    assert all(i.state is JobState.FAILED and i.error == "bad input" for i in letters)
    assert [i.id for i in await queue.dead_letters(limit=2)] == ["dead-2", "dead-1"]


async def test_retry_gives_fresh_attempts(app: App) -> None:
    """retry() of a FAILED job: WAITING again, attempt reset, and the full budget applies."""
    seen: list[int] = []
    fail_until = {"attempts": 99}

    @app.processor("flaky")
    async def flaky(job: Job) -> str:
        seen.append(job.attempt)
        if len(seen) <= fail_until["attempts"]:
            raise RuntimeError("not yet")
        return "finally"

    queue = app.queue()
    job = await queue.enqueue("flaky", None, attempts=2, backoff=Backoff.fixed(0))
    await drain_worker(app)
    info = await queue.get_job(job.id)
    assert info is not None
    assert info.state is JobState.FAILED
    assert info.attempt == 2
    assert seen == [1, 2]

    fail_until["attempts"] = 3
    await queue.retry(job.id)
    info = await queue.get_job(job.id)
    assert info is not None
    assert info.state is JobState.WAITING
    assert info.attempt == 0
    assert await queue.counts() == {**EMPTY, "waiting": 1}
    client = await client_of(app)
    assert await client.zscore(queue.keys.failed, job.id) is None
    await drain_worker(app)
    assert seen == [1, 2, 1, 2]
    assert await job.result(timeout=1) == "finally"


async def test_retry_refuses_other_states(app: App) -> None:
    """retry() of a job that is not FAILED raises JobStateError; unknown ids JobNotFound."""
    queue = app.queue()
    job = await queue.enqueue("x", None)
    with pytest.raises(JobStateError, match="only a failed job"):
        await queue.retry(job.id)
    with pytest.raises(JobNotFound):
        await queue.retry("nope")
    assert await queue.counts() == {**EMPTY, "waiting": 1}
