"""promote_due.lua: due delayed jobs move to their ready stream, in bounded batches."""

from __future__ import annotations

from streamq import App
from tests.broker.helpers import (
    NOW,
    claim,
    enqueue,
    forget_job,
    job_hash,
    new_job,
    open_ctx,
    stream,
    stream_total,
    zmembers,
)


async def test_due_jobs_become_waiting(app: App) -> None:
    """Jobs due at or before now go to their priority's stream; later ones stay delayed."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a", priority=2, due_ms=NOW + 1000),
                  new_job("b", priority=7, due_ms=NOW + 2000),
                  new_job("later", due_ms=NOW + 9000))
    assert await ctx.scripts.promote_due(ctx.keys, NOW + 2000, 100) == (2, NOW + 9000)
    [(entry_a, _)] = await stream(ctx, 2)
    assert [job_id for _, job_id in await stream(ctx, 7)] == ["b"]
    fields = await job_hash(ctx, "a")
    assert (fields["state"], fields["entry"]) == ("waiting", entry_a)
    assert "due" not in fields
    assert await zmembers(ctx, ctx.keys.delayed) == ["later"]
    assert (await job_hash(ctx, "later"))["state"] == "delayed"
    assert [(j.id, j.attempt) for j in await claim(ctx)] == [("a", 1), ("b", 1)]


async def test_nothing_due(app: App) -> None:
    """Before the first due time nothing moves and the next due time is reported."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a", due_ms=NOW + 500))
    assert await ctx.scripts.promote_due(ctx.keys, NOW, 100) == (0, NOW + 500)
    assert await stream_total(ctx) == 0


async def test_empty_delayed_set(app: App) -> None:
    """With no delayed jobs: nothing promoted, next due -1."""
    ctx = await open_ctx(app)
    assert await ctx.scripts.promote_due(ctx.keys, NOW, 100) == (0, -1)


async def test_limit_bounds_each_call_in_due_order(app: App) -> None:
    """At most ``limit`` jobs per call, earliest due first; the next due time follows."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("c", due_ms=NOW + 3000), new_job("a", due_ms=NOW + 1000),
                  new_job("b", due_ms=NOW + 2000))
    later = NOW + 10_000
    assert await ctx.scripts.promote_due(ctx.keys, later, 1) == (1, NOW + 2000)
    assert await ctx.scripts.promote_due(ctx.keys, later, 1) == (1, NOW + 3000)
    assert await ctx.scripts.promote_due(ctx.keys, later, 5) == (1, -1)
    assert await ctx.scripts.promote_due(ctx.keys, later, 5) == (0, -1)
    assert [job_id for _, job_id in await stream(ctx, 0)] == ["a", "b", "c"]


async def test_vanished_job_is_dropped_from_the_set(app: App) -> None:
    """A delayed id whose hash is gone is removed from the set, not promoted."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("gone", due_ms=NOW + 1))
    await forget_job(ctx.client, ctx.keys, "gone")
    promoted, next_due = await ctx.scripts.promote_due(ctx.keys, NOW + 1, 10)
    assert next_due == -1
    assert promoted == 1
    assert await zmembers(ctx, ctx.keys.delayed) == []
    assert await stream_total(ctx) == 0
