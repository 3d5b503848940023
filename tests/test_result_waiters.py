"""``Job.result()`` waiters on a real Redis share one reader of their tier's events."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from streamq import App, Job, Tier
from tests.helpers import until
from tests.servers import Server, redis_server

pytestmark = pytest.mark.slow
WAITERS = 50


def command_calls(server: Server, *commands: str) -> int:
    admin = server.client()
    try:
        stats: dict[str, Any] = admin.info("commandstats")
    finally:
        admin.close()
    return sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in commands)


async def test_waiters_share_one_reader_and_read_only_their_own_events() -> None:
    """50 waiters on one job while 300 others complete: each waiter used to run its own
    blocking XREAD and read its job again after every event of the tier (XREVRANGE,
    HMGET, XREAD: thousands of commands). The tier's events are now read once, and a
    waiter reads its job when an event names it."""
    with redis_server() as server:
        app = App(server.url, namespace="waiters", tiers=[Tier("standard", keep_completed=1000)])
        gate = asyncio.Event()

        @app.processor("slow")
        async def slow(job: Job) -> int:
            await gate.wait()
            return int(job.data)

        @app.processor("quick")
        async def quick(job: Job) -> None:
            return None

        awaited = await app.enqueue("slow", 7)
        worker = app.worker()
        running = asyncio.create_task(worker.run())
        try:
            waiters = [asyncio.create_task(awaited.result(timeout=30)) for _ in range(WAITERS)]
            await asyncio.sleep(0.3)
            before = command_calls(server, "xread", "xrevrange")
            for _ in range(3):
                await app.queue().enqueue_many([("quick", None)] * 100)
                await asyncio.sleep(0.1)

            async def all_quick_done() -> bool:
                return (await app.queue().counts())["completed"] >= 300

            await until(all_quick_done, timeout=20)
            gate.set()
            assert await asyncio.gather(*waiters) == [7] * WAITERS
            reads = command_calls(server, "xread", "xrevrange") - before
            admin = server.client()
            try:
                events = int(admin.xlen(app.queue().keys.events))
            finally:
                admin.close()
            assert reads <= events + 2, f"{reads} reads of {events} events, {WAITERS} waiters"
        finally:
            await worker.stop()
            await running
            await app.aclose()


async def test_a_reader_lingers_for_the_next_sequential_waiter() -> None:
    """enqueue, result, enqueue, result: each result() after the first finds the reader
    still running, so the newest event is read once (XREVRANGE), not once a call."""
    with redis_server() as server:
        app = App(server.url, namespace="lingers")

        @app.processor("echo")
        async def echo(job: Job) -> Any:
            return job.data

        worker = app.worker()
        running = asyncio.create_task(worker.run())
        try:
            for n in range(5):
                job = await app.enqueue("echo", n)
                assert await job.result(timeout=10) == n
            assert command_calls(server, "xrevrange") == 1
        finally:
            await worker.stop()
            await running
            await app.aclose()


async def test_a_timeout_holds_while_redis_does_not_answer() -> None:
    """CLIENT PAUSE: result(timeout=0.5) waited for the pause to end (8 s for a pause of
    8 s) before raising; the timeout now bounds the reads too."""
    with redis_server() as server:
        app = App(server.url, namespace="paused")
        admin = server.client()
        try:
            job = await app.queue().enqueue("x", None)
            admin.execute_command("CLIENT", "PAUSE", 2000, "ALL")
            started = time.monotonic()
            with pytest.raises(TimeoutError, match="did not answer in time"):
                await job.result(timeout=0.5)
            assert time.monotonic() - started < 1.5
            await asyncio.to_thread(admin.ping)  # answered once the pause ends
            with pytest.raises(TimeoutError, match="still waiting"):
                await job.result(timeout=0.2)
        finally:
            admin.close()
            await app.aclose()
