"""A burst run of several tiers whose Redis goes away ends with one ``ConnectionError``."""

from __future__ import annotations

import asyncio

import pytest

import streamq
from streamq import App, Job
from tests.servers import redis_server

pytestmark = pytest.mark.slow


async def test_a_burst_run_of_several_tiers_raises_one_connection_error() -> None:
    """Every tier's call fails at once when the connection drops, and the run raised them
    as an ExceptionGroup: the CLI printed a traceback, not "cannot reach Redis"."""
    with redis_server() as server:
        app = App(server.url, namespace="lost")
        started = asyncio.Event()

        @app.processor("nap")
        async def nap(job: Job) -> None:
            started.set()
            await asyncio.sleep(0.5)

        for tier in ("high", "low"):
            await app.queue(tier).enqueue("nap")
        admin = server.client()
        try:
            run = asyncio.create_task(app.worker(["high", "low"]).run(burst=True))
            await started.wait()
            admin.shutdown(nosave=True)
            with pytest.raises(streamq.ConnectionError, match="cannot reach Redis"):
                await asyncio.wait_for(run, 20)
        finally:
            admin.close()
            await app.aclose()


async def test_a_burst_run_ends_when_a_failure_cannot_be_recorded() -> None:
    """Concurrency 1, the job fails, and Redis goes away before its failure is recorded:
    the failure is retried, and its slot counts as free meanwhile, so the burst run claims,
    meets the lost connection and ends, rather than wait for a slot forever."""
    with redis_server() as server:
        app = App(server.url, namespace="lost")
        started = asyncio.Event()
        admin = server.client()

        @app.processor("doomed")
        async def doomed(job: Job) -> None:
            started.set()
            await asyncio.sleep(0.2)
            admin.shutdown(nosave=True)
            raise RuntimeError("boom")

        await app.enqueue("doomed")
        try:
            with pytest.raises(streamq.ConnectionError):
                await asyncio.wait_for(app.worker(concurrency=1).run(burst=True), 20)
        finally:
            admin.close()
            await app.aclose()
