"""log.lua: append to a job's log, keeping the newest lines; JobNotFound for a vanished job."""

from __future__ import annotations

import pytest

from streamq import App
from streamq.errors import JobNotFound
from tests.broker.helpers import enqueue, exists, logs, new_job, open_ctx


async def test_lines_are_appended_in_order(app: App) -> None:
    """Each call appends one line at the end."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a"))
    for line in ("one", "two", "three"):
        await ctx.scripts.log(ctx.keys, "a", line, 100)
    assert await logs(ctx, "a") == ["one", "two", "three"]


async def test_only_the_newest_lines_are_kept(app: App) -> None:
    """Beyond max lines the oldest are dropped."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a"))
    for i in range(5):
        await ctx.scripts.log(ctx.keys, "a", f"l{i}", 3)
    assert await logs(ctx, "a") == ["l2", "l3", "l4"]


async def test_unknown_job_raises_and_writes_nothing(app: App) -> None:
    """Logging to a removed job is refused: no orphan log list is created."""
    ctx = await open_ctx(app)
    with pytest.raises(JobNotFound):
        await ctx.scripts.log(ctx.keys, "gone", "line", 100)
    assert not await exists(ctx, ctx.keys.logs("gone"))
