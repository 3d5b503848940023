"""progress.lua: record a job's progress; JobNotFound for a vanished job."""

from __future__ import annotations

import pytest

from streamq import App
from streamq.errors import JobNotFound
from tests.broker.helpers import exists, job_hash, new_job, open_ctx, start


async def test_progress_is_recorded(app: App) -> None:
    """The value lands in the hash's progress field; later calls overwrite it."""
    ctx = await open_ctx(app)
    await start(ctx, new_job("a"))
    await ctx.scripts.progress(ctx.keys, "a", 50)
    assert (await job_hash(ctx, "a"))["progress"] == "50"
    await ctx.scripts.progress(ctx.keys, "a", 75.5)
    fields = await job_hash(ctx, "a")
    assert float(fields["progress"]) == 75.5
    assert fields["state"] == "active"


async def test_unknown_job_raises_and_writes_nothing(app: App) -> None:
    """A removed job's progress is refused: no partial hash is created."""
    ctx = await open_ctx(app)
    with pytest.raises(JobNotFound):
        await ctx.scripts.progress(ctx.keys, "gone", 10)
    assert not await exists(ctx, ctx.keys.job("gone"))
