"""An idle worker starts a job held in the entry its blocking read delivered at once, while
the claim call that starts it in Redis travels (real Redis: the embedded backend has no
blocking read). Claim still decides: a job it did not start is cancelled, never recorded."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from streamq import App, Job, JobState, RateLimit, Tier
from streamq.broker.keys import GROUP
from streamq.worker.tier_runner import TierRunner
from tests.conftest import delete_namespace
from tests.helpers import running, until

CLAIM_DELAY_S = 0.3


@pytest.fixture
async def redis_app(redis_url: str, namespace: str) -> AsyncIterator[App]:
    application = App(redis_url, namespace=namespace,
                      tiers=[Tier("limited", rate_limit=RateLimit(1000, per=1))])
    yield application
    await application.aclose()
    await delete_namespace(redis_url, namespace)


async def slow_claims(app: App, before: Any = None) -> list[float]:
    """Delay every claim that carries delivered entries by CLAIM_DELAY_S (running
    ``before()`` first), the early start's too; returns the list of times those claims
    returned."""
    scripts = (await app.backend()).scripts
    real_claim = scripts.claim
    returned: list[float] = []

    async def claim(*args: Any, **kwargs: Any) -> Any:
        delivered = args[4] if len(args) > 4 else kwargs.get("delivered")
        if not delivered:
            return await real_claim(*args, **kwargs)
        await asyncio.sleep(CLAIM_DELAY_S)
        if before is not None:
            await before()
        reply = await real_claim(*args, **kwargs)
        returned.append(time.monotonic())
        return reply

    def claim_now(*args: Any) -> Any:
        return claim(*args)  # sent late: Redis runs it after ``before()``

    scripts.claim = claim  # type: ignore[method-assign]
    scripts.claim_now = claim_now  # type: ignore[method-assign]
    return returned


async def idle(app: App) -> None:
    """Let the worker go idle in its blocking read."""
    await asyncio.sleep(0.2)


async def test_an_idle_worker_starts_a_held_job_before_claim_returns(redis_app: App) -> None:
    started: list[float] = []

    @redis_app.processor("go")
    async def go(job: Job) -> str:
        started.append(time.monotonic())
        return "done"

    returned = await slow_claims(redis_app)
    async with running(redis_app.worker()):
        await idle(redis_app)
        job = await redis_app.enqueue("go", 1)
        assert await job.result(timeout=5) == "done"
    assert len(started) == 1 and len(returned) == 1
    assert started[0] < returned[0] - CLAIM_DELAY_S / 2, "the job waited for claim"
    info = await job.info()
    assert (info.state, info.attempt) == (JobState.COMPLETED, 1)


async def test_a_job_claim_does_not_start_is_cancelled_and_runs_later(redis_app: App) -> None:
    """The queue is paused between the blocking read and claim: the early job is cancelled,
    its outcome not recorded, and it is back in the queue with no attempt used; after
    resume it runs once."""
    started: list[str] = []
    finished: list[str] = []

    @redis_app.processor("slow")
    async def slow(job: Job) -> None:
        started.append(job.id)
        await asyncio.sleep(CLAIM_DELAY_S * 2)
        finished.append(job.id)

    queue = redis_app.queue()
    paused_once: list[bool] = []

    async def pause_once() -> None:
        if not paused_once:
            paused_once.append(True)
            await queue.pause()

    await slow_claims(redis_app, before=pause_once)
    async with running(redis_app.worker()):
        await idle(redis_app)
        job = await redis_app.enqueue("slow", 1)

        async def handed_back() -> bool:
            return bool(paused_once) and await queue.counts() == {
                "waiting": 1, "active": 0, "delayed": 0, "completed": 0, "failed": 0}

        await until(handed_back)
        assert started == [job.id] and finished == []
        assert (await job.info()).attempt == 0
        await queue.resume()
        await job.result(timeout=5)
    assert started == [job.id, job.id] and finished == [job.id]
    assert (await job.info()).attempt == 1


async def test_a_rate_limited_tier_waits_for_claim(redis_app: App) -> None:
    """Only claim applies rate limits, so such a tier never starts early."""
    started: list[float] = []

    @redis_app.processor("go")
    async def go(job: Job) -> None:
        started.append(time.monotonic())

    returned = await slow_claims(redis_app)
    async with running(redis_app.worker("limited")):
        await idle(redis_app)
        job = await redis_app.queue("limited").enqueue("go", 1)
        await job.result(timeout=5)
    assert len(started) == 1 and returned and started[0] >= returned[0]


async def test_entries_a_stopping_worker_was_delivered_go_back(
    redis_app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stop that lands as the blocking read returns an entry: the worker never claims it,
    and must not delete its consumer with the entry pending (that makes the entry
    unreachable: the job would never run). It hands the entry back; the next worker runs
    the job."""
    ran: list[str] = []

    @redis_app.processor("go")
    async def go(job: Job) -> None:
        ran.append(job.id)

    from streamq.broker.consumers import BlockingReader
    real_read = BlockingReader.read
    worker = redis_app.worker()

    async def read_then_stop(self: BlockingReader, block_ms: int) -> Any:
        delivered = await real_read(self, block_ms)
        if delivered:
            for runner in worker.runners:
                runner.request_stop(5)
        return delivered

    monkeypatch.setattr(BlockingReader, "read", read_then_stop)
    async with running(worker):
        await idle(redis_app)
        job = await redis_app.enqueue("go", 1)
        await worker.stop()
    assert ran == []
    monkeypatch.setattr(BlockingReader, "read", real_read)
    async with running(redis_app.worker()):
        await job.result(timeout=5)
    assert ran == [job.id]
    assert (await job.info()).attempt == 1


async def test_a_stopping_worker_closes_its_blocked_read_before_leaving_the_group(
    redis_app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopping cancels the idle worker's blocking read here, but Redis keeps it blocked
    until it times out or its connection closes. An entry enqueued meanwhile went to the
    stopping consumer after its pending list was read, and deleting the consumer dropped
    it: the job stayed WAITING forever, below the group's last id and in no pending list.
    The read's connection is closed first now, so the entry stays for the next worker."""
    from streamq.broker import consumers

    real_pending = consumers._pending_entries
    jobs: list[Job] = []

    async def enqueue_between(*args: Any) -> Any:
        left = await real_pending(*args)
        if not jobs:
            jobs.append(await redis_app.enqueue("go", 1))
            await asyncio.sleep(0.1)  # a read still blocked in Redis would take it now
        return left

    @redis_app.processor("go")
    async def go(job: Job) -> None: ...

    monkeypatch.setattr(consumers, "_pending_entries", enqueue_between)
    async with running(redis_app.worker()):
        await idle(redis_app)
    monkeypatch.setattr(consumers, "_pending_entries", real_pending)
    [job] = jobs
    async with running(redis_app.worker()):
        await job.result(timeout=5)
    assert (await job.info()).attempt == 1


async def test_entries_a_read_delivers_once_the_slots_filled_go_back_at_once(
    redis_app: App, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The slots filled while the blocking read waited (claiming ahead stopped as the
    tier's jobs grew longer): the entries it delivered go back to the stream at once. Kept,
    they sat pending for this worker unrenewed, were reclaimed after the lease, and the
    stale copy could start early beside the new one."""
    queue = redis_app.queue()
    job = await queue.enqueue("anything")
    runner = TierRunner(redis_app, redis_app.tiers["standard"], 1, "w1")
    backend = await redis_app.backend(queue.keys)
    monkeypatch.setattr(runner, "_free_slots", lambda: 0)
    try:
        assert await runner._blocking_read(backend) == []
    finally:
        await runner._close_reader()
    pending = [await backend.client.xpending(stream, GROUP) for stream in queue.keys.ready]
    assert sum(p["pending"] for p in pending) == 0
    assert await queue.state_of(job.id) is JobState.WAITING
