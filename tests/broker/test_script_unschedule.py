"""unschedule.lua: delete a schedule's definition and tick."""

from __future__ import annotations

from streamq import App
from tests.broker.helpers import NOW, exists, open_ctx, zscore


async def test_deletes_both(app: App) -> None:
    """Definition and tick go; a second call reports it missing."""
    ctx = await open_ctx(app)
    await ctx.scripts.schedule(ctx.keys, "k", "d", NOW, None, False)
    await ctx.scripts.schedule(ctx.keys, "other", "d", NOW, None, False)
    assert await ctx.scripts.unschedule(ctx.keys, "k") is True
    assert await ctx.client.hget(ctx.keys.schedules, "k") is None
    assert await zscore(ctx, ctx.keys.ticks, "k") is None
    assert await zscore(ctx, ctx.keys.ticks, "other") == NOW
    assert await ctx.scripts.unschedule(ctx.keys, "k") is False


async def test_unknown_key(app: App) -> None:
    """Nothing to delete: False, and no keys appear."""
    ctx = await open_ctx(app)
    assert await ctx.scripts.unschedule(ctx.keys, "nope") is False
    assert not await exists(ctx, ctx.keys.schedules)
