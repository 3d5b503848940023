"""promote.lua: run one delayed job now; JobNotFound and JobStateError otherwise."""

from __future__ import annotations

import pytest

from streamq import App
from streamq.errors import JobNotFound, JobStateError
from tests.broker.helpers import (
    NOW,
    claim,
    enqueue,
    job_hash,
    new_job,
    open_ctx,
    start,
    stream,
    stream_total,
    zmembers,
)


async def test_delayed_job_is_promoted(app: App) -> None:
    """The job leaves the delayed set and is WAITING in its priority's stream."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a", priority=8, due_ms=NOW + 60_000),
                  new_job("b", due_ms=NOW + 60_000))
    await ctx.scripts.promote(ctx.keys, "a")
    [(entry, job_id)] = await stream(ctx, 8)
    assert job_id == "a"
    fields = await job_hash(ctx, "a")
    assert (fields["state"], fields["entry"], fields["attempt"]) == ("waiting", entry, "0")
    assert "due" not in fields
    assert await zmembers(ctx, ctx.keys.delayed) == ["b"]


async def test_unknown_job_raises_job_not_found(app: App) -> None:
    """NOT_FOUND maps to JobNotFound, and nothing is written."""
    ctx = await open_ctx(app)
    with pytest.raises(JobNotFound) as info:
        await ctx.scripts.promote(ctx.keys, "nope")
    assert info.value.job_id == "nope"
    assert await stream_total(ctx) == 0
    assert await job_hash(ctx, "nope") == {}


@pytest.mark.parametrize("state", ["waiting", "active"])
async def test_wrong_state_raises_job_state_error(app: App, state: str) -> None:
    """Only a delayed job can be promoted; the error names the job's state."""
    ctx = await open_ctx(app)
    if state == "active":
        await start(ctx, new_job("a"))
    else:
        await enqueue(ctx, new_job("a"))
    before = await job_hash(ctx, "a")
    with pytest.raises(JobStateError, match=state):
        await ctx.scripts.promote(ctx.keys, "a")
    assert await job_hash(ctx, "a") == before
    assert await stream_total(ctx) == 1


async def test_a_resent_promote_does_nothing_more(app: App) -> None:
    """A promote run twice with one token (a resend) answers success, even once the job has
    started: the resend used to raise JobStateError. A new call (another token) raises."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a", due_ms=NOW + 60_000))
    await ctx.scripts.promote(ctx.keys, "a", op="t1")
    [job] = await claim(ctx)
    await ctx.scripts.promote(ctx.keys, "a", op="t1")
    assert (await job_hash(ctx, "a"))["state"] == "active"
    assert await stream(ctx) == [(job.entry, "a")]
    with pytest.raises(JobStateError, match="active"):
        await ctx.scripts.promote(ctx.keys, "a", op="t2")
