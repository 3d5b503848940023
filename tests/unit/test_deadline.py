"""A job's timeout as one timer: it warns at 80 %, cancels the task at 100 %, and hands back
exactly the cancellation it made."""

from __future__ import annotations

import asyncio
import time

import pytest

from streamq.worker.deadline import Deadline


async def test_it_warns_at_80_percent_then_cancels_the_task_at_the_timeout() -> None:
    warned: list[float] = []
    start = time.monotonic()

    async def limited() -> str:
        task = asyncio.current_task()
        assert task is not None
        deadline = Deadline(task, 0.2, lambda: warned.append(time.monotonic() - start))
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            assert deadline.expired
            assert deadline.withdraw() == 0
            return "timed out"
        return "slept"

    assert await asyncio.wait_for(limited(), 2) == "timed out"
    elapsed = time.monotonic() - start
    [at] = warned
    assert 0.15 <= at < 0.2 <= elapsed < 1


async def test_withdrawn_in_time_it_neither_warns_nor_cancels() -> None:
    warned: list[bool] = []
    task = asyncio.current_task()
    assert task is not None
    deadline = Deadline(task, 0.05, lambda: warned.append(True))
    await asyncio.sleep(0.01)
    assert deadline.withdraw() == 0
    await asyncio.sleep(0.1)  # past the timeout: nothing fires
    assert (warned, deadline.expired, task.cancelling()) == ([], False, 0)


async def test_it_hands_back_its_own_cancellation_and_leaves_anothers() -> None:
    """The timeout and a stopping worker both cancelled the task: the worker's request is
    left, so the job is handed back rather than failed for its timeout."""
    left: list[int] = []

    async def limited() -> None:
        task = asyncio.current_task()
        assert task is not None
        deadline = Deadline(task, 0.01, lambda: None)
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            task.cancel()  # the worker stops in the same instant
            left.append(deadline.withdraw())
            left.append(deadline.withdraw())  # a second withdraw takes back nothing more
            raise

    with pytest.raises(asyncio.CancelledError):
        await asyncio.create_task(limited())
    assert left == [1, 1]


async def test_a_cancellation_caught_and_ignored_is_taken_back_all_the_same() -> None:
    async def stubborn() -> int:
        task = asyncio.current_task()
        assert task is not None
        deadline = Deadline(task, 0.01, lambda: None)
        with pytest.raises(asyncio.CancelledError):
            await asyncio.sleep(5)
        await asyncio.sleep(0)  # goes on: asyncio does not cancel it again
        deadline.withdraw()
        return task.cancelling()

    assert await asyncio.wait_for(stubborn(), 2) == 0
