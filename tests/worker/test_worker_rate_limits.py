"""Rate limits in running workers, on both backends, with an injected clock: the tier's limit
across two workers, burst, waiting jobs keep their attempts, per-key fairness, stop while
waiting for a token, and rate keys checked at enqueue."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from streamq import App, ConfigurationError, InvalidPayload, Job, RateLimit, Tier
from streamq.worker import tier_runner
from tests.broker.helpers import stored_job
from tests.helpers import FakeClock, running, until


@pytest.fixture
def tiers() -> list[Tier]:
    return [
        Tier("standard", rate_limit=RateLimit(3, per=60)),
        Tier("bursty", rate_limit=RateLimit(1, per=10, burst=4)),
        Tier("tenants", rate_limit=RateLimit(4, per=60),
             rate_limit_per_key=RateLimit(2, per=60)),
    ]


@pytest.fixture(autouse=True)
def quick_token_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake clock moves by hand, so workers re-ask Redis every 20 ms instead of 1 s."""
    monkeypatch.setattr(tier_runner, "RATE_WAIT_MAX_S", 0.02)


async def completed(app: App, tier: str = "standard") -> int:
    return (await app.queue(tier).counts())["completed"]


async def settle_at(app: App, n: int, tier: str = "standard") -> None:
    """Wait until n jobs completed, then check that no more start for a while."""
    async def reached() -> bool:
        return await completed(app, tier) >= n
    await until(reached)
    await asyncio.sleep(0.2)
    assert await completed(app, tier) == n


def register(app: App, tier: str, **options: Any) -> list[str]:
    ran: list[str] = []

    @app.processor(f"task-{tier}", tier=tier, **options)
    async def task(job: Job) -> None:
        ran.append(job.id)

    return ran


async def test_tier_limit_holds_across_two_workers(clock_app: App, clock: FakeClock) -> None:
    """3 per minute, two workers with 4 free slots each: 3 start, then one per 20 s; the
    jobs left waiting keep attempt 0."""
    register(clock_app, "standard")
    jobs = [await clock_app.enqueue("task-standard", {"i": i}) for i in range(10)]
    w1, w2 = clock_app.worker(concurrency=4), clock_app.worker(concurrency=4)
    async with running(w1), running(w2):
        await settle_at(clock_app, 3)
        clock.advance(20)
        await settle_at(clock_app, 4)
        clock.advance(40)
        await settle_at(clock_app, 6)
    infos = [await job.info() for job in jobs]
    assert sorted(info.attempt for info in infos) == [0] * 4 + [1] * 6
    assert {info.state.value for info in infos if info.attempt == 0} == {"waiting"}


async def test_burst_starts_at_once_then_the_rate(clock_app: App, clock: FakeClock) -> None:
    """1 per 10 s with burst 4: 4 start at once, then one per 10 s."""
    register(clock_app, "bursty")
    for i in range(8):
        await clock_app.enqueue("task-bursty", {"i": i})
    async with running(clock_app.worker("bursty", concurrency=8)):
        await settle_at(clock_app, 4, "bursty")
        clock.advance(10)
        await settle_at(clock_app, 5, "bursty")
        clock.advance(25)
        await settle_at(clock_app, 7, "bursty")


async def test_a_flooding_tenant_does_not_starve_another(
    clock_app: App, clock: FakeClock
) -> None:
    """Tier: 4 per minute; per tenant: 2 per minute. Tenant A enqueues 10 jobs before B's 2:
    the tier's 4 starts go to A's first 2 and B's 2. A's others wait in DELAYED with attempt
    0 and start as A's tokens come back."""
    ran = register(clock_app, "tenants", rate_key=lambda data: data["tenant"])
    a = [await clock_app.enqueue("task-tenants", {"tenant": "A", "i": i}) for i in range(10)]
    b = [await clock_app.enqueue("task-tenants", {"tenant": "B", "i": i}) for i in range(2)]
    async with running(clock_app.worker("tenants", concurrency=8)):
        await settle_at(clock_app, 4, "tenants")
        assert sorted(ran) == sorted(job.id for job in (*a[:2], *b))
        for job in a[2:]:
            info = await job.info()
            assert (info.state.value, info.attempt) == ("delayed", 0)
        clock.advance(30)
        await settle_at(clock_app, 5, "tenants")
        assert ran[-1] == a[2].id
        assert (await a[2].info()).attempt == 1


async def test_draining_a_tenants_deferred_backlog_frees_its_limit(
    clock_app: App, clock: FakeClock
) -> None:
    """Tenant A's 8 deferred jobs are drained: its next job starts on A's next token, 30 s
    later, not behind the drained ones (4.5 minutes later: the bucket stayed in debt)."""
    ran = register(clock_app, "tenants", rate_key=lambda data: data["tenant"])
    for i in range(10):
        await clock_app.enqueue("task-tenants", {"tenant": "A", "i": i})
    async with running(clock_app.worker("tenants", concurrency=8)):
        await settle_at(clock_app, 2, "tenants")
        assert await clock_app.queue("tenants").drain() == 8
        late = await clock_app.enqueue("task-tenants", {"tenant": "A", "i": 10})
        clock.advance(30)
        await settle_at(clock_app, 3, "tenants")
        assert ran[-1] == late.id


async def test_stop_ends_the_wait_for_a_token(
    clock_app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker waiting 20 s for the next token stops at once; the job it waited for is
    still waiting, attempt 0."""
    monkeypatch.setattr(tier_runner, "RATE_WAIT_MAX_S", 30.0)
    register(clock_app, "standard")
    jobs = [await clock_app.enqueue("task-standard", {"i": i}) for i in range(4)]
    worker = clock_app.worker(concurrency=8)
    async with running(worker):
        await settle_at(clock_app, 3)
        started = time.monotonic()
        await worker.stop(5)
        assert time.monotonic() - started < 1.0
    info = await jobs[3].info()
    assert (info.state.value, info.attempt) == ("waiting", 0)


async def test_rate_key_comes_from_the_option_or_the_processor(app: App) -> None:
    """enqueue(rate_key=) wins over the processor's function; ints become strings; no key
    means no `rk` field."""
    register(app, "tenants", rate_key=lambda data: data.get("tenant"))
    queue = app.queue("tenants")
    backend = await app.backend()

    async def rk(job: Job) -> Any:
        return (await stored_job(backend.client, queue.keys, job.id)).get("rk")

    assert await rk(await queue.enqueue("task-tenants", {"tenant": 42})) == "42"
    assert await rk(await queue.enqueue("task-tenants", {"tenant": 42}, rate_key="x")) == "x"
    assert await rk(await queue.enqueue("task-tenants", {})) is None
    [many] = await queue.enqueue_many([("task-tenants", {}, {"rate_key": "y"})])
    assert await rk(many) == "y"


async def test_bad_rate_keys_are_rejected_before_writing(app: App) -> None:
    """A bad key or a failing rate_key function raises and writes nothing."""
    register(app, "tenants", rate_key=lambda data: data["tenant"])
    queue = app.queue("tenants")
    with pytest.raises(InvalidPayload, match="rate_key of processor 'task-tenants' failed"):
        await queue.enqueue("task-tenants", {"no": "tenant"})
    for bad in ("", 3.5, "x" * 257, True):
        with pytest.raises(ConfigurationError, match="rate_key must be"):
            await queue.enqueue("task-tenants", {"tenant": "A"}, rate_key=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="rate_key must be"):
        await queue.enqueue_many([("task-tenants", {"tenant": "A"}),
                                  ("task-tenants", {"tenant": ["list"]})])
    assert sum((await queue.counts()).values()) == 0
    with pytest.raises(ConfigurationError, match="rate_key= takes a function"):
        app.processor("other", rate_key="tenant")  # type: ignore[arg-type]
