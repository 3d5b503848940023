"""Worker basics on both backends: what a processor sees, what is stored, priority order,
concurrency limits, unknown job types, pydantic models, delayed promotion and multi-tier
workers."""

from __future__ import annotations

import asyncio

import pydantic
import pytest

from streamq import App, Job, JobState
from tests.broker.helpers import place
from tests.helpers import FakeClock, Gauge, running


async def test_processor_sees_job_and_result_is_stored(app: App) -> None:
    """The processor gets data, a 1-based attempt, progress and log; its return value,
    progress and log lines are stored and the job ends COMPLETED."""
    seen: list[tuple[object, int, str]] = []

    @app.processor("greet")
    async def greet(job: Job) -> dict[str, object]:
        seen.append((job.data, job.attempt, job.tier))
        await job.progress(40)
        await job.log("halfway")
        await job.progress(100)
        await job.log("done")
        return {"hello": job.data["who"], "n": 3}

    job = await app.enqueue("greet", {"who": "world"})
    worker = app.worker("standard")
    await worker.run(burst=True)

    assert seen == [({"who": "world"}, 1, "standard")]
    assert await job.result(timeout=1) == {"hello": "world", "n": 3}
    info = await app.queue("standard").get_job(job.id)
    assert info is not None
    assert info.state is JobState.COMPLETED
    assert info.result == {"hello": "world", "n": 3}
    assert info.attempt == 1
    assert info.progress == 100
    assert info.logs == ["halfway", "done"]
    assert info.error is None
    assert info.worker == worker.consumer
    assert info.started_at is not None
    assert info.finished_at is not None
    assert worker.processed == 1
    counts = await app.queue("standard").counts()
    assert counts == {"waiting": 0, "active": 0, "delayed": 0, "completed": 1, "failed": 0}
    backend = await app.backend()
    keys = app.queue("standard").keys
    assert await backend.client.zscore(keys.completed, job.id) is not None
    for stream in keys.ready:
        assert (await backend.client.xpending(stream, "workers"))["pending"] == 0


async def test_none_result_is_stored(app: App) -> None:
    """A processor returning nothing completes with a ``None`` result."""

    @app.processor("noop")
    async def noop(job: Job) -> None:
        return None

    job = await app.enqueue("noop")
    await app.worker().run(burst=True)
    assert await job.state() is JobState.COMPLETED
    assert await job.result(timeout=1) is None


async def test_priority_order_within_a_tier(app: App) -> None:
    """Jobs enqueued with priorities 9..0 run 0..9 on a concurrency-1 worker."""
    order: list[int] = []

    @app.processor("p")
    async def p(job: Job) -> None:
        order.append(job.data)

    queue = app.queue("standard")
    for prio in range(9, -1, -1):
        await queue.enqueue("p", prio, priority=prio)
    await app.worker("standard", concurrency=1).run(burst=True)
    assert order == list(range(10))


async def test_jobs_whose_entries_share_an_id_in_two_priorities_both_run(app: App) -> None:
    """Entry ids repeat across the priority streams (same millisecond, same sequence): a
    worker tells its jobs apart by priority and entry id, so both run and complete."""
    ran: list[str] = []

    @app.processor("p")
    async def p(job: Job) -> None:
        ran.append(job.id)

    queue = app.queue("standard")
    jobs = [await queue.enqueue("p", None, priority=prio) for prio in (0, 1)]
    client = (await app.backend()).client
    for job, prio in zip(jobs, (0, 1), strict=True):
        stream = queue.keys.ready[prio]
        [(old, fields)] = await client.xrange(stream)
        await client.xdel(stream, old)
        await client.xadd(stream, fields, id="9999999999999-0")
        await client.hset(queue.keys.index, job.id, place(prio, "9999999999999-0"))
    await app.worker("standard", concurrency=2).run(burst=True)
    assert sorted(ran) == sorted(job.id for job in jobs)
    assert [(await job.info()).state for job in jobs] == [JobState.COMPLETED] * 2


async def test_fifo_within_one_priority(app: App) -> None:
    """Within one priority, jobs run in the order they were enqueued."""
    order: list[int] = []

    @app.processor("p")
    async def p(job: Job) -> None:
        order.append(job.data)

    await app.queue("standard").enqueue_many([("p", i, {"priority": 3}) for i in range(8)])
    await app.worker("standard", concurrency=1).run(burst=True)
    assert order == list(range(8))


@pytest.mark.parametrize("limit", [1, 3])
async def test_concurrency_limit_is_respected(app: App, limit: int) -> None:
    """No more than ``concurrency`` jobs run at once, and the limit is actually reached."""
    gauge = Gauge()

    @app.processor("busy")
    async def busy(job: Job) -> None:
        with gauge.running():
            await asyncio.sleep(0.03)

    await app.queue("standard").enqueue_many([("busy", i) for i in range(3 * limit + 1)])
    worker = app.worker("standard", concurrency=limit)
    await worker.run(burst=True)
    assert gauge.most == limit
    assert worker.processed == 3 * limit + 1
    assert (await app.queue("standard").counts())["completed"] == 3 * limit + 1


async def test_unknown_job_type_fails_naming_the_type(app: App) -> None:
    """A job with no processor in the worker ends FAILED at once; the error names it."""
    queue = app.queue("standard")
    job = await queue.enqueue("no_such_type", {"x": 1}, attempts=5)
    await app.worker("standard").run(burst=True)

    info = await queue.get_job(job.id)
    assert info is not None
    assert info.state is JobState.FAILED
    assert info.error is not None
    assert "'no_such_type'" in info.error
    assert info.attempt == 1
    backend = await app.backend()
    assert await backend.client.zscore(queue.keys.failed, job.id) is not None
    assert await backend.client.zcard(queue.keys.delayed) == 0


class Order(pydantic.BaseModel):
    sku: str
    qty: int


async def test_model_processor_receives_a_model_instance(app: App) -> None:
    """With ``model=``, the processor gets a validated model instance."""
    got: list[object] = []

    @app.processor("order", model=Order)
    async def order(job: Job) -> int:
        got.append(job.data)
        return int(job.data.qty) * 2

    job = await app.enqueue("order", {"sku": "a-1", "qty": "4"})
    await app.worker().run(burst=True)
    assert got == [Order(sku="a-1", qty=4)]
    assert isinstance(got[0], Order)
    assert await job.result(timeout=1) == 8


async def test_model_data_that_no_longer_validates_fails(app: App) -> None:
    """Data stored before the model changed fails at the worker, without running it."""
    queue = app.queue("standard")
    job = await queue.enqueue("order", {"sku": "a-1"}, attempts=3)  # no processor yet
    calls: list[object] = []

    @app.processor("order", model=Order)
    async def order(job: Job) -> None:
        calls.append(job.data)

    await app.worker().run(burst=True)
    assert calls == []
    info = await queue.get_job(job.id)
    assert info is not None
    assert info.state is JobState.FAILED
    assert info.error is not None
    assert "no longer matches Order" in info.error
    assert "qty" in info.error


async def test_burst_promotes_due_delayed_jobs(clock_app: App, clock: FakeClock) -> None:
    """A delayed job does not run before it is due; once the clock passes its due time, a
    burst worker promotes it and runs it."""
    ran: list[str] = []

    @clock_app.processor("later")
    async def later(job: Job) -> None:
        ran.append(job.id)

    queue = clock_app.queue("standard")
    job = await queue.enqueue("later", delay=60)
    backend = await clock_app.backend()
    assert await backend.client.zscore(queue.keys.delayed, job.id) == clock.now * 1000 + 60_000

    await clock_app.worker().run(burst=True)
    assert ran == []
    assert await job.state() is JobState.DELAYED

    clock.advance(59.9)
    await clock_app.worker().run(burst=True)
    assert ran == []

    clock.advance(0.2)
    await clock_app.worker().run(burst=True)
    assert ran == [job.id]
    assert await job.state() is JobState.COMPLETED
    assert await backend.client.zcard(queue.keys.delayed) == 0


async def test_running_worker_promotes_when_clock_passes_due(
    clock_app: App, clock: FakeClock
) -> None:
    """A running worker picks up a delayed job soon after its due time passes."""
    done = asyncio.Event()

    @clock_app.processor("later")
    async def later(job: Job) -> str:
        done.set()
        return "ran"

    job = await clock_app.enqueue("later", delay=3600)
    async with running(clock_app.worker()):
        await asyncio.sleep(0.3)
        assert not done.is_set()
        assert await job.state() is JobState.DELAYED
        clock.advance(3600)
        await asyncio.wait_for(done.wait(), 3)
        assert await job.result(timeout=3) == "ran"


async def test_worker_serves_several_tiers_with_separate_limits(app: App) -> None:
    """One worker for ["critical", "low"] runs both, each under its own concurrency
    (critical 2, low 16): a flood of low jobs never takes critical's slots."""
    running_now = {"critical": 0, "low": 0}
    peak = {"critical": 0, "low": 0}
    low_gate = asyncio.Event()

    async def track(job: Job) -> None:
        running_now[job.tier] += 1
        peak[job.tier] = max(peak[job.tier], running_now[job.tier])

    @app.processor("crit", tier="critical")
    async def crit(job: Job) -> str:
        await track(job)
        await asyncio.sleep(0.03)
        running_now[job.tier] -= 1
        return "c"

    @app.processor("bulk", tier="low")
    async def bulk(job: Job) -> str:
        await track(job)
        if running_now["low"] >= 6:
            low_gate.set()
        await asyncio.wait_for(low_gate.wait(), 3)
        running_now[job.tier] -= 1
        return "l"

    await app.queue("low").enqueue_many([("bulk", i) for i in range(6)])
    await app.queue("critical").enqueue_many([("crit", i) for i in range(5)])
    worker = app.worker(["critical", "low"])
    assert [(r.keys.tier, r.concurrency) for r in worker.runners] == [
        ("critical", 2), ("low", 16)]
    await worker.run(burst=True)

    assert peak == {"critical": 2, "low": 6}
    assert (await app.queue("critical").counts())["completed"] == 5
    assert (await app.queue("low").counts())["completed"] == 6
    assert worker.processed == 11


async def test_worker_concurrency_override_applies_to_each_tier(app: App) -> None:
    """``app.worker(tiers, concurrency=N)`` gives every tier N slots."""
    worker = app.worker(["critical", "low"], concurrency=3)
    assert [r.concurrency for r in worker.runners] == [3, 3]
