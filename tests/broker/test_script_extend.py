"""extend.lua: lease renewal resets the idle time, only for the entry's owner."""

from __future__ import annotations

import asyncio
from typing import Any

from streamq import App
from streamq.broker.keys import GROUP
from tests.broker.helpers import (
    KEEP,
    NOW,
    Ctx,
    claim,
    job_hash,
    new_job,
    open_ctx,
    pending,
    start,
    start_then_reclaim,
)


async def idle_ms(ctx: Ctx, priority: int, entry: str) -> int:
    """How long the pending entry has gone without being renewed."""
    rows: Any = await ctx.client.xpending_range(ctx.keys.ready[priority], GROUP, entry, entry, 1)
    return int(rows[0]["time_since_delivered"])


async def test_owner_renews_the_lease(app: App) -> None:
    """Renewing resets the idle time, so a reclaim with a shorter lease finds nothing."""
    ctx = await open_ctx(app)
    job = await start(ctx, new_job("a", priority=4))
    await asyncio.sleep(0.06)
    assert await idle_ms(ctx, 4, job.entry) >= 50
    assert await ctx.scripts.extend(ctx.keys, "w1", [(4, job.entry)]) == [True]
    assert await idle_ms(ctx, 4, job.entry) < 50
    reclaimed = await ctx.scripts.reclaim(ctx.keys, "reclaimer", NOW, 50, 100, KEEP,
                                          ("0-0",) * 10)
    assert (reclaimed.requeued, reclaimed.failed) == (0, 0)
    assert await pending(ctx, 4) == [(job.entry, "w1")]
    assert (await job_hash(ctx, "a"))["state"] == "active"


async def test_other_consumer_gets_lease_lost(app: App) -> None:
    """A different consumer cannot renew (and so cannot take) another's entry."""
    ctx = await open_ctx(app)
    job = await start(ctx, new_job("a"), consumer="w1")
    await asyncio.sleep(0.03)
    assert await ctx.scripts.extend(ctx.keys, "w2", [(0, job.entry)]) == [False]
    assert await pending(ctx, 0) == [(job.entry, "w1")]
    assert await idle_ms(ctx, 0, job.entry) >= 25


async def test_mixed_batch(app: App) -> None:
    """Each entry of a batch is checked on its own."""
    ctx = await open_ctx(app)
    mine = await start(ctx, new_job("mine", priority=1), consumer="w1")
    theirs = await start(ctx, new_job("theirs", priority=2), consumer="w2")
    reply = await ctx.scripts.extend(ctx.keys, "w1", [(1, mine.entry), (2, theirs.entry)])
    assert reply == [True, False]
    assert await pending(ctx, 2) == [(theirs.entry, "w2")]


async def test_old_owner_cannot_renew_after_reclaim(app: App) -> None:
    """After reclaim and a new claim by w2, w1's renewal is refused and w2 keeps the job."""
    ctx = await open_ctx(app)
    old = await start_then_reclaim(ctx, "w1")
    assert await ctx.scripts.extend(ctx.keys, "w1", [(0, old.entry)]) == [False]
    [new] = await claim(ctx, "w2")
    assert await ctx.scripts.extend(ctx.keys, "w1", [(0, old.entry), (0, new.entry)]) == [
        False, False,
    ]
    assert await pending(ctx, 0) == [(new.entry, "w2")]


async def test_removed_job_is_lease_lost(app: App) -> None:
    """A removed job's entry is no longer pending: renewal reports lease lost."""
    ctx = await open_ctx(app)
    job = await start(ctx, new_job("a"))
    await ctx.scripts.remove(ctx.keys, "a", NOW)
    assert await ctx.scripts.extend(ctx.keys, "w1", [(0, job.entry)]) == [False]
    assert await pending(ctx, 0) == []
