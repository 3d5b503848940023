"""Scripts missing from the server (it restarted or failed over, or its script cache was
flushed): the calls in flight meet NOSCRIPT together, and one load serves them all."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from streamq import App, JobState
from streamq.broker.scripts import SCRIPT_NAMES
from tests.servers import redis_server

pytestmark = pytest.mark.slow


@pytest.fixture
async def served() -> AsyncIterator[tuple[App, Any]]:
    """An App on a throwaway server with one job enqueued (the scripts loaded), and an
    admin client of that server."""
    with redis_server() as server:
        app = App(server.url, namespace="reload")
        admin = server.client()
        try:
            await app.queue().enqueue("x", None)
            yield app, admin
        finally:
            admin.close()
            await app.aclose()


async def test_a_wave_of_noscript_loads_the_scripts_once(served: tuple[App, Any]) -> None:
    """200 enqueues in flight after SCRIPT FLUSH: each caller loaded every script on a
    pooled connection of its own (96 connections, 2,037 SCRIPT LOADs, 8 MB seen), on a
    server just promoted. Now: one load, over the connection the calls use."""
    app, admin = served
    queue = app.queue()
    admin.script_flush()
    admin.config_resetstat()
    connections = admin.info("stats")["total_connections_received"]
    jobs = await asyncio.gather(*(queue.enqueue("x", n) for n in range(200)))
    loads = admin.info("commandstats").get("cmdstat_script|load", {}).get("calls", 0)
    assert loads == len(SCRIPT_NAMES)
    assert admin.info("stats")["total_connections_received"] == connections
    assert len({job.id for job in jobs}) == 200
    assert (await queue.counts())["waiting"] == 201


async def test_scripts_flushed_again_right_after_a_load_are_loaded_again(
    served: tuple[App, Any], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A second flush (another failover) lands between the load a call waited for and its
    resend: the resend meets NOSCRIPT too, and raised redis-py's NoScriptError (which
    stopped a worker's claim loop). It loads again once more."""
    app, admin = served
    loader = (await app.backend()).scripts._loader
    real_load = loader.load
    flushes = [True]

    async def load_then_flush_again() -> None:
        await real_load()
        if flushes:
            flushes.pop()
            admin.script_flush()

    monkeypatch.setattr(loader, "load", load_then_flush_again)
    admin.script_flush()
    job = await app.queue().enqueue("x", None)
    assert await job.state() is JobState.WAITING
