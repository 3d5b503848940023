"""fire_schedule.lua: compare-and-set on the pending tick, then enqueue like enqueue.lua."""

from __future__ import annotations

import pytest

from streamq import App, QueueFull
from streamq.broker.records import NewJob
from tests.broker.helpers import (
    NOW,
    Ctx,
    claim,
    enqueue,
    exists,
    job_hash,
    new_job,
    open_ctx,
    stream,
    zmembers,
    zscore,
)


def tick_job(tick: int = NOW, *, due: int | None = None, priority: int = 0,
             opts: str = "") -> NewJob:
    return NewJob(f"sched:k:{tick}", "task", '{"n":1}', priority,
                   tick if due is None else due, 3, opts)


async def scheduled(app: App, tick: int = NOW) -> Ctx:
    ctx = await open_ctx(app)
    await ctx.scripts.schedule(ctx.keys, "k", "d", tick, None, False)
    return ctx


async def test_fires_once_and_moves_the_tick(app: App) -> None:
    """The job is written as enqueue writes it (waiting), the tick moves, a second fire of
    the same tick is refused."""
    ctx = await scheduled(app)
    job = tick_job(priority=3, opts='{"timeout":5}')
    assert await ctx.scripts.fire_schedule(ctx.keys, "k", NOW, NOW, NOW + 60_000, job, 0)
    assert await zscore(ctx, ctx.keys.ticks, "k") == NOW + 60_000
    fields = await job_hash(ctx, job.id)
    [(entry, job_id)] = await stream(ctx, 3)
    assert job_id == job.id
    assert fields == {"name": "task", "data": '{"n":1}', "prio": "3", "attempt": "0",
                      "max": "3", "enq": str(NOW), "opts": '{"timeout":5}',
                      "state": "waiting", "entry": entry}
    assert await ctx.client.hget(ctx.keys.meta, "prios") == "3"
    assert not await ctx.scripts.fire_schedule(ctx.keys, "k", NOW, NOW, NOW + 60_000, job, 0)
    assert len(await stream(ctx, 3)) == 1
    assert [c.id for c in await claim(ctx)] == [job.id]


async def test_jittered_job_is_delayed(app: App) -> None:
    """A due time after now makes the job delayed, like enqueue."""
    ctx = await scheduled(app)
    job = tick_job(due=NOW + 1500)
    assert await ctx.scripts.fire_schedule(ctx.keys, "k", NOW, NOW, NOW + 60_000, job, 0)
    assert await zscore(ctx, ctx.keys.delayed, job.id) == NOW + 1500
    assert (await job_hash(ctx, job.id))["state"] == "delayed"


async def test_skip_moves_the_tick_only(app: App) -> None:
    """No job (missed ticks skipped): only the tick moves."""
    ctx = await scheduled(app)
    assert await ctx.scripts.fire_schedule(ctx.keys, "k", NOW, NOW, NOW + 5, None, 0)
    assert await zscore(ctx, ctx.keys.ticks, "k") == NOW + 5
    assert await stream(ctx) == []
    assert not await exists(ctx, ctx.keys.job("-"))


async def test_replayed_job_id_is_not_duplicated(app: App) -> None:
    """If the job id exists already (a replayed fire), nothing new is enqueued."""
    ctx = await scheduled(app)
    job = tick_job()
    await enqueue(ctx, new_job(job.id))
    assert await ctx.scripts.fire_schedule(ctx.keys, "k", NOW, NOW, NOW + 5, job, 0)
    assert len(await stream(ctx)) == 1
    assert await zscore(ctx, ctx.keys.ticks, "k") == NOW + 5


async def test_paused_removed_or_moved_does_not_fire(app: App) -> None:
    """A paused (+inf), deleted or already moved tick: STALE, nothing written."""
    ctx = await scheduled(app)
    job = tick_job()
    await ctx.scripts.pause_schedule(ctx.keys, "k", True)
    assert not await ctx.scripts.fire_schedule(ctx.keys, "k", NOW, NOW, NOW + 5, job, 0)
    await ctx.scripts.pause_schedule(ctx.keys, "k", False, NOW + 1)
    assert not await ctx.scripts.fire_schedule(ctx.keys, "k", NOW, NOW, NOW + 5, job, 0)
    await ctx.scripts.unschedule(ctx.keys, "k")
    assert not await ctx.scripts.fire_schedule(ctx.keys, "k", NOW, NOW + 1, NOW + 5, job, 0)
    assert not await exists(ctx, ctx.keys.job(job.id))
    assert await zmembers(ctx, ctx.keys.ticks) == []


async def test_never_again_removes_the_tick(app: App) -> None:
    """next tick None: the schedule keeps its definition but leaves the ticks set."""
    ctx = await scheduled(app)
    assert await ctx.scripts.fire_schedule(ctx.keys, "k", NOW, NOW, None, tick_job(), 0)
    assert await zmembers(ctx, ctx.keys.ticks) == []
    assert await ctx.client.hget(ctx.keys.schedules, "k") == "d"


async def test_queue_full_writes_nothing(app: App) -> None:
    """Over max_waiting: QueueFull, the tick stays pending for the next try."""
    ctx = await scheduled(app)
    await enqueue(ctx, new_job("a", priority=4))
    with pytest.raises(QueueFull):
        await ctx.scripts.fire_schedule(ctx.keys, "k", NOW, NOW, NOW + 5, tick_job(), 1)
    assert await ctx.client.hget(ctx.keys.meta, "prios") == "4"
    assert await zscore(ctx, ctx.keys.ticks, "k") == NOW
    assert not await exists(ctx, ctx.keys.job(tick_job().id))
