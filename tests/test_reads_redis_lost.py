"""Reads whose Redis has gone raise ``streamq.ConnectionError``, as scripts do."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import streamq
from streamq import App
from tests.servers import redis_server

pytestmark = pytest.mark.slow


async def test_reads_raise_streamq_connection_errors_when_redis_is_gone() -> None:
    """get_job, state, counts, jobs, is_paused, result, retry_failed and schedules read with
    the client directly, and raised redis-py's own ConnectionError, which
    ``except streamq.ConnectionError`` does not catch."""
    with redis_server() as server:
        app = App(server.url, namespace="gone")
        job = await app.queue().enqueue("x")
        admin = server.client()
        admin.shutdown(nosave=True)
        admin.close()
        queue = app.queue()
        reads: dict[str, Callable[[], Awaitable[Any]]] = {
            "get_job": lambda: queue.get_job(job.id),
            "state": job.state,
            "counts": queue.counts,
            "jobs": lambda: queue.jobs("waiting"),
            "is_paused": queue.is_paused,
            "result": lambda: job.result(timeout=1),
            "retry_failed": queue.retry_failed,
            "schedules": app.schedules,
        }
        try:
            for read in reads.values():  # a failure shows which in its locals (`read`)
                with pytest.raises(streamq.ConnectionError, match="cannot reach Redis"):
                    await read()
        finally:
            await app.aclose()
