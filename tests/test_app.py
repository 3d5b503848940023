"""App: URLs, tiers, lifecycle, processor registration and enqueue routing."""

from __future__ import annotations

import asyncio
import gc
import socket
import threading
import time
import uuid
from typing import Any

import pydantic
import pytest

from streamq import (
    DEFAULT_TIERS,
    App,
    Backoff,
    ConfigurationError,
    Job,
    JobState,
    RateLimit,
    StreamqError,
    Tier,
    UnknownJobType,
)
from streamq.broker.connection import DEFAULT_URL
from tests.conftest import MakeApp, delete_namespace

EMPTY = {"waiting": 0, "active": 0, "delayed": 0, "completed": 0, "failed": 0}


async def noop(job: Job) -> None:
    """A processor that does nothing."""


# --------------------------------------------------------------------------- URLs


async def test_memory_url_is_private_to_each_app() -> None:
    """Two App("memory://") are two separate embedded servers."""
    a, b = App("memory://"), App("memory://")
    try:
        await a.queue().enqueue("x", None)
        assert await a.queue().counts() == {**EMPTY, "waiting": 1}
        assert await b.queue().counts() == EMPTY
    finally:
        await a.aclose()
        await b.aclose()


async def test_named_memory_url_is_shared_in_the_process() -> None:
    """App("memory://name") twice: one embedded server; a worker of one runs the other's jobs."""
    name = f"memory://shared-{uuid.uuid4().hex[:8]}"
    producer, consumer = App(name), App(name)
    other = App(f"memory://other-{uuid.uuid4().hex[:8]}")

    @consumer.processor("echo", tier="high")
    async def echo(job: Job) -> Any:
        return job.data

    try:
        job = await producer.queue("high").enqueue("echo", {"n": 1}, job_id="shared-1")
        info = await consumer.queue("high").get_job("shared-1")
        assert info is not None
        assert info.data == {"n": 1}
        assert await other.queue("high").get_job("shared-1") is None
        await consumer.worker("high").run(burst=True)
        assert await job.result(timeout=2) == {"n": 1}
    finally:
        for application in (producer, consumer, other):
            await application.aclose()


async def test_redis_url(redis_url: str, namespace: str) -> None:
    """A redis:// URL talks to the real server: the keys appear there."""
    app = App(redis_url, namespace=namespace)
    try:
        await app.queue("low").enqueue("x", None, job_id="real")
        client = (await app.backend()).client
        assert await client.hexists(f"{namespace}:{{low}}:index", "real")
        assert await client.xlen(f"{namespace}:{{low}}:ready:0") == 1
    finally:
        await app.aclose()
        await delete_namespace(redis_url, namespace)


async def test_connections_ask_for_resp2_whatever_redis_py_defaults_to(
    redis_url: str, namespace: str
) -> None:
    """redis-py 8.2 made RESP3 its default (a HELLO 3 per connection, maps for stream
    reads); streamq reads RESP2 replies and its documented ACL has no HELLO."""
    app = App(redis_url, namespace=namespace)
    try:
        await app.queue("low").enqueue("x", None)
        assert (await app.backend()).client.get_connection_kwargs()["protocol"] == 2
    finally:
        await app.aclose()
        await delete_namespace(redis_url, namespace)


async def test_streamq_url_is_read_when_no_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """App() uses $STREAMQ_URL; App(url) ignores it."""
    name = f"memory://env-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("STREAMQ_URL", name)
    from_env, explicit = App(), App(name)
    try:
        assert from_env.url == name
        await from_env.queue().enqueue("x", None, job_id="via-env")
        assert await explicit.queue().get_job("via-env") is not None
        assert App("memory://").url == "memory://"
    finally:
        await from_env.aclose()
        await explicit.aclose()


def test_default_url_without_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """With neither url nor $STREAMQ_URL, App() points at the local Redis."""
    monkeypatch.delenv("STREAMQ_URL", raising=False)
    assert App().url == DEFAULT_URL == "redis://localhost:6379/0"


@pytest.mark.parametrize("url", ["http://localhost:6379", "postgres://u:hunter2@db/x",
                                 "localhost:6379", "mem://"])
def test_unsupported_url_scheme(url: str) -> None:
    """An unknown scheme is a ConfigurationError listing the schemes, password hidden."""
    with pytest.raises(ConfigurationError, match="memory://") as caught:
        App(url)
    assert "redis://host:port/db" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_unsupported_scheme_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad $STREAMQ_URL is refused the same way."""
    monkeypatch.setenv("STREAMQ_URL", "amqp://broker")
    with pytest.raises(ConfigurationError, match="unsupported URL"):
        App()


@pytest.mark.parametrize("namespace", ["", "has space", "a:b", "{x}", "x" * 65])
def test_bad_namespace(namespace: str) -> None:
    """A namespace is 1-64 letters, digits, '_', '.' or '-'."""
    with pytest.raises(ConfigurationError, match="letters, digits"):
        App("memory://", namespace=namespace)


# --------------------------------------------------------------------------- tiers


@pytest.mark.parametrize(
    ("tier", "concurrency", "attempts", "backoff", "keep_completed", "keep_failed",
     "max_waiting"),
    [
        ("critical", 2, 5, Backoff.exponential(1.0), 1000, 5000, 10_000),
        ("high", 4, 3, Backoff.exponential(2.0), 500, 2000, 50_000),
        ("standard", 8, 3, Backoff.exponential(5.0), 100, 1000, 100_000),
        ("low", 16, 2, Backoff.fixed(60), 50, 500, 50_000),
    ],
)
def test_default_tiers_table(
    tier: str, concurrency: int, attempts: int, backoff: Backoff, keep_completed: int,
    keep_failed: int, max_waiting: int,
) -> None:
    """The four default tiers carry DESIGN.md's values, a 30 s lease and no timeout."""
    settings = App("memory://").tiers[tier]
    assert settings is DEFAULT_TIERS[tier]
    assert settings.name == tier
    assert settings.concurrency == concurrency
    assert settings.attempts == attempts
    assert settings.backoff.kind == backoff.kind
    assert settings.backoff.base == backoff.base
    assert settings.keep_completed == keep_completed
    assert settings.keep_failed == keep_failed
    assert settings.max_waiting == max_waiting
    assert settings.lease_ms == 30_000
    assert settings.timeout_s is None
    assert settings.rate_limit is None


def test_default_tier_names() -> None:
    """Exactly the four tiers exist by default."""
    assert list(App("memory://").tiers) == ["critical", "high", "standard", "low"]


def test_tier_override_inherits_the_rest() -> None:
    """Tier("high", concurrency=16) changes only high's concurrency."""
    app = App("memory://", tiers=[Tier("high", concurrency=16)])
    high, default = app.tiers["high"], DEFAULT_TIERS["high"]
    assert high.concurrency == 16
    assert high.attempts == default.attempts == 3
    assert high.backoff == default.backoff
    assert (high.keep_completed, high.keep_failed, high.max_waiting) == (500, 2000, 50_000)
    assert high.lease_ms == default.lease_ms
    for name in ("critical", "standard", "low"):
        assert app.tiers[name] is DEFAULT_TIERS[name]


def test_tier_override_every_field() -> None:
    """Every Tier field replaces the default, in the units the code uses."""
    limit = RateLimit(100, per=60)
    app = App("memory://", tiers=[Tier(
        "low", concurrency=3, attempts=9, backoff=Backoff.fixed(1), timeout=12, lease=4.5,
        rate_limit=limit, keep_completed=0, keep_failed=7, max_waiting=0,
    )])
    low = app.tiers["low"]
    assert (low.concurrency, low.attempts, low.backoff) == (3, 9, Backoff.fixed(1))
    assert (low.timeout_s, low.lease_ms, low.rate_limit) == (12.0, 4500, limit)
    assert (low.keep_completed, low.keep_failed, low.max_waiting) == (0, 7, 0)


def test_new_tier_name_starts_from_standard() -> None:
    """A tier name that is not a default inherits standard's values."""
    app = App("memory://", tiers=[Tier("bulk", concurrency=32)])
    bulk, standard = app.tiers["bulk"], DEFAULT_TIERS["standard"]
    assert bulk.name == "bulk"
    assert bulk.concurrency == 32
    assert (bulk.attempts, bulk.backoff) == (standard.attempts, standard.backoff)
    assert (bulk.keep_completed, bulk.keep_failed, bulk.max_waiting) == (100, 1000, 100_000)
    assert len(app.tiers) == 5


async def test_new_tier_is_a_working_queue(make_app: MakeApp) -> None:
    """A new tier gets its own queue, keys and worker like the defaults."""
    app = make_app(tiers=[Tier("bulk")])

    @app.processor("chunk", tier="bulk")
    async def chunk(job: Job) -> int:
        return 1

    job = await app.enqueue("chunk", None)
    assert job.tier == "bulk"
    assert await app.queue("bulk").counts() == {**EMPTY, "waiting": 1}
    assert await app.queue("standard").counts() == EMPTY
    await app.worker("bulk").run(burst=True)
    assert await job.result(timeout=1) == 1


@pytest.mark.parametrize(
    ("options", "phrase"),
    [
        ({"concurrency": 0}, "concurrency"),
        ({"attempts": 0}, "attempts"),
        ({"keep_completed": -1}, "keep_completed"),
        ({"max_waiting": 1.5}, "max_waiting"),
        ({"lease": 0.5}, "at least 1 second"),
        ({"timeout": 0}, "timeout"),
        ({"backoff": 5}, "Backoff.fixed"),
        ({"rate_limit": 100}, "RateLimit(100, per=60)"),
    ],
)
def test_bad_tier_values(options: dict[str, Any], phrase: str) -> None:
    """Tier refuses bad values at construction, saying what is expected."""
    with pytest.raises(ConfigurationError, match=phrase.replace("(", r"\(").replace(")", r"\)")):
        Tier("high", **options)


def test_tiers_takes_tier_objects() -> None:
    """tiers=[...] holds Tier objects only."""
    with pytest.raises(ConfigurationError, match="Tier objects"):
        App("memory://", tiers=[{"name": "high"}])  # type: ignore[list-item]


def test_unknown_tier_for_queue_and_worker() -> None:
    """app.queue / app.worker of an unknown tier name the known tiers and how to add one."""
    app = App("memory://")
    with pytest.raises(ConfigurationError, match="known tiers: critical, high, standard, low"):
        app.queue("urgent")
    with pytest.raises(ConfigurationError, match=r"App\(tiers=\[Tier\('urgent'"):
        app.worker("urgent")


# --------------------------------------------------------------------------- lifecycle


async def test_async_context_manager_connects_and_closes(make_app: MakeApp) -> None:
    """`async with app` connects on entry and closes on exit."""
    app = make_app()
    async with app as entered:
        assert entered is app
        assert app._backend is not None
        await app.queue().enqueue("x", None, job_id="kept")
    assert app._backend is None


async def test_app_is_usable_again_after_aclose(make_app: MakeApp) -> None:
    """After aclose() (or leaving `async with`) the App reconnects on use and sees its jobs."""
    app = make_app()
    async with app:
        await app.queue().enqueue("x", {"v": 1}, job_id="kept")
    info = await app.queue().get_job("kept")
    assert info is not None
    assert info.data == {"v": 1}
    await app.aclose()
    async with app:
        assert await app.queue().counts() == {**EMPTY, "waiting": 1}
    await app.aclose()
    await app.aclose()


@pytest.mark.filterwarnings("ignore::ResourceWarning",
                            "ignore::pytest.PytestUnraisableExceptionWarning")
def test_an_app_is_used_again_from_a_new_event_loop(
    backend_url: str, redis_url: str, namespace: str,
) -> None:
    """asyncio.run() once per call (a sync caller; asgiref's async_to_sync does the same),
    with no aclose() in between: on Redis the second call waited forever for a reply that
    the first loop's connection would never read. Each loop now gets connections of its
    own; memory:// keeps its jobs across loops as before."""
    app = App(backend_url, namespace=namespace)

    async def enqueue(n: int) -> str:
        return (await asyncio.wait_for(app.queue().enqueue("x", n), 5)).id

    async def waiting_then_close() -> int:
        try:
            return (await asyncio.wait_for(app.queue().counts(), 5))["waiting"]
        finally:
            await app.aclose()

    try:
        ids = [asyncio.run(enqueue(n)) for n in range(3)]
        assert len(set(ids)) == 3
        assert asyncio.run(waiting_then_close()) == 3
    finally:
        if backend_url == redis_url:
            asyncio.run(delete_namespace(redis_url, namespace))
        gc.collect()  # the first loops' transports, closed here (ResourceWarning)


@pytest.mark.filterwarnings("ignore::ResourceWarning",
                            "ignore::pytest.PytestUnraisableExceptionWarning")
def test_an_app_in_use_on_a_loop_running_in_another_thread_is_refused(
    redis_url: str, namespace: str,
) -> None:
    """Its connections belong to that loop: a clear error, not a reply that never comes."""
    app = App(redis_url, namespace=namespace)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(app.queue().enqueue("x", None), loop).result(5)
        with pytest.raises(StreamqError, match="one App per event loop"):
            asyncio.run(app.queue().enqueue("x", None))
        asyncio.run_coroutine_threadsafe(app.aclose(), loop).result(5)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
        asyncio.run(delete_namespace(redis_url, namespace))
        gc.collect()


def test_an_app_connecting_on_another_threads_loop_is_refused() -> None:
    """While one thread's loop is still connecting (no backend yet), another thread's loop
    used to skip the check and share its lock and then its connections; it is refused."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts the TCP connection, never answers: the handshake waits
    app = App(f"redis://127.0.0.1:{silent.getsockname()[1]}/0")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        connecting = asyncio.run_coroutine_threadsafe(app.connect(), loop)
        time.sleep(0.2)
        assert not connecting.done()
        with pytest.raises(StreamqError, match="one App per event loop"):
            asyncio.run(app.queue().counts())
        connecting.cancel()
        asyncio.run_coroutine_threadsafe(app.aclose(), loop).result(5)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
        silent.close()


async def test_aclose_without_use_is_harmless() -> None:
    """Closing an App that never connected does nothing."""
    app = App("redis://127.0.0.1:1/0")
    await app.aclose()
    await app.aclose()


# --------------------------------------------------------------------------- processors


async def test_processor_decorator_registers_and_returns_fn(app: App) -> None:
    """@app.processor returns the function unchanged and records name, tier and options."""

    async def fn(job: Job) -> None:
        return None

    assert app.processor("resize", tier="low", attempts=4, timeout=9)(fn) is fn
    registered = app.processors["resize"]
    assert registered.fn is fn
    assert (registered.tier, registered.attempts, registered.timeout) == ("low", 4, 9.0)


async def test_app_enqueue_routes_to_the_processor_tier(app: App) -> None:
    """app.enqueue puts the job in the tier its processor was registered on, with options."""
    app.processor("page", tier="critical")(noop)
    app.processor("digest", tier="low")(noop)
    page = await app.enqueue("page", {"who": "oncall"}, priority=1, job_id="p-1")
    digest = await app.enqueue("digest", None, delay=60)
    assert (page.tier, digest.tier) == ("critical", "low")
    assert await app.queue("critical").counts() == {**EMPTY, "waiting": 1}
    assert await app.queue("low").counts() == {**EMPTY, "delayed": 1}
    for tier in ("high", "standard"):
        assert await app.queue(tier).counts() == EMPTY
    info = await app.queue("critical").get_job("p-1")
    assert info is not None
    assert info.priority == 1
    assert info.attempts == 5
    assert await digest.state() is JobState.DELAYED


async def test_app_enqueue_unknown_name(app: App) -> None:
    """No processor for the name: UnknownJobType, and no tier gets anything."""
    with pytest.raises(UnknownJobType, match=r"register it with @app\.processor"):
        await app.enqueue("ghost", None)
    for tier in app.tiers:
        assert await app.queue(tier).counts() == EMPTY


async def test_producer_needs_no_processor(app: App) -> None:
    """queue.enqueue works for names no processor is registered for."""
    job = await app.queue("high").enqueue("handled_elsewhere", {"a": 1})
    assert await job.state() is JobState.WAITING


def test_processor_must_be_async() -> None:
    """A plain function (or lambda) is refused, showing the async def form."""
    app = App("memory://")

    def sync(job: Job) -> None:
        return None

    with pytest.raises(ConfigurationError, match="async def sync"):
        app.processor("sync")(sync)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="must be an async function"):
        app.processor("lam")(lambda job: None)  # type: ignore[arg-type,return-value]
    assert app.processors == {}


def test_processor_duplicate_name() -> None:
    """Registering a name twice is refused; the first registration stays."""
    app = App("memory://")
    app.processor("dup")(noop)

    async def other(job: Job) -> None:
        return None

    with pytest.raises(ConfigurationError, match="already registered"):
        app.processor("dup", tier="high")(other)
    assert app.processors["dup"].fn is noop
    assert app.processors["dup"].tier == "standard"


def test_processor_unknown_tier() -> None:
    """An unknown tier is refused when the decorator is made, naming the known tiers."""
    app = App("memory://")
    with pytest.raises(ConfigurationError, match="unknown tier 'urgent'"):
        app.processor("x", tier="urgent")
    assert app.processors == {}


class Point(pydantic.BaseModel):
    """A model; an instance of it is not a model class."""

    x: int


@pytest.mark.parametrize("model", [dict, "Point", Point(x=1), int],
                         ids=["dict", "string", "instance", "int"])
def test_processor_bad_model(model: Any) -> None:
    """model= takes a pydantic BaseModel subclass only."""
    with pytest.raises(ConfigurationError, match="BaseModel subclass"):
        App("memory://").processor("x", model=model)


@pytest.mark.parametrize(
    ("options", "phrase"),
    [({"attempts": 0}, "attempts"), ({"timeout": -1}, "timeout"), ({}, "non-empty")],
)
def test_processor_bad_options(options: dict[str, Any], phrase: str) -> None:
    """Bad attempts / timeout / name are refused at registration."""
    name = "" if not options else "x"
    with pytest.raises(ConfigurationError, match=phrase):
        App("memory://").processor(name, **options)


@pytest.mark.parametrize("timeout", [0, 0.0, -0.5, "30", float("nan"), "zero-timedelta"])
def test_processor_timeout_must_be_positive(timeout: Any) -> None:
    """``@app.processor(timeout=0)`` is refused like ``Tier``, ``enqueue`` and schedules
    refuse it; it used to be accepted and silently replaced by the tier's timeout."""
    from datetime import timedelta

    if timeout == "zero-timedelta":
        timeout = timedelta(0)
    app = App("memory://")
    with pytest.raises(ConfigurationError, match="timeout must be"):
        app.processor("x", timeout=timeout)
    assert app.processors == {}
    app.processor("x", timeout=timedelta(milliseconds=1))(_noop_processor)
    assert app.processors["x"].timeout == 0.001


async def _noop_processor(job: Job) -> None:
    """A processor for the registration tests."""


def test_a_tier_named_twice_is_served_once() -> None:
    """`--tier high --tier high` gave two runners sharing one consumer name (twice the
    concurrency, the start-up report saying otherwise)."""
    worker = App("memory://").worker(["high", "high", "low"])
    assert [runner.keys.tier for runner in worker.runners] == ["high", "low"]


def test_a_processor_name_is_checked_as_enqueue_checks_it() -> None:
    """A name enqueue would refuse (a lone surrogate) was registered; the job could then
    never be enqueued."""
    app = App("memory://")
    with pytest.raises(ConfigurationError, match="valid Unicode"):
        app.processor("send\ud800")
    with pytest.raises(ConfigurationError, match="non-empty string"):
        app.processor("")
