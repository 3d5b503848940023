"""retry.lua: a FAILED job runs again with fresh attempts; errors for other cases."""

from __future__ import annotations

import pytest

from streamq import App
from streamq.errors import JobNotFound, JobStateError
from tests.broker.helpers import (
    KEEP,
    NOW,
    Ctx,
    claim,
    enqueue,
    job_hash,
    new_job,
    open_ctx,
    pending_total,
    start,
    stream,
    stream_total,
    zmembers,
)


async def dead_letter(ctx: Ctx, job_id: str, priority: int = 0) -> None:
    """Run a one-attempt job and fail it into the dead-letter queue."""
    job = await start(ctx, new_job(job_id, priority=priority, attempts=2))
    assert await ctx.scripts.fail(ctx.keys, "w1", job, NOW, error="boom", traceback="tb",
                                  retry_delay_ms=None, keep=KEEP) == "failed"


async def test_failed_job_is_requeued_with_fresh_attempts(app: App) -> None:
    """The job is WAITING again with attempt 0, out of the failed set; error stays."""
    ctx = await open_ctx(app)
    await dead_letter(ctx, "a", priority=4)
    await ctx.scripts.retry(ctx.keys, "a")
    [(entry, job_id)] = await stream(ctx, 4)
    assert job_id == "a"
    fields = await job_hash(ctx, "a")
    assert (fields["state"], fields["entry"], fields["attempt"], fields["error"]) == (
        "waiting", entry, "0", "boom",
    )
    for gone in ("end", "start", "worker"):
        assert gone not in fields
    assert await zmembers(ctx, ctx.keys.failed) == []
    assert await pending_total(ctx) == 0
    [job] = await claim(ctx)
    assert (job.id, job.attempt, job.attempts) == ("a", 1, 2)


async def test_unknown_job_raises_job_not_found(app: App) -> None:
    """NOT_FOUND maps to JobNotFound, and nothing is written."""
    ctx = await open_ctx(app)
    with pytest.raises(JobNotFound):
        await ctx.scripts.retry(ctx.keys, "nope")
    assert await stream_total(ctx) == 0
    assert await job_hash(ctx, "nope") == {}


@pytest.mark.parametrize("state", ["waiting", "delayed", "active"])
async def test_wrong_state_raises_job_state_error(app: App, state: str) -> None:
    """Only a failed job can be retried; the error names the job's state."""
    ctx = await open_ctx(app)
    if state == "active":
        await start(ctx, new_job("a"))
    else:
        await enqueue(ctx, new_job("a", due_ms=NOW + 1000 if state == "delayed" else 0))
    before = await job_hash(ctx, "a")
    with pytest.raises(JobStateError, match=state):
        await ctx.scripts.retry(ctx.keys, "a")
    assert await job_hash(ctx, "a") == before


async def test_a_resent_retry_does_nothing_more(app: App) -> None:
    """A retry run twice with one token (its reply was lost and redis-py's cluster client
    resent it) answers success and requeues nothing more, even once the job has run and
    failed again: the resend used to raise JobStateError, or give the job a second set of
    fresh attempts. A new call (another token) retries it."""
    ctx = await open_ctx(app)
    await dead_letter(ctx, "a")
    await ctx.scripts.retry(ctx.keys, "a", op="t1")
    await ctx.scripts.retry(ctx.keys, "a", op="t1")
    assert len(await stream(ctx)) == 1
    [job] = await claim(ctx)
    assert await ctx.scripts.fail(ctx.keys, "w1", job, NOW, error="again", traceback="tb",
                                  retry_delay_ms=None, keep=KEEP) == "failed"
    await ctx.scripts.retry(ctx.keys, "a", op="t1")
    assert (await job_hash(ctx, "a"))["state"] == "failed"
    await ctx.scripts.retry(ctx.keys, "a", op="t2")
    assert (await job_hash(ctx, "a"))["state"] == "waiting"


async def test_each_queue_retry_is_a_new_call(app: App) -> None:
    """Queue.retry twice: the second call finds the job waiting (each call's token is its
    own, whether or not the backend's client may resend)."""
    ctx = await open_ctx(app)
    await dead_letter(ctx, "a")
    await ctx.app.queue().retry("a")
    with pytest.raises(JobStateError, match="waiting"):
        await ctx.app.queue().retry("a")
