"""remove.lua: delete one job in any state, with its log; JobNotFound if unknown."""

from __future__ import annotations

import pytest

from streamq import App
from streamq.broker.scripts import REMOVAL_RECORD_MS
from streamq.errors import JobNotFound
from tests.broker.helpers import (
    KEEP,
    NOW,
    Ctx,
    enqueue,
    events,
    exists,
    finished,
    new_job,
    open_ctx,
    pending_total,
    start,
    stream,
    stream_total,
    zmembers,
)


async def assert_gone(ctx: Ctx, job_id: str) -> None:
    """No trace of the job is left in any key of the queue."""
    assert not await exists(ctx, ctx.keys.job(job_id))
    assert not await exists(ctx, ctx.keys.logs(job_id))
    for key in (ctx.keys.delayed, ctx.keys.completed, ctx.keys.failed):
        assert job_id not in await zmembers(ctx, key)
    assert await stream_total(ctx) == 0
    assert await pending_total(ctx) == 0


async def test_remove_waiting(app: App) -> None:
    """A waiting job's stream entry, hash and log are deleted."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a", priority=3), new_job("b", priority=3))
    await ctx.scripts.log(ctx.keys, "a", "x", 10)
    assert await ctx.scripts.remove(ctx.keys, "a", NOW) == "waiting"
    assert not await exists(ctx, ctx.keys.job("a"))
    assert not await exists(ctx, ctx.keys.logs("a"))
    assert [job_id for _, job_id in await stream(ctx, 3)] == ["b"]


async def test_remove_delayed(app: App) -> None:
    """A delayed job leaves the delayed set."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a", due_ms=NOW + 1000))
    assert await ctx.scripts.remove(ctx.keys, "a", NOW) == "delayed"
    await assert_gone(ctx, "a")


async def test_remove_active_makes_completion_lease_lost(app: App) -> None:
    """Removing a running job takes its entry out of the PEL: its worker's completion and
    renewal report lease lost and nothing is recreated."""
    ctx = await open_ctx(app)
    job = await start(ctx, new_job("a", priority=1))
    assert await ctx.scripts.remove(ctx.keys, "a", NOW) == "active"
    await assert_gone(ctx, "a")
    assert await ctx.scripts.complete(ctx.keys, "w1", NOW, KEEP, [finished(job)]) == [False]
    assert await ctx.scripts.fail(ctx.keys, "w1", job, NOW, error="e", traceback="",
                                  retry_delay_ms=10, keep=KEEP) == "lease_lost"
    await assert_gone(ctx, "a")


async def test_remove_completed(app: App) -> None:
    """A completed job leaves the completed set."""
    ctx = await open_ctx(app)
    job = await start(ctx, new_job("a"))
    await ctx.scripts.complete(ctx.keys, "w1", NOW, KEEP, [finished(job)])
    assert await ctx.scripts.remove(ctx.keys, "a", NOW) == "completed"
    await assert_gone(ctx, "a")


async def test_remove_failed(app: App) -> None:
    """A failed job leaves the dead-letter set."""
    ctx = await open_ctx(app)
    job = await start(ctx, new_job("a"))
    await ctx.scripts.fail(ctx.keys, "w1", job, NOW, error="e", traceback="",
                           retry_delay_ms=None, keep=KEEP)
    assert await ctx.scripts.remove(ctx.keys, "a", NOW) == "failed"
    await assert_gone(ctx, "a")


async def test_unknown_job_raises_job_not_found(app: App) -> None:
    """NOT_FOUND maps to JobNotFound; removing twice is not found the second time."""
    ctx = await open_ctx(app)
    with pytest.raises(JobNotFound):
        await ctx.scripts.remove(ctx.keys, "nope", NOW)
    await enqueue(ctx, new_job("a"))
    await ctx.scripts.remove(ctx.keys, "a", NOW)
    with pytest.raises(JobNotFound):
        await ctx.scripts.remove(ctx.keys, "a", NOW)


async def test_a_resent_remove_answers_what_the_first_did(app: App) -> None:
    """A remove run twice with one token (its reply was lost and redis-py's cluster client
    resent it) answers the state the first run removed the job from, and leaves alone a job
    enqueued again with the same id since: the resend used to raise JobNotFound, or remove
    that new job. A new call (another token) removes it; the record of a removal expires."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a", due_ms=NOW + 1000))
    assert await ctx.scripts.remove(ctx.keys, "a", NOW, op="t1") == "delayed"
    assert await ctx.scripts.remove(ctx.keys, "a", NOW, op="t1") == "delayed"
    await enqueue(ctx, new_job("a"))
    assert await ctx.scripts.remove(ctx.keys, "a", NOW, op="t1") == "delayed"
    assert [job_id for _, job_id in await stream(ctx)] == ["a"]
    assert [e["ev"] for e in await events(ctx) if e.get("id") == "a"].count("removed") == 1
    assert await ctx.scripts.remove(ctx.keys, "a", NOW, op="t2") == "waiting"
    assert 0 < int(await ctx.client.pttl(ctx.keys.removed("a"))) <= REMOVAL_RECORD_MS
