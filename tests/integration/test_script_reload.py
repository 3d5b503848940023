"""Scripts missing from the server (it restarted or failed over, or its script cache was
flushed): the calls in flight meet NOSCRIPT together, and one load serves them all."""

from __future__ import annotations

import asyncio

import pytest

from streamq import App
from streamq.broker.scripts import SCRIPT_NAMES
from tests.servers import redis_server

pytestmark = pytest.mark.slow


async def test_a_wave_of_noscript_loads_the_scripts_once() -> None:
    """200 enqueues in flight after SCRIPT FLUSH: each caller loaded every script on a
    pooled connection of its own (96 connections, 2,037 SCRIPT LOADs, 8 MB seen), on a
    server just promoted. Now: one load, over the connection the calls use."""
    with redis_server() as server:
        app = App(server.url, namespace="reload")
        admin = server.client()
        try:
            queue = app.queue()
            await queue.enqueue("x", None)
            admin.script_flush()
            admin.config_resetstat()
            connections = admin.info("stats")["total_connections_received"]
            jobs = await asyncio.gather(*(queue.enqueue("x", n) for n in range(200)))
            loads = admin.info("commandstats").get("cmdstat_script|load", {}).get("calls", 0)
            assert loads == len(SCRIPT_NAMES)
            assert admin.info("stats")["total_connections_received"] == connections
            assert len({job.id for job in jobs}) == 200
            assert (await queue.counts())["waiting"] == 201
        finally:
            admin.close()
            await app.aclose()
