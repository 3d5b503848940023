"""On a real three-master cluster every script runs on the node that owns its tier's slot and
touches only that slot: checked by watching every node with MONITOR (which also shows the
commands a script runs) while a workload runs every script on three tiers, each on its own
master."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from streamq import App, Fail, Job, Retry, Tier
from streamq.broker.scripts import SCRIPT_NAMES, _source
from tests.cluster_rig import HOST, ClusterRig
from tests.helpers import running, until

pytestmark = pytest.mark.slow

TIERS = ["standard", "high", "low"]


async def _watch(port: int, lines: list[str]) -> None:
    client = aioredis.Redis(host=HOST, port=port, decode_responses=True)
    try:
        async with client.monitor() as monitor:
            while True:
                lines.append((await monitor.next_command())["command"])
    finally:
        await client.aclose()


@pytest.fixture
async def monitored(cluster: ClusterRig) -> AsyncIterator[dict[int, list[str]]]:
    """The commands each master runs during the test (script commands included)."""
    seen: dict[int, list[str]] = {port: [] for port in cluster.ports}
    tasks = [asyncio.create_task(_watch(port, lines)) for port, lines in seen.items()]
    await asyncio.sleep(0.2)
    yield seen
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _workload(app: App) -> None:
    """Runs each of the scripts at least once, on every tier."""
    @app.processor("ok")
    async def ok(job: Job) -> str:
        await job.log("working")
        await job.progress(0.5)
        return "done"

    @app.processor("slow")
    async def slow(job: Job) -> None:
        await asyncio.sleep(0.8)  # longer than a third of the 1 s lease: renewed

    @app.processor("flaky")
    async def flaky(job: Job) -> None:
        if job.attempt == 1:
            raise Retry(delay=0.1)

    @app.processor("bad")
    async def bad(job: Job) -> None:
        raise Fail("no")

    @app.processor("hold")
    async def hold(job: Job) -> None:
        await asyncio.sleep(30)

    for tier in TIERS:
        queue = app.queue(tier)
        await queue.pause()
        await queue.resume()
        await queue.enqueue_many([("ok", 1), ("slow", 2), ("flaky", 3)])
        dead = await queue.enqueue("bad", 4)
        later = await queue.enqueue("ok", 5, delay=60)
        await queue.promote(later.id)
        gone = await queue.enqueue("ok", 6, delay=60)
        await queue.remove(gone.id)
        await app.schedule("ok", every=1, key=f"tick-{tier}", tier=tier)
        await app.pause_schedule(f"tick-{tier}")
        await app.resume_schedule(f"tick-{tier}")
        async with running(app.worker(tier)):
            await until(lambda q=queue: _idle_with(q, completed=4, failed=1), timeout=10)
            await queue.retry(dead.id)
            await until(lambda q=queue: _idle_with(q, failed=1), timeout=10)
        await app.unschedule(f"tick-{tier}")
        await queue.clean("completed")
        await queue.clean("failed")
        await queue.enqueue("ok", 7, delay=60)
        assert await queue.drain() == 1
        held = await queue.enqueue("hold", 8)
        worker = app.worker(tier)
        task = asyncio.create_task(worker.run())
        await until(lambda q=queue: _active(q), timeout=5)
        await worker.stop(grace=0)  # hands the held job back
        await task
        await queue.remove(held.id)


async def _idle_with(queue: object, **want: int) -> bool:
    counts = await queue.counts()  # type: ignore[attr-defined]
    return bool(counts["waiting"] == counts["active"] == counts["delayed"] == 0
                and all(counts[k] >= v for k, v in want.items()))


async def _active(queue: object) -> bool:
    return bool((await queue.counts())["active"] == 1)  # type: ignore[attr-defined]


async def test_every_script_stays_on_its_tiers_node(
    cluster: ClusterRig, namespace: str, monitored: dict[int, list[str]]
) -> None:
    """Every key (and key prefix) a script or command names is ``<ns>:{tier}:...`` and lives
    in a slot of the node that ran it; every script ran; no node answered CROSSSLOT."""
    owners = {tier: cluster.owner_port(f"{{{tier}}}") for tier in ("critical", *TIERS)}
    assert len({owners[tier] for tier in TIERS}) == 3, owners
    app = App(cluster.url, namespace=namespace,
              tiers=[Tier(tier, lease=1, attempts=2) for tier in TIERS])
    try:
        await _workload(app)
    finally:
        await app.aclose()
    await asyncio.sleep(0.2)  # the monitors catch up

    name_of = {hashlib.sha1(_source(n).encode()).hexdigest(): n for n in SCRIPT_NAMES}
    ran: set[str] = set()
    token = re.compile(rf"{namespace}:\S*")
    for port, lines in monitored.items():
        for line in lines:
            if line.startswith("EVALSHA "):
                ran.add(name_of[line.split()[1]])
            if line.startswith("COMMAND GETKEYS "):  # redis-py asking where a command goes
                continue
            for key in token.findall(line):
                tag = re.match(rf"{namespace}:\{{(\w+)\}}:", key)
                assert tag, f"untagged key {key!r} on {port}: {line[:200]}"
                assert owners[tag.group(1)] == port, (
                    f"{key!r} (tier {tag.group(1)}, on {owners[tag.group(1)]}) used on {port}: "
                    f"{line[:300]}")
    assert ran == set(SCRIPT_NAMES), f"scripts never run: {set(SCRIPT_NAMES) - ran}"
    for port in cluster.ports:
        assert "errorstat_CROSSSLOT" not in cluster.client(port).info("errorstats")
