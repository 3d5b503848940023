"""BurstGroup: the tiers of a burst run end together, once all of them are waiting, each
having found nothing in a look begun after the last job finished anywhere."""

from __future__ import annotations

import asyncio

from streamq.worker.burst import BurstGroup


async def test_the_run_is_over_once_every_tier_waits() -> None:
    group = BurstGroup(2)
    first = asyncio.create_task(group.over("high", 0))
    assert await group.over("low", 0) is True
    assert await first is True


async def test_one_tier_alone_is_over_at_once() -> None:
    assert await asyncio.wait_for(BurstGroup(1).over("high", 0), 0.01) is True


async def test_a_look_begun_before_a_job_finished_is_not_idle() -> None:
    """high found nothing, but a job of low finished after its look began (it may have
    enqueued into high): low's look finds nothing too, yet the run goes on until high has
    looked again."""
    group = BurstGroup(2)
    first = asyncio.create_task(group.over("high", group.generation))
    group.job_finished()
    assert await group.over("low", group.generation) is False
    assert await first is False
    again = asyncio.create_task(group.over("high", group.generation))
    assert await group.over("low", group.generation) is True
    assert await again is True


async def test_a_tier_that_looks_again_is_no_longer_idle() -> None:
    """high waited, then looked again and found jobs that had come due (no job finished, so
    the generation did not move). Its old mark used to count as idle: low, finding nothing,
    ended the run while high's new jobs ran (and could enqueue into low)."""
    group = BurstGroup(2)
    assert await group.over("high", 0) is False  # LOOK_AGAIN_S later: high looks again
    assert await group.over("low", 0) is False   # high is busy, not waiting
