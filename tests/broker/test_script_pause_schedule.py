"""pause_schedule.lua: a paused schedule's tick is +inf; resuming sets a fresh tick."""

from __future__ import annotations

import pytest

from streamq import App, ScheduleNotFound
from tests.broker.helpers import NOW, open_ctx, zscore


async def test_pause_and_resume(app: App) -> None:
    """Pause parks the tick at +inf (idempotent); resume sets the given tick."""
    ctx = await open_ctx(app)
    await ctx.scripts.schedule(ctx.keys, "k", "d", NOW, None, False)
    assert await ctx.scripts.pause_schedule(ctx.keys, "k", True) is True
    assert await zscore(ctx, ctx.keys.ticks, "k") == float("inf")
    assert await ctx.scripts.pause_schedule(ctx.keys, "k", True) is False
    due = await ctx.client.zrangebyscore(ctx.keys.ticks, "-inf", NOW * 10)
    assert due == []
    assert await ctx.scripts.pause_schedule(ctx.keys, "k", False, NOW + 7) is True
    assert await zscore(ctx, ctx.keys.ticks, "k") == NOW + 7
    assert await ctx.scripts.pause_schedule(ctx.keys, "k", False, NOW + 99) is False
    assert await zscore(ctx, ctx.keys.ticks, "k") == NOW + 7


async def test_resume_with_no_next_tick(app: App) -> None:
    """Resuming a cron that never fires again leaves it without a tick."""
    ctx = await open_ctx(app)
    await ctx.scripts.schedule(ctx.keys, "k", "d", NOW, None, False)
    await ctx.scripts.pause_schedule(ctx.keys, "k", True)
    assert await ctx.scripts.pause_schedule(ctx.keys, "k", False, None) is True
    assert await zscore(ctx, ctx.keys.ticks, "k") is None


async def test_unknown_key_raises(app: App) -> None:
    """No such schedule: ScheduleNotFound, and nothing is written."""
    ctx = await open_ctx(app)
    with pytest.raises(ScheduleNotFound, match="nope"):
        await ctx.scripts.pause_schedule(ctx.keys, "nope", True)
    assert await zscore(ctx, ctx.keys.ticks, "nope") is None
