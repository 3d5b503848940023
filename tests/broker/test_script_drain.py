"""drain.lua: delete jobs that have not started; running jobs are left alone."""

from __future__ import annotations

from typing import Any

from streamq import App
from streamq.broker.keys import GROUP
from tests.broker.helpers import (
    KEEP,
    NOW,
    claim,
    deliver,
    enqueue,
    events,
    exists,
    finished,
    job_hash,
    new_job,
    open_ctx,
    pending,
    stream,
    stream_total,
    zmembers,
)


async def test_drain_removes_waiting_and_delayed(app: App) -> None:
    """Waiting jobs in every priority and delayed jobs are deleted, with their logs. A call
    that deleted any writes one "drained" event (it wakes every Job.result waiter)."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("w0", priority=0), new_job("w5", priority=5),
                  new_job("w9", priority=9), new_job("d", due_ms=NOW + 1000))
    await ctx.scripts.log(ctx.keys, "w5", "x", 10)
    assert await ctx.scripts.drain(ctx.keys, "drainer:1", 100, True, NOW) == 4
    assert await stream_total(ctx) == 0
    assert await zmembers(ctx, ctx.keys.delayed) == []
    for job_id in ("w0", "w5", "w9", "d"):
        assert not await exists(ctx, ctx.keys.job(job_id))
    assert not await exists(ctx, ctx.keys.logs("w5"))
    assert await ctx.scripts.drain(ctx.keys, "drainer:1", 100, True, NOW) == 0
    assert [event["ev"] for event in await events(ctx)] == ["drained"]


async def test_delayed_kept_when_not_asked(app: App) -> None:
    """delayed=False deletes waiting jobs only."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("w"), new_job("d", due_ms=NOW + 1000))
    assert await ctx.scripts.drain(ctx.keys, "drainer:1", 100, False, NOW) == 1
    assert await zmembers(ctx, ctx.keys.delayed) == ["d"]
    assert (await job_hash(ctx, "d"))["state"] == "delayed"


async def test_active_jobs_are_left_alone(app: App) -> None:
    """A running job keeps its hash and pending entry, and can still complete."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("run"), new_job("wait"))
    [job] = await claim(ctx, "w1", count=1)
    assert await ctx.scripts.drain(ctx.keys, "drainer:1", 100, True, NOW) == 1
    assert await pending(ctx, 0) == [(job.entry, "w1")]
    assert await stream(ctx, 0) == [(job.entry, "run")]
    assert (await job_hash(ctx, "run"))["state"] == "active"
    assert not await exists(ctx, ctx.keys.job("wait"))
    assert await ctx.scripts.complete(ctx.keys, "w1", NOW, KEEP, [finished(job)]) == [True]


async def test_entries_delivered_but_never_claimed_are_drained(app: App) -> None:
    """A worker's blocking read was given entries, and it died (or lost the reply) before
    its claim: pending, yet their jobs never started. drain() left them, so the backlog came
    back after the lease. A held job's entry, and a promoted job's (which has a hash), go;
    a running job's pending entry stays."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("run"))
    [job] = await claim(ctx, "w1", count=1)
    await enqueue(ctx, new_job("held"), new_job("later", due_ms=NOW - 1))
    await ctx.scripts.promote_due(ctx.keys, NOW, 100)
    assert sorted(i for _, _, i in await deliver(ctx, "dead-worker")) == ["held", "later"]
    assert await ctx.scripts.drain(ctx.keys, "drainer:1", 100, True, NOW) == 2
    assert await pending(ctx, 0) == [(job.entry, "w1")]
    assert await stream(ctx, 0) == [(job.entry, "run")]
    for job_id in ("held", "later"):
        assert not await exists(ctx, ctx.keys.job(job_id))
        assert await ctx.client.hget(ctx.keys.index, job_id) is None
    assert await ctx.scripts.drain(ctx.keys, "drainer:1", 100, True, NOW) == 0
    assert await ctx.scripts.complete(ctx.keys, "w1", NOW, KEEP, [finished(job)]) == [True]


async def test_limit_per_stream_and_call(app: App) -> None:
    """At most ``limit`` per stream (and from the delayed set, latest first) per call."""
    ctx = await open_ctx(app)
    await enqueue(ctx, *(new_job(f"a{i}") for i in range(3)),
                  *(new_job(f"b{i}", priority=1) for i in range(3)),
                  *(new_job(f"d{i}", due_ms=NOW + 1000 + i) for i in range(3)))
    assert await ctx.scripts.drain(ctx.keys, "drainer:1", 2, True, NOW) == 6
    assert [job_id for _, job_id in await stream(ctx, 0)] == ["a2"]
    assert [job_id for _, job_id in await stream(ctx, 1)] == ["b2"]
    assert await zmembers(ctx, ctx.keys.delayed) == ["d0"]
    assert await ctx.scripts.drain(ctx.keys, "drainer:1", 2, True, NOW) == 3
    assert await ctx.scripts.drain(ctx.keys, "drainer:1", 2, True, NOW) == 0


async def test_drainer_consumer_is_removed(app: App) -> None:
    """The drainer leaves no consumer behind in the group."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a"))
    await ctx.scripts.drain(ctx.keys, "drainer:xyz", 100, True, NOW)
    consumers: Any = await ctx.client.xinfo_consumers(ctx.keys.ready[0], GROUP)
    assert [c["name"] for c in consumers] == []
