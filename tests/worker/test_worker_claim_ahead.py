"""Claiming ahead: a tier whose jobs are short claims up to `concurrency` jobs beyond its
free slots (Redis answers the next claim while the worker runs what it holds); processors
still never exceed `concurrency`, long jobs are never held, and a stopping worker hands
held jobs back at once with their attempt uncounted."""

from __future__ import annotations

import asyncio

from streamq import App, Job, JobState
from tests.helpers import Gauge, running, until


async def test_short_jobs_are_claimed_ahead_but_run_at_most_concurrency_at_once(
    app: App,
) -> None:
    gauge = Gauge()
    release = asyncio.Event()

    @app.processor("quick")
    async def quick(job: Job) -> None:
        with gauge.running():
            await asyncio.sleep(0)

    @app.processor("blocker")
    async def blocker(job: Job) -> None:
        with gauge.running():
            await release.wait()

    queue = app.queue()
    async with running(app.worker("standard", concurrency=2)):
        # a new worker assumes long jobs; these teach it that this tier's jobs are short
        warm = await queue.enqueue_many([("quick", i) for i in range(100)])
        await until(lambda: _all_done(warm))
        blockers = [await queue.enqueue("blocker") for _ in range(2)]
        held = [await queue.enqueue("quick", i) for i in range(2)]

        async def holding() -> bool:
            return (await queue.counts())["active"] == 4

        await until(holding)  # two running, two claimed ahead
        assert gauge.most == 2
        assert {await job.state() for job in held} == {JobState.ACTIVE}
        release.set()
        for job in blockers + held:
            await job.result(timeout=5)
    assert gauge.most == 2


async def _all_done(jobs: list[Job]) -> bool:
    return [await job.state() for job in jobs] == [JobState.COMPLETED] * len(jobs)


async def test_long_jobs_are_not_held(app: App) -> None:
    """Jobs that take long (every job, for a new worker) are claimed only into free slots:
    a second job stays WAITING, free for another worker."""
    release = asyncio.Event()

    @app.processor("slow")
    async def slow(job: Job) -> None:
        await release.wait()

    queue = app.queue()
    first = await queue.enqueue("slow")
    second = await queue.enqueue("slow")
    async with running(app.worker("standard", concurrency=1)):
        await until(lambda: _is(first, JobState.ACTIVE))
        await asyncio.sleep(0.3)
        assert await second.state() is JobState.WAITING
        release.set()
        await second.result(timeout=5)


async def _is(job: Job, state: JobState) -> bool:
    return await job.state() is state


async def test_stopping_hands_held_jobs_back_at_once_uncounted(app: App) -> None:
    release = asyncio.Event()

    @app.processor("quick")
    async def quick(job: Job) -> None:
        return None

    @app.processor("blocker")
    async def blocker(job: Job) -> None:
        await release.wait()

    queue = app.queue()
    worker = app.worker("standard", concurrency=1)
    task = asyncio.create_task(worker.run())
    warm = await queue.enqueue_many([("quick", i) for i in range(100)])
    await until(lambda: _all_done(warm))
    blocking = await queue.enqueue("blocker")
    held = await queue.enqueue("quick", "held")

    async def holding() -> bool:
        return await held.state() is JobState.ACTIVE

    await until(holding)
    stopping = asyncio.create_task(worker.stop(grace=30))
    await until(lambda: _is(held, JobState.WAITING), timeout=2)  # long before the grace
    info = await held.info()
    assert info.attempt == 0
    assert await blocking.state() is JobState.ACTIVE  # the running job keeps its grace
    release.set()
    await asyncio.wait_for(stopping, 10)
    await asyncio.wait_for(task, 10)
    assert await blocking.state() is JobState.COMPLETED
