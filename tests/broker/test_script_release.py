"""release.lua: handing running jobs back at once, without using an attempt."""

from __future__ import annotations

import pytest

from streamq import App
from tests.broker.helpers import (
    KEEP,
    NOW,
    claim,
    exists,
    finished,
    forget_job,
    job_hash,
    new_job,
    open_ctx,
    pending,
    pending_total,
    start,
    start_then_reclaim,
    stream,
)


async def test_release_requeues_without_an_attempt(app: App) -> None:
    """The job is WAITING again under a fresh entry; its attempt is given back."""
    ctx = await open_ctx(app)
    job = await start(ctx, new_job("a", priority=5))
    assert await ctx.scripts.release(ctx.keys, "w1", [("a", 5, job.entry)]) == [True]
    assert await pending(ctx, 5) == []
    [(entry, job_id)] = await stream(ctx, 5)
    assert job_id == "a" and entry != job.entry
    fields = await job_hash(ctx, "a")
    assert (fields["state"], fields["entry"], fields["attempt"]) == ("waiting", entry, "0")
    assert "start" not in fields and "worker" not in fields
    [again] = await claim(ctx, "w2")
    assert (again.id, again.attempt, again.entry) == ("a", 1, entry)


async def test_batch_release(app: App) -> None:
    """Several jobs are handed back in one call."""
    ctx = await open_ctx(app)
    a = await start(ctx, new_job("a", priority=0))
    b = await start(ctx, new_job("b", priority=3))
    reply = await ctx.scripts.release(ctx.keys, "w1", [("a", 0, a.entry), ("b", 3, b.entry)])
    assert reply == [True, True]
    assert await pending_total(ctx) == 0
    assert [(await job_hash(ctx, j))["state"] for j in ("a", "b")] == ["waiting", "waiting"]


async def test_other_consumer_gets_lease_lost(app: App) -> None:
    """A consumer that does not own the entry cannot release it: nothing changes."""
    ctx = await open_ctx(app)
    job = await start(ctx, new_job("a"), consumer="w1")
    before = await job_hash(ctx, "a")
    assert await ctx.scripts.release(ctx.keys, "w2", [("a", 0, job.entry)]) == [False]
    assert await job_hash(ctx, "a") == before
    assert await pending(ctx, 0) == [(job.entry, "w1")]
    assert await stream(ctx, 0) == [(job.entry, "a")]


@pytest.mark.parametrize("rerun_by", ["w2", "w1"])
async def test_a_stale_run_cannot_be_handed_back_after_reclaim(app: App, rerun_by: str) -> None:
    """After reclaim, the job runs again from a new entry, on another worker or on the same
    one: handing back the first run (old entry) is refused and the new run stays."""
    ctx = await open_ctx(app)
    old = await start_then_reclaim(ctx, "w1")
    [new] = await claim(ctx, rerun_by)
    assert await ctx.scripts.release(ctx.keys, "w1", [("a", 0, old.entry)]) == [False]
    fields = await job_hash(ctx, "a")
    assert (fields["state"], fields["entry"], fields["worker"], fields["attempt"]) == (
        "active", new.entry, rerun_by, "2")
    assert await pending(ctx, 0) == [(new.entry, rerun_by)]


async def test_a_completed_run_is_not_handed_back(app: App) -> None:
    """A run that completed (its hash keeps the entry id and the worker) is not handed back
    by a stop that raced it: the job stays completed, with no new entry."""
    ctx = await open_ctx(app)
    job = await start(ctx, new_job("a"))
    assert await ctx.scripts.complete(ctx.keys, "w1", NOW, KEEP, [finished(job)]) == [True]
    assert await ctx.scripts.release(ctx.keys, "w1", [("a", 0, job.entry)]) == [False]
    assert (await job_hash(ctx, "a"))["state"] == "completed"
    assert await stream(ctx, 0) == []


async def test_deleted_job_is_not_recreated(app: App) -> None:
    """Releasing a job whose hash vanished reports lease lost and writes nothing."""
    ctx = await open_ctx(app)
    job = await start(ctx, new_job("a"))
    await forget_job(ctx.client, ctx.keys, "a")
    assert await ctx.scripts.release(ctx.keys, "w1", [("a", 0, job.entry)]) == [False]
    assert not await exists(ctx, ctx.keys.job("a"))


async def test_stale_entry_of_an_earlier_life_is_not_handed_back(app: App) -> None:
    """If the job's hash was lost while it ran and the id was enqueued again, releasing the old
    (still pending) entry reports lease lost and adds no second entry for the new life."""
    ctx = await open_ctx(app)
    old = await start(ctx, new_job("a"))
    await forget_job(ctx.client, ctx.keys, "a")
    await ctx.scripts.enqueue(ctx.keys, [new_job("a")], NOW, 0)
    new_entry = (await job_hash(ctx, "a"))["entry"]
    assert await ctx.scripts.release(ctx.keys, "w1", [("a", 0, old.entry)]) == [False]
    after = await job_hash(ctx, "a")
    assert (after["state"], after["entry"], after["attempt"]) == ("waiting", new_entry, "0")
    assert [e for e, _ in await stream(ctx)] == [old.entry, new_entry]
