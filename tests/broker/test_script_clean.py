"""clean.lua: delete finished jobs at or before a cut-off, in bounded batches."""

from __future__ import annotations

from streamq import App
from tests.broker.helpers import (
    KEEP,
    NOW,
    Ctx,
    exists,
    finished,
    new_job,
    open_ctx,
    start,
    zmembers,
)


async def complete_at(ctx: Ctx, job_id: str, end_ms: int) -> None:
    """Run a job and complete it at ``end_ms``, with one log line."""
    job = await start(ctx, new_job(job_id))
    await ctx.scripts.log(ctx.keys, job_id, "x", 10)
    assert await ctx.scripts.complete(ctx.keys, "w1", end_ms, KEEP, [finished(job)]) == [True]


async def fail_at(ctx: Ctx, job_id: str, end_ms: int) -> None:
    """Run a job and dead-letter it at ``end_ms``."""
    job = await start(ctx, new_job(job_id))
    assert await ctx.scripts.fail(ctx.keys, "w1", job, end_ms, error="e", traceback="",
                                  retry_delay_ms=None, keep=KEEP) == "failed"


async def test_cutoff_is_inclusive(app: App) -> None:
    """Jobs finished at or before the cut-off go, with hash and log; newer ones stay."""
    ctx = await open_ctx(app)
    await complete_at(ctx, "old", NOW - 10)
    await complete_at(ctx, "edge", NOW)
    await complete_at(ctx, "new", NOW + 1)
    assert await ctx.scripts.clean(ctx.keys, "completed", NOW, 100) == 2
    assert await zmembers(ctx, ctx.keys.completed) == ["new"]
    for job_id in ("old", "edge"):
        assert not await exists(ctx, ctx.keys.job(job_id))
        assert not await exists(ctx, ctx.keys.logs(job_id))
    assert await exists(ctx, ctx.keys.job("new"))
    assert await exists(ctx, ctx.keys.logs("new"))


async def test_limit_bounds_each_call_oldest_first(app: App) -> None:
    """At most ``limit`` per call, oldest first; calling again finishes the job; then 0."""
    ctx = await open_ctx(app)
    for i in range(3):
        await complete_at(ctx, f"j{i}", NOW + i)
    assert await ctx.scripts.clean(ctx.keys, "completed", NOW + 100, 2) == 2
    assert await zmembers(ctx, ctx.keys.completed) == ["j2"]
    assert await ctx.scripts.clean(ctx.keys, "completed", NOW + 100, 2) == 1
    assert await ctx.scripts.clean(ctx.keys, "completed", NOW + 100, 2) == 0


async def test_failed_set_is_cleaned_separately(app: App) -> None:
    """Cleaning 'failed' touches only the dead-letter set, and vice versa."""
    ctx = await open_ctx(app)
    await complete_at(ctx, "done", NOW)
    await fail_at(ctx, "dead", NOW)
    assert await ctx.scripts.clean(ctx.keys, "failed", NOW, 100) == 1
    assert await zmembers(ctx, ctx.keys.failed) == []
    assert not await exists(ctx, ctx.keys.job("dead"))
    assert await zmembers(ctx, ctx.keys.completed) == ["done"]
    assert await exists(ctx, ctx.keys.job("done"))


async def test_nothing_old_enough(app: App) -> None:
    """With every job newer than the cut-off nothing is deleted."""
    ctx = await open_ctx(app)
    await fail_at(ctx, "dead", NOW)
    assert await ctx.scripts.clean(ctx.keys, "failed", NOW - 1, 100) == 0
    assert await zmembers(ctx, ctx.keys.failed) == ["dead"]
