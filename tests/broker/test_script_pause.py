"""pause.lua: the paused flag in the meta hash, announced on the events stream."""

from __future__ import annotations

from streamq import App
from tests.broker.helpers import NOW, claim, enqueue, events, new_job, open_ctx


async def test_pause_and_resume(app: App) -> None:
    """Pause sets meta paused=1 and emits 'paused'; resume sets 0 and emits 'resumed'."""
    ctx = await open_ctx(app)
    await ctx.scripts.pause(ctx.keys, True)
    assert await ctx.client.hget(ctx.keys.meta, "paused") == "1"
    assert await events(ctx) == [{"ev": "paused"}]
    await ctx.scripts.pause(ctx.keys, False)
    assert await ctx.client.hget(ctx.keys.meta, "paused") == "0"
    assert await events(ctx) == [{"ev": "paused"}, {"ev": "resumed"}]


async def test_pause_stops_claims_until_resumed(app: App) -> None:
    """While paused claim returns None; after resume the job is claimed."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a"))
    await ctx.scripts.pause(ctx.keys, True)
    await ctx.scripts.pause(ctx.keys, True)
    assert await ctx.scripts.claim(ctx.keys, "w1", NOW, 1) is None
    await ctx.scripts.pause(ctx.keys, False)
    assert [j.id for j in await claim(ctx)] == ["a"]


async def test_pause_keeps_other_meta_fields(app: App) -> None:
    """Pausing writes only its own field of the meta hash."""
    ctx = await open_ctx(app)
    before = await ctx.client.hgetall(ctx.keys.meta)
    await ctx.scripts.pause(ctx.keys, True)
    after = await ctx.client.hgetall(ctx.keys.meta)
    assert after == {**before, "paused": "1"}
