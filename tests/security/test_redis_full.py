"""Redis full (``maxmemory`` reached, ``noeviction``), on a throwaway server: enqueue fails at
once with ``RedisFull`` and writes nothing, workers keep draining, and no script is left
half-applied. ``maxmemory 1`` (one byte) makes every memory-growing command fail, which makes
"full" exact instead of a race with a filling loop."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import streamq
from streamq import App, Backoff, Fail, Job, JobState, RedisFull
from tests.servers import Server, redis_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """One throwaway server for the module (maxmemory-policy noeviction)."""
    with redis_server("--maxmemory-policy", "noeviction") as running:
        yield running


@pytest.fixture
async def app(server: Server) -> AsyncIterator[App]:
    """An App on the throwaway server, in a namespace of its own; the server is made
    roomy again afterwards."""
    application = App(server.url, namespace=f"t{uuid.uuid4().hex[:8]}")
    yield application
    set_full(server, False)
    await application.aclose()


def set_full(server: Server, full: bool) -> None:
    client = server.client()
    try:
        client.config_set("maxmemory", 1 if full else 0)
    finally:
        client.close()


def evalsha_calls(server: Server) -> int:
    client = server.client()
    try:
        stats: dict[str, Any] = client.info("commandstats")
        entry = stats.get("cmdstat_evalsha", {})
        return int(entry.get("calls", 0)) + int(entry.get("rejected_calls", 0))
    finally:
        client.close()


async def consistent(app: App) -> dict[str, set[str]]:
    """Every job's state agrees with where it is (a ready stream, the delayed set, the
    failed set); returns the ids by state."""
    queue = app.queue()
    client = (await app.backend()).client
    keys = queue.keys
    in_streams = {fields["id"] for stream in keys.ready
                  for _, fields in await client.xrange(stream)}
    delayed = set(await client.zrange(keys.delayed, 0, -1))
    failed = set(await client.zrange(keys.failed, 0, -1))
    job_ids = [k[len(keys.job_prefix):]
               async for k in client.scan_iter(match=f"{keys.job_prefix}*")]
    job_ids += await client.hkeys(keys.index)
    by_state: dict[str, set[str]] = {}
    for job_id in job_ids:
        info = await queue.get_job(job_id)
        assert info is not None
        by_state.setdefault(info.state.value, set()).add(job_id)
        assert (job_id in in_streams) == (info.state in (JobState.WAITING, JobState.ACTIVE))
        assert (job_id in delayed) == (info.state is JobState.DELAYED)
        assert (job_id in failed) == (info.state is JobState.FAILED)
    assert in_streams <= set().union(*by_state.values()) if by_state else not in_streams
    return by_state


async def test_enqueue_raises_redis_full_at_once_and_writes_nothing(
    app: App, server: Server
) -> None:
    """RedisFull (a streamq.ConnectionError) within a fraction of a second, sent once (not
    retried), naming what to do; nothing was written."""
    await app.queue().enqueue("x", {"n": 0})
    before = await consistent(app)
    set_full(server, True)
    calls = evalsha_calls(server)
    started = time.monotonic()
    with pytest.raises(RedisFull) as caught:
        await app.queue().enqueue("x", {"n": 1})
    assert time.monotonic() - started < 1
    assert evalsha_calls(server) - calls == 1
    assert isinstance(caught.value, streamq.ConnectionError)
    message = str(caught.value)
    assert "nothing was written" in message and "maxmemory" in message
    assert "keep_completed" in message
    assert await consistent(app) == before
    set_full(server, False)
    await app.queue().enqueue("x", {"n": 2})
    assert len((await consistent(app))["waiting"]) == 2


async def test_enqueue_many_and_delayed_jobs_are_refused_whole(
    app: App, server: Server
) -> None:
    """A batch is refused whole, and so is a delayed job."""
    await app.queue().enqueue("x", None)
    before = await consistent(app)
    set_full(server, True)
    with pytest.raises(RedisFull):
        await app.queue().enqueue_many([("x", {"n": n}) for n in range(10)])
    with pytest.raises(RedisFull):
        await app.queue().enqueue("x", None, delay=60)
    assert await consistent(app) == before


async def test_workers_keep_draining_while_full(app: App, server: Server) -> None:
    """With Redis full, a worker still claims, completes, retries later and dead-letters the
    jobs already queued (those scripts start with XACK, which Redis lets run past maxmemory,
    and acknowledging frees memory); every job ends in a consistent state."""

    @app.processor("ok")
    async def ok(job: Job) -> int:
        return int(job.data)

    @app.processor("bad")
    async def bad(job: Job) -> None:
        raise Fail("no")

    @app.processor("flaky", attempts=2, backoff=Backoff.fixed(60))
    async def flaky(job: Job) -> None:
        raise RuntimeError("flaky")

    await app.queue().enqueue_many([("ok", n) for n in range(20)] + [("bad", 0), ("flaky", 0)])
    set_full(server, True)
    worker = app.worker()
    try:
        await asyncio.wait_for(worker.run(burst=True), 15)
    except TimeoutError:
        pytest.fail("the worker could not drain while Redis was full: a script it needs "
                    "(claim, complete, fail) starts with a memory-growing write, so Redis "
                    "refuses it; its first write must be XACK/XDEL/DEL")
    by_state = await consistent(app)
    assert len(by_state.get("completed", ())) == 20
    assert len(by_state.get("failed", ())) == 1
    assert len(by_state.get("delayed", ())) == 1
    assert not by_state.get("waiting") and not by_state.get("active")


async def test_a_new_worker_starts_and_drains_while_full(app: App, server: Server) -> None:
    """A worker of a new App (a recycled or restarted process) prepares its queues while
    Redis is full and drains them, and a new App's reads work: `prepare` wrote the meta
    hash's fields again, a write Redis refused, so the worker exited with RedisFull and no
    worker could start until Redis had room."""

    @app.processor("ok")
    async def ok(job: Job) -> int:
        return int(job.data)

    await app.queue().enqueue_many([("ok", n) for n in range(5)])
    set_full(server, True)
    restarted, reader = (App(server.url, namespace=app.namespace) for _ in range(2))
    restarted.processor("ok")(ok)
    try:
        await asyncio.wait_for(restarted.worker().run(burst=True), 15)
        assert (await reader.queue().counts())["completed"] == 5
    finally:
        await restarted.aclose()
        await reader.aclose()
    assert len((await consistent(app))["completed"]) == 5


async def test_a_group_missing_while_full_is_reported_not_taken_as_there(
    app: App, server: Server
) -> None:
    """prepare took any error from XGROUP CREATE for "the group exists": with Redis full,
    creating a missing group fails with OOM, and the queue was reported prepared without
    it (every claim then failed with NOGROUP). It raises RedisFull; once there is room,
    the group is created."""
    await app.queue().enqueue("x", None)
    admin = server.client()
    try:
        admin.delete(app.queue().keys.ready[3])
    finally:
        admin.close()
    set_full(server, True)
    fresh = App(server.url, namespace=app.namespace)
    try:
        with pytest.raises(RedisFull):  # preparing the queue (its first enqueue, claim, ...)
            await fresh.backend(fresh.queue().keys)
        set_full(server, False)
        await fresh.backend(fresh.queue().keys)
        assert (await fresh.queue().counts())["waiting"] == 1
    finally:
        await fresh.aclose()


async def test_retry_paths_degrade_cleanly_while_full(app: App, server: Server) -> None:
    """queue.promote and queue.retry start with a memory-growing write: while Redis is full
    each raises RedisFull and leaves the job exactly as it was; once there is room, both
    work."""

    @app.processor("flaky", attempts=3, backoff=Backoff.fixed(60))
    async def flaky(job: Job) -> None:
        raise RuntimeError("flaky")

    delayed = await app.enqueue("flaky")
    dead = await app.queue().enqueue("flaky", None, attempts=1)
    await app.worker().run(burst=True)
    assert (await delayed.state(), await dead.state()) == (JobState.DELAYED, JobState.FAILED)
    before = await consistent(app)
    set_full(server, True)
    with pytest.raises(RedisFull):
        await app.queue().retry(dead.id)
    with pytest.raises(RedisFull):
        await app.queue().promote(delayed.id)
    assert await consistent(app) == before
    set_full(server, False)
    await app.queue().retry(dead.id)
    await app.queue().promote(delayed.id)
    assert len((await consistent(app))["waiting"]) == 2


async def test_startup_warns_about_eviction_and_persistence() -> None:
    """A server with an evicting policy and no persistence: one warning for each, logged
    once per App connect; the noeviction + AOF server gets none."""
    import structlog

    with redis_server("--maxmemory-policy", "allkeys-lru") as lru:
        app = App(lru.url)
        with structlog.testing.capture_logs() as logs:
            await app.connect()
            await app.queue().counts()
            await app.aclose()
    warnings = [e["event"] for e in logs if e["log_level"] == "warning"]
    assert len(warnings) == 2
    assert "maxmemory-policy is not noeviction" in warnings[0]
    assert "persistence looks off" in warnings[1]
    with redis_server("--maxmemory-policy", "noeviction", "--appendonly", "yes") as safe:
        app = App(safe.url)
        with structlog.testing.capture_logs() as logs:
            await app.connect()
            await app.aclose()
    assert [e for e in logs if e["log_level"] == "warning"] == []


async def test_startup_warnings_fall_back_to_info_when_config_is_renamed() -> None:
    """CONFIG renamed away (as hosted Redis often does): the settings come from INFO, and
    connecting still works."""
    import structlog

    with redis_server("--maxmemory-policy", "volatile-lru", "--rename-command", "CONFIG",
                      "") as hosted:
        app = App(hosted.url)
        with structlog.testing.capture_logs() as logs:
            await app.connect()
            await app.aclose()
    warnings = [e for e in logs if e["log_level"] == "warning"]
    assert [w["maxmemory_policy"] for w in warnings if "maxmemory_policy" in w] == [
        "volatile-lru"]
    persistence = [w for w in warnings if "persistence" in w["event"]]
    assert len(persistence) == 1 and persistence[0]["source"] == "INFO"
    assert "could not be read" in persistence[0]["event"]
