"""A queue's streams and consumer group vanish while a job runs (Redis restarted without
persistence, or the keys were deleted): the worker reports "queue state lost", recreates
the group and keeps serving the tier instead of stopping with ``QueueStateLost``."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streamq import App, Job
from tests.helpers import running, until
from tests.servers import redis_server


@pytest.mark.parametrize("first_job", ["completes", "fails"])
async def test_state_lost_while_a_job_runs_does_not_stop_the_worker(
    app: App, first_job: str
) -> None:
    """Recording the first job's outcome (complete, or fail) finds no consumer group
    (NOGROUP); the worker recreates it, frees the slot at once (not after a lease renewal,
    10 s) and runs the next job."""
    queue = app.queue()
    backend = await app.backend(queue.keys)
    vanished = asyncio.Event()

    @app.processor("vanish")
    async def vanish(job: Job) -> str:
        if job.data == "first":
            await backend.client.delete(*queue.keys.ready)
            vanished.set()
            if first_job == "fails":
                raise RuntimeError("boom")
        return str(job.data)

    await app.enqueue("vanish", "first")
    async with running(app.worker(concurrency=1)) as task:
        await asyncio.wait_for(vanished.wait(), 10)
        second = await app.enqueue("vanish", "second")
        assert await second.result(timeout=5) == "second"
        assert not task.done()


async def test_streams_deleted_under_an_idle_worker_do_not_stop_it(app: App) -> None:
    """An idle worker blocked in XREADGROUP: deleting the streams ends the read with
    "UNBLOCKED the stream key no longer exists", which stopped the worker with redis-py's
    ResponseError. It is queue state lost: the worker recreates the group and goes on."""
    queue = app.queue()

    @app.processor("echo")
    async def echo(job: Job) -> str:
        return str(job.data)

    async with running(app.worker(concurrency=1)) as task:
        backend = await app.backend(queue.keys)
        if backend.connection.wakeup is None:  # real Redis: the worker waits in XREADGROUP
            await until(lambda: _blocked_reads(backend.client))
        await backend.client.delete(*queue.keys.ready)
        await asyncio.sleep(0.3)
        assert not task.done()
        job = await app.enqueue("echo", "after")
        assert await job.result(timeout=5) == "after"


@pytest.mark.slow
async def test_an_idle_worker_whose_redis_becomes_a_replica_reads_again() -> None:
    """REPLICAOF ends a blocked read with "UNBLOCKED force unblock ... (master ->
    replica?)": a failover, so the worker reconnects rather than stopping; once the server
    is a master again, jobs run."""
    with redis_server() as server:
        app = App(server.url, namespace="demoted")

        @app.processor("echo")
        async def echo(job: Job) -> str:
            return str(job.data)

        admin = server.client()
        try:
            await app.queue().counts()
            app_client = (await app.backend()).client
            async with running(app.worker(concurrency=1)) as task:
                await until(lambda: _blocked_reads(app_client))
                admin.execute_command("REPLICAOF", "127.0.0.1", "1")
                await asyncio.sleep(0.5)
                admin.execute_command("REPLICAOF", "NO", "ONE")
                assert not task.done()
                job = await app.enqueue("echo", "after")
                assert await job.result(timeout=10) == "after"
        finally:
            admin.close()
            await app.aclose()


async def _blocked_reads(client: Any) -> bool:
    """Whether a worker's XREADGROUP is blocked in the server now."""
    clients: list[dict[str, Any]] = await client.client_list()
    return any(c.get("cmd") == "xreadgroup" and "b" in c.get("flags", "") for c in clients)
