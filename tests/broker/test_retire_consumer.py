"""Retiring a stopped worker's consumer (``retire_consumer``) on both backends: entries its
last blocking read delivered go back to the queue, and a job it started without knowing
(a claim whose reply was lost) stays reclaimable."""

from __future__ import annotations

import asyncio

from streamq import App
from streamq.broker.consumers import retire_consumer
from streamq.broker.keys import GROUP
from tests.broker.helpers import (
    KEEP,
    NOW,
    Ctx,
    claim,
    enqueue,
    job_hash,
    new_job,
    open_ctx,
    pending,
    start,
)


async def consumer_names(ctx: Ctx) -> set[str]:
    """The consumers of the group on the priority-0 stream."""
    return {c["name"] for c in await ctx.client.xinfo_consumers(ctx.keys.ready[0], GROUP)}


async def test_delivered_entries_go_back_and_the_consumer_is_removed(app: App) -> None:
    """Entries delivered to the consumer but never claimed are handed back to the queue,
    then the consumer leaves the group."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a"))
    await ctx.client.xreadgroup(GROUP, "w1", {ctx.keys.ready[0]: ">"})
    assert [owner for _, owner in await pending(ctx, 0)] == ["w1"]
    await retire_consumer(await app.backend(ctx.keys), ctx.keys, "w1", NOW)
    assert await pending(ctx, 0) == []
    assert "w1" not in await consumer_names(ctx)
    [job] = await claim(ctx, "w2")
    assert (job.id, job.attempt) == ("a", 1)


async def test_a_job_started_without_the_worker_knowing_stays_reclaimable(app: App) -> None:
    """A claim whose reply was lost left a started job in the consumer's pending list.
    Deleting the consumer would drop that entry where reclaim cannot find it, leaving the
    job active forever; so the consumer stays until reclaim has taken it."""
    ctx = await open_ctx(app)
    run = await start(ctx, new_job("a"), consumer="w1")
    await retire_consumer(await app.backend(ctx.keys), ctx.keys, "w1", NOW)
    assert await pending(ctx, 0) == [(run.entry, "w1")]
    assert "w1" in await consumer_names(ctx)
    await asyncio.sleep(0.03)
    reclaimed = await ctx.scripts.reclaim(ctx.keys, "reclaimer", NOW, 5, 100, KEEP,
                                          ("0-0",) * 10)
    assert reclaimed.requeued == 1
    [rerun] = await claim(ctx, "w2")
    assert (rerun.id, rerun.attempt) == ("a", 2)
    assert (await job_hash(ctx, "a"))["worker"] == "w2"
