"""A burst run of several tiers ends once all of them are idle at the same time (worker/
burst.py), on both backends: a job of one tier may enqueue into another, or wait for a job
of another, after that tier found nothing to do."""

from __future__ import annotations

import asyncio

from streamq import App, Job
from tests.helpers import fan_out_processors


async def test_a_burst_run_runs_jobs_its_other_tiers_enqueue(app: App) -> None:
    """A high job enqueues into low 50 ms in. low had found nothing and ended by then, and
    the job stayed waiting after the run (`streamq worker --burst`, `run_until_idle`)."""
    fan_out_processors(app)
    await app.enqueue("fan_out", {})
    await asyncio.wait_for(app.worker(["high", "low"]).run(burst=True), 20)
    counts = await app.queue("low").counts()
    assert (counts["waiting"], counts["completed"]) == (0, 1)


async def test_a_burst_run_runs_a_job_another_tiers_job_waits_for(app: App) -> None:
    """A high job waits for the result of a low job it enqueued 50 ms in: low had ended
    before the job existed, so the high job waited until its own timeout and failed."""
    @app.processor("parent", tier="high")
    async def parent(job: Job) -> int:
        await asyncio.sleep(0.05)
        child = await app.enqueue("child", {})
        result: int = await child.result(timeout=10)
        return result

    @app.processor("child", tier="low")
    async def child(job: Job) -> int:
        return 7

    job = await app.enqueue("parent", {})
    await asyncio.wait_for(app.worker(["high", "low"]).run(burst=True), 20)
    assert await job.result(timeout=1) == 7


async def test_a_burst_run_of_idle_tiers_ends_at_once(app: App) -> None:
    """Nothing to do in any tier: the run ends without waiting on its tiers."""
    started = asyncio.get_running_loop().time()
    await app.worker(["critical", "high", "standard", "low"]).run(burst=True)
    assert asyncio.get_running_loop().time() - started < 2.0
