"""A backlog of delayed jobs due at the same moment, on the real Redis server, promoted by the
worker's own promotion step (``TierRunner._promote``): every call stays within
``PROMOTE_BATCH``, the worker calls again at once after a full batch, every due job is
promoted and none early. Correctness only; benchmarks/promotion.py measures the timing."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

import pytest

from streamq import App, Tier
from streamq.broker.keys import QueueKeys
from streamq.worker.tier_runner import TierRunner
from streamq.worker.upkeep import LOOK_EVERY_S, PROMOTE_BATCH
from tests.conftest import delete_namespace
from tests.helpers import FakeClock

pytestmark = [pytest.mark.slow, pytest.mark.realredis]

DUE = 5000
"""Jobs due at the same moment."""
EARLY, LATE = 300, 300
"""Jobs due 10 s before that moment, and 1 ms after it."""


@pytest.fixture
async def big_app(redis_url: str, namespace: str, clock: FakeClock) -> AsyncIterator[App]:
    """An App on the real server with an unbounded tier and the fake clock."""
    application = App(redis_url, namespace=namespace, clock=clock,
                      tiers=[Tier("bulk", max_waiting=0)])
    yield application
    await application.aclose()
    await delete_namespace(redis_url, namespace)


async def test_backlog_is_promoted_in_bounded_batches_and_never_early(
    big_app: App, clock: FakeClock
) -> None:
    """5,000 jobs due at once (plus some due earlier and later): one look a millisecond
    before promotes only the earlier ones; at the moment, calls of at most PROMOTE_BATCH
    jobs follow each other until all 5,000 are waiting; the later ones stay delayed."""
    queue = big_app.queue("bulk")
    start = clock.now
    for first in range(0, DUE, 1000):
        await queue.enqueue_many([("noop", i, {"delay": 60}) for i in range(first, first + 1000)])
    early = await queue.enqueue_many([("noop", i, {"delay": 50}) for i in range(EARLY)])
    late = await queue.enqueue_many([("noop", i, {"delay": 60.001}) for i in range(LATE)])

    runner = TierRunner(big_app, big_app.tiers["bulk"], 1, "promoter")
    backend = await big_app.backend(queue.keys)
    calls: list[tuple[int, int]] = []
    real = backend.scripts.promote_due

    async def spy(keys: QueueKeys, now_ms: int, limit: int) -> Any:
        promoted, next_due = await real(keys, now_ms, limit)
        calls.append((limit, promoted))
        return promoted, next_due

    backend.scripts.promote_due = spy  # type: ignore[method-assign]

    clock.now = start + 60 - 0.001
    while await runner.upkeep.promote(backend) == 0.0:
        pass
    assert sum(promoted for _, promoted in calls) == EARLY
    assert await queue.counts() == {"waiting": EARLY, "active": 0, "delayed": DUE + LATE,
                                    "completed": 0, "failed": 0}
    assert {(await job.info()).state.value for job in early[:20]} == {"waiting"}

    calls.clear()
    clock.now = start + 60
    waits = [await runner.upkeep.promote(backend)]
    while waits[-1] == 0.0:
        waits.append(await runner.upkeep.promote(backend))
    assert all(limit == PROMOTE_BATCH and promoted <= PROMOTE_BATCH for limit, promoted in calls)
    assert sum(promoted for _, promoted in calls) == DUE
    assert len(calls) == math.floor(DUE / PROMOTE_BATCH) + 1  # the last call is not full
    assert 0 < waits[-1] <= LOOK_EVERY_S  # then it waits for the next due time (1 ms)
    assert await queue.counts() == {"waiting": EARLY + DUE, "active": 0, "delayed": LATE,
                                    "completed": 0, "failed": 0}
    client = backend.client
    assert sum([await client.xlen(stream) for stream in queue.keys.ready]) == EARLY + DUE
    assert set(await client.zrange(queue.keys.delayed, 0, -1)) == {job.id for job in late}
    assert {(await job.info()).state.value for job in late[:20]} == {"delayed"}
