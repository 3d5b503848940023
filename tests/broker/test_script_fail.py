"""fail.lua: retry to DELAYED, dead-letter to FAILED, ownership, keep_failed retention."""

from __future__ import annotations

import pytest

from streamq import App
from tests.broker.helpers import (
    KEEP,
    NOW,
    claim,
    enqueue,
    events,
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
    stream_total,
    zmembers,
    zscore,
)


async def test_attempts_left_goes_to_delayed(app: App) -> None:
    """With attempts left and a delay, the job is DELAYED until now + delay."""
    ctx = await open_ctx(app)
    job = await start(ctx, new_job("a", priority=2, attempts=3))
    outcome = await ctx.scripts.fail(ctx.keys, "w1", job, NOW + 10, error="boom",
                                     traceback="Traceback...", retry_delay_ms=5000, keep=KEEP)
    assert outcome == "delayed"
    fields = await job_hash(ctx, "a")
    assert (fields["state"], fields["due"], fields["error"], fields["tb"], fields["attempt"]) == (
        "delayed", str(NOW + 5010), "boom", "Traceback...", "1",
    )
    assert "entry" not in fields
    assert await zscore(ctx, ctx.keys.delayed, "a") == NOW + 5010
    assert await pending(ctx, 2) == []
    assert await stream_total(ctx) == 0
    assert await zmembers(ctx, ctx.keys.failed) == []


async def test_zero_delay_retry_is_due_at_once(app: App) -> None:
    """A retry delay of 0 makes the job due now (promote_due picks it up at once)."""
    ctx = await open_ctx(app)
    job = await start(ctx, new_job("a"))
    assert await ctx.scripts.fail(ctx.keys, "w1", job, NOW, error="e", traceback="",
                                  retry_delay_ms=0, keep=KEEP) == "delayed"
    assert await zscore(ctx, ctx.keys.delayed, "a") == NOW
    assert await ctx.scripts.promote_due(ctx.keys, NOW, 10) == (1, -1)
    [again] = await claim(ctx)
    assert (again.id, again.attempt) == ("a", 2)


async def test_out_of_attempts_goes_to_failed(app: App) -> None:
    """On its last attempt the job is FAILED: dead-letter set, end time, failed event."""
    ctx = await open_ctx(app)
    job = await start(ctx, new_job("a", attempts=1))
    assert await ctx.scripts.fail(ctx.keys, "w1", job, NOW + 20, error="boom", traceback="tb",
                                  retry_delay_ms=1000, keep=KEEP) == "failed"
    fields = await job_hash(ctx, "a")
    assert (fields["state"], fields["end"], fields["error"], fields["tb"]) == (
        "failed", str(NOW + 20), "boom", "tb",
    )
    assert await zscore(ctx, ctx.keys.failed, "a") == NOW + 20
    assert await zmembers(ctx, ctx.keys.delayed) == []
    assert await pending_total(ctx) == 0
    assert {"ev": "failed", "id": "a"} in await events(ctx)


async def test_no_retry_fails_with_attempts_left(app: App) -> None:
    """A delay of -1 (Fail raised) goes straight to FAILED even with attempts left."""
    ctx = await open_ctx(app)
    job = await start(ctx, new_job("a", attempts=10))
    assert await ctx.scripts.fail(ctx.keys, "w1", job, NOW, error="bad input", traceback="",
                                  retry_delay_ms=None, keep=KEEP) == "failed"
    assert (await job_hash(ctx, "a"))["state"] == "failed"
    assert await zscore(ctx, ctx.keys.failed, "a") == NOW


async def test_other_consumer_gets_lease_lost(app: App) -> None:
    """A consumer that does not own the entry cannot fail it: nothing changes."""
    ctx = await open_ctx(app)
    job = await start(ctx, new_job("a"), consumer="w1")
    before = await job_hash(ctx, "a")
    assert await ctx.scripts.fail(ctx.keys, "w2", job, NOW, error="e", traceback="",
                                  retry_delay_ms=None, keep=KEEP) == "lease_lost"
    assert await job_hash(ctx, "a") == before
    assert await pending(ctx, 0) == [(job.entry, "w1")]
    assert await zmembers(ctx, ctx.keys.failed) == []


@pytest.mark.parametrize("rerun_by", ["w2", "w1"])
async def test_a_stale_run_cannot_fail_after_reclaim(app: App, rerun_by: str) -> None:
    """After reclaim, the job runs again from a new entry, on another worker or on the same
    one: the first run's failure (old entry) is refused and the new run goes on."""
    ctx = await open_ctx(app)
    old = await start_then_reclaim(ctx, "w1")
    [new] = await claim(ctx, rerun_by)
    assert await ctx.scripts.fail(ctx.keys, "w1", old, NOW, error="e", traceback="",
                                  retry_delay_ms=None, keep=KEEP) == "lease_lost"
    fields = await job_hash(ctx, "a")
    assert (fields["state"], fields["entry"], fields["worker"], fields["attempt"]) == (
        "active", new.entry, rerun_by, "2")
    assert "error" not in fields
    assert await pending(ctx, 0) == [(new.entry, rerun_by)]


async def test_a_completed_run_cannot_fail(app: App) -> None:
    """A run that completed (its hash keeps the entry id and the worker) cannot fail after
    it, as a timeout firing late would: the job stays completed."""
    ctx = await open_ctx(app)
    job = await start(ctx, new_job("a"))
    assert await ctx.scripts.complete(ctx.keys, "w1", NOW, KEEP, [finished(job)]) == [True]
    assert await ctx.scripts.fail(ctx.keys, "w1", job, NOW, error="e", traceback="",
                                  retry_delay_ms=100, keep=KEEP) == "lease_lost"
    fields = await job_hash(ctx, "a")
    assert fields["state"] == "completed" and "error" not in fields
    assert await zmembers(ctx, ctx.keys.delayed) == []


async def test_deleted_job_is_lease_lost_and_not_recreated(app: App) -> None:
    """If the job hash vanished, fail writes nothing (no half-written hash appears)."""
    ctx = await open_ctx(app)
    job = await start(ctx, new_job("a"))
    await forget_job(ctx.client, ctx.keys, "a")
    assert await ctx.scripts.fail(ctx.keys, "w1", job, NOW, error="e", traceback="",
                                  retry_delay_ms=100, keep=KEEP) == "lease_lost"
    assert not await exists(ctx, ctx.keys.job("a"))
    assert await zmembers(ctx, ctx.keys.delayed) == []


async def test_keep_failed_trims_the_oldest(app: App) -> None:
    """Beyond keep_failed, the oldest dead letters are deleted with their logs."""
    ctx = await open_ctx(app)
    for i, job_id in enumerate(("old", "mid", "new")):
        job = await start(ctx, new_job(job_id, attempts=1))
        await ctx.scripts.log(ctx.keys, job_id, "x", 100)
        assert await ctx.scripts.fail(ctx.keys, "w1", job, NOW + i, error="e", traceback="",
                                      retry_delay_ms=None, keep=2) == "failed"
    assert await zmembers(ctx, ctx.keys.failed) == ["mid", "new"]
    assert not await exists(ctx, ctx.keys.job("old"))
    assert not await exists(ctx, ctx.keys.logs("old"))
    assert (await job_hash(ctx, "mid"))["state"] == "failed"
    assert await exists(ctx, ctx.keys.logs("new"))


async def test_keep_failed_never_trims_the_job_it_fails(app: App) -> None:
    """Two workers fail jobs in the same ms with keep_failed=1: the second job ranks below
    the first (ties go by id) but is the newest dead letter, so it stays; before, it was
    deleted at once and a Job.result() waiter got JobNotFound rather than JobFailed."""
    ctx = await open_ctx(app)
    for job_id in ("b", "a"):
        job = await start(ctx, new_job(job_id, attempts=1))
        assert await ctx.scripts.fail(ctx.keys, "w1", job, NOW, error="e", traceback="",
                                      retry_delay_ms=None, keep=1) == "failed"
        assert (await job_hash(ctx, job_id))["state"] == "failed"
    job = await start(ctx, new_job("c", attempts=1))
    await ctx.scripts.fail(ctx.keys, "w1", job, NOW + 1, error="e", traceback="",
                           retry_delay_ms=None, keep=1)
    assert await zmembers(ctx, ctx.keys.failed) == ["c"]


async def test_keep_failed_zero_keeps_no_dead_letter(app: App) -> None:
    ctx = await open_ctx(app)
    job = await start(ctx, new_job("a", attempts=1))
    await ctx.scripts.fail(ctx.keys, "w1", job, NOW, error="e", traceback="",
                           retry_delay_ms=None, keep=0)
    assert await zmembers(ctx, ctx.keys.failed) == []
    assert not await exists(ctx, ctx.keys.job("a"))


async def test_retry_does_not_trim_failed(app: App) -> None:
    """A retried attempt is not a dead letter: the failed set is not trimmed by it."""
    ctx = await open_ctx(app)
    dead = await start(ctx, new_job("dead", attempts=1))
    await ctx.scripts.fail(ctx.keys, "w1", dead, NOW, error="e", traceback="",
                           retry_delay_ms=None, keep=1)
    job = await start(ctx, new_job("again", attempts=3))
    assert await ctx.scripts.fail(ctx.keys, "w1", job, NOW, error="e", traceback="",
                                  retry_delay_ms=10, keep=0) == "delayed"
    assert await zmembers(ctx, ctx.keys.failed) == ["dead"]


async def test_stale_entry_does_not_fail_a_recreated_job(app: App) -> None:
    """A run whose job hash was lost and whose id was enqueued again cannot fail (or delay)
    the new job: it stays waiting."""
    ctx = await open_ctx(app)
    old = await start(ctx, new_job("a"), consumer="w1")
    await forget_job(ctx.client, ctx.keys, "a")
    await enqueue(ctx, new_job("a"))
    assert await ctx.scripts.fail(ctx.keys, "w1", old, NOW, error="e", traceback="",
                                  retry_delay_ms=10, keep=KEEP) == "lease_lost"
    fields = await job_hash(ctx, "a")
    assert fields["state"] == "waiting" and "error" not in fields
    assert await zmembers(ctx, ctx.keys.delayed) == []
