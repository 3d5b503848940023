"""schedule.lua: upsert a definition and its pending tick, compare-and-set on the definition."""

from __future__ import annotations

from typing import Any

from streamq import App
from tests.broker.helpers import NOW, open_ctx, zscore


async def stored(ctx: Any, key: str) -> Any:
    return await ctx.client.hget(ctx.keys.schedules, key)


async def test_creates_then_updates(app: App) -> None:
    """A new key is created with its tick; an update with new timing moves the tick."""
    ctx = await open_ctx(app)
    assert await ctx.scripts.schedule(ctx.keys, "k", '{"a":1}', NOW + 1000, None, False) is True
    assert await stored(ctx, "k") == '{"a":1}'
    assert await zscore(ctx, ctx.keys.ticks, "k") == NOW + 1000
    assert await ctx.scripts.schedule(ctx.keys, "k", '{"a":2}', NOW + 5000, '{"a":1}',
                                      False) is False
    assert await stored(ctx, "k") == '{"a":2}'
    assert await zscore(ctx, ctx.keys.ticks, "k") == NOW + 5000


async def test_same_timing_keeps_the_pending_tick(app: App) -> None:
    """keep_tick leaves a due-but-unfired tick alone (a restart re-running schedule())."""
    ctx = await open_ctx(app)
    await ctx.scripts.schedule(ctx.keys, "k", "d1", NOW, None, False)
    assert await ctx.scripts.schedule(ctx.keys, "k", "d2", NOW + 60_000, "d1", True) is False
    assert await zscore(ctx, ctx.keys.ticks, "k") == NOW
    assert await stored(ctx, "k") == "d2"


async def test_stale_expected_definition_writes_nothing(app: App) -> None:
    """The definition changed since the caller read it: STALE, nothing written."""
    ctx = await open_ctx(app)
    await ctx.scripts.schedule(ctx.keys, "k", "d1", NOW, None, False)
    assert await ctx.scripts.schedule(ctx.keys, "k", "d2", NOW + 1, "other", False) is None
    assert await ctx.scripts.schedule(ctx.keys, "new", "d", NOW, "d1", False) is None
    assert await stored(ctx, "k") == "d1"
    assert await stored(ctx, "new") is None
    assert await zscore(ctx, ctx.keys.ticks, "k") == NOW
    assert await zscore(ctx, ctx.keys.ticks, "new") is None


async def test_paused_stays_paused_and_never_removes_tick(app: App) -> None:
    """An update of a paused schedule keeps it paused; next tick None removes the tick."""
    ctx = await open_ctx(app)
    await ctx.scripts.schedule(ctx.keys, "k", "d1", NOW, None, False)
    await ctx.scripts.pause_schedule(ctx.keys, "k", True)
    await ctx.scripts.schedule(ctx.keys, "k", "d2", NOW + 9, "d1", False)
    assert await zscore(ctx, ctx.keys.ticks, "k") == float("inf")
    await ctx.scripts.schedule(ctx.keys, "j", "d", None, None, False)
    assert await zscore(ctx, ctx.keys.ticks, "j") is None
    assert await stored(ctx, "j") == "d"


async def test_paused_flag_pauses_what_it_writes(app: App) -> None:
    """A schedule moving here from a tier where it was paused arrives paused."""
    ctx = await open_ctx(app)
    assert await ctx.scripts.schedule(ctx.keys, "k", "d1", NOW, None, False, True) is True
    assert await zscore(ctx, ctx.keys.ticks, "k") == float("inf")
    await ctx.scripts.schedule(ctx.keys, "j", "d", NOW, None, False)
    assert await ctx.scripts.schedule(ctx.keys, "j", "d2", NOW, "d", True, True) is False
    assert await zscore(ctx, ctx.keys.ticks, "j") == float("inf")
