"""``App``: the composition root. One client, one set of scripts, the tiers and processors."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import structlog

from streamq import codec
from streamq.broker.backend import Backend
from streamq.broker.connection import (
    check_server,
    open_connection,
    redact,
    resolve_url,
    translate_errors,
)
from streamq.broker.keys import QueueKeys
from streamq.broker.scripts import Scripts
from streamq.config import Tier, TierSettings, check_name, resolve_tiers
from streamq.errors import ConfigurationError, StreamqError, UnknownJobType
from streamq.hooks import (
    AfterJobHook,
    BeforeJobHook,
    Hooks,
    LifecycleHook,
    SoftTimeoutHook,
    add_hook,
)
from streamq.job import Job
from streamq.processor import Processor, ProcessorFn, RateKeyFn, check_processor_fn
from streamq.queue import Queue
from streamq.scheduling.backoff import Backoff
from streamq.timeunits import Duration, timeout_seconds

if TYPE_CHECKING:
    import pydantic

    from streamq.scheduling.schedule import ScheduleInfo
    from streamq.worker.worker import Worker

log = structlog.get_logger("streamq")

DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024


class App:
    """The entry point: ``App(url)`` with ``redis://``, ``rediss://``, ``unix://`` or
    ``memory://`` (embedded fakeredis, same scripts). No url reads ``STREAMQ_URL``.

    Nothing connects until first use; use ``async with App(...) as app`` or call
    ``await app.aclose()`` when done.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        tiers: list[Tier] | tuple[Tier, ...] | None = None,
        namespace: str = "sq",
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = resolve_url(url)
        self.namespace = check_name(namespace, "namespace")
        self.tiers: dict[str, TierSettings] = resolve_tiers(tiers)
        if not isinstance(max_payload_bytes, int) or max_payload_bytes < 1:
            raise ConfigurationError("max_payload_bytes must be a positive integer")
        self.max_payload_bytes = max_payload_bytes
        self.processors: dict[str, Processor] = {}
        self.hooks = Hooks()
        self._clock = clock
        self._queues: dict[str, Queue] = {}
        self._backend: Backend | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        """The event loop the backend's connections belong to."""
        self._backend_left_behind = False
        self._loop_change = threading.Lock()
        self._lock: asyncio.Lock | None = None
        self._memory_server: Any = None  # kept across aclose(): memory:// jobs survive it

    def __repr__(self) -> str:
        return f"<App {redact(self.url)} tiers={list(self.tiers)}>"

    def using(
        self, url: str, *, clock: Callable[[], float] | None = None,
        namespace: str | None = None,
    ) -> App:
        """A new App with these tiers, processors and limits, on ``url`` (e.g. ``memory://``),
        in ``namespace`` if given (else this App's)."""
        copy = App(url, namespace=self.namespace if namespace is None else namespace,
                   max_payload_bytes=self.max_payload_bytes, clock=clock or self._clock)
        copy.tiers = dict(self.tiers)
        copy.processors = dict(self.processors)
        copy.hooks = self.hooks.copy()
        return copy

    def now_ms(self) -> int:
        """The App's clock, in integer ms since the epoch (injectable for tests)."""
        return int(self._clock() * 1000)

    # ----------------------------------------------------------------- registry

    def processor(
        self,
        name: str,
        *,
        tier: str = "standard",
        model: type[pydantic.BaseModel] | None = None,
        attempts: int | None = None,
        backoff: Backoff | None = None,
        timeout: Duration | None = None,
        rate_key: RateKeyFn | None = None,
    ) -> Callable[[ProcessorFn], ProcessorFn]:
        """Register an ``async def fn(job)`` to run jobs called ``name`` on ``tier``.

        ``rate_key``: a function of the job's data giving its rate key (e.g.
        ``lambda data: data["tenant"]``) for the tier's ``rate_limit_per_key``.
        """
        codec.check_job_name(name)
        self._settings(tier)
        if model is not None:
            import pydantic  # only apps with models pay for importing it

            if not (isinstance(model, type) and issubclass(model, pydantic.BaseModel)):
                raise ConfigurationError("model= takes a pydantic BaseModel subclass")
        if attempts is not None and (type(attempts) is not int or attempts < 1):
            raise ConfigurationError(f"attempts must be an integer >= 1, got {attempts!r}")
        if backoff is not None and not isinstance(backoff, Backoff):
            raise ConfigurationError(
                "backoff must be a Backoff, e.g. Backoff.fixed(60) or Backoff.custom(fn)")
        timeout_s = timeout_seconds(timeout)
        if rate_key is not None and not callable(rate_key):
            raise ConfigurationError("rate_key= takes a function of the job's data")

        def register(fn: ProcessorFn) -> ProcessorFn:
            check_processor_fn(fn, name)
            if name in self.processors:
                raise ConfigurationError(f"a processor named {name!r} is already registered")
            self.processors[name] = Processor(name, fn, tier, model, attempts, backoff, timeout_s,
                                              rate_key=rate_key)
            return fn

        return register

    def _settings(self, tier: str) -> TierSettings:
        try:
            return self.tiers[tier]
        except KeyError:
            raise ConfigurationError(
                f"unknown tier {tier!r}; known tiers: {', '.join(self.tiers)}. "
                f"Add it with App(tiers=[Tier({tier!r}, ...)])"
            ) from None

    def queue(self, tier: str = "standard") -> Queue:
        """The producer and inspection side of ``tier``."""
        queue = self._queues.get(tier)
        if queue is None:
            queue = self._queues[tier] = Queue(self, self._settings(tier))
        return queue

    async def enqueue(self, name: str, data: Any = None, **options: Any) -> Job:
        """Enqueue into the tier of the processor registered for ``name``."""
        processor = self.processors.get(name)
        if processor is None:
            raise UnknownJobType(
                f"no processor registered for {name!r} in this App, so its tier is unknown: "
                "register it with @app.processor, or use app.queue(tier).enqueue(...)"
            )
        return await self.queue(processor.tier).enqueue(name, data, **options)

    def worker(
        self,
        tier: str | list[str] = "standard",
        concurrency: int | None = None,
        *,
        max_jobs: int | None = None,
        max_lifetime: Duration | None = None,
        max_memory: int | None = None,
    ) -> Worker:
        """A worker for ``tier``; ``concurrency`` overrides the tier's.

        ``max_jobs``, ``max_lifetime`` (seconds or timedelta) and ``max_memory`` (RSS bytes)
        recycle it: once one is reached it stops gracefully (stops claiming, lets running
        jobs finish) and ``run()`` returns.
        """
        from streamq.worker.recycle import Limits
        from streamq.worker.worker import Worker

        tiers = [tier] if isinstance(tier, str) else list(dict.fromkeys(tier))  # once each
        limits = Limits.of(max_jobs, max_lifetime, max_memory)
        return Worker(self, [self._settings(t) for t in tiers], concurrency, limits)

    # ----------------------------------------------------------------- hooks

    def on_startup(self, fn: LifecycleHook) -> LifecycleHook:
        """Register ``async def fn()`` to run when a worker starts, before it claims a job
        (open your clients here). If it raises, the worker does not start (``HookFailed``)."""
        return add_hook(self.hooks.startup, fn, "on_startup", 0)

    def on_shutdown(self, fn: LifecycleHook) -> LifecycleHook:
        """Register ``async def fn()`` to run when a worker has stopped (close your clients).
        Errors are logged; the other shutdown hooks still run."""
        return add_hook(self.hooks.shutdown, fn, "on_shutdown", 0)

    def before_job(self, fn: BeforeJobHook) -> BeforeJobHook:
        """Register ``async def fn(job)`` to run before each attempt, in the job's own task
        (context variables it sets, e.g. structlog's, are seen by the processor). If it
        raises, the attempt fails with an error naming the hook."""
        return add_hook(self.hooks.before_job, fn, "before_job", 1)

    def after_job(self, fn: AfterJobHook) -> AfterJobHook:
        """Register ``async def fn(job, outcome)`` to run after each attempt (``outcome`` is a
        :class:`~streamq.hooks.JobOutcome`). If it raises, the attempt fails."""
        return add_hook(self.hooks.after_job, fn, "after_job", 2)

    def on_soft_timeout(self, fn: SoftTimeoutHook) -> SoftTimeoutHook:
        """Register ``async def fn(job, timeout)``, called when a job with a timeout has run
        for 80 % of it (in a task of its own: the job keeps running; errors are logged)."""
        return add_hook(self.hooks.soft_timeout, fn, "on_soft_timeout", 2)

    # ----------------------------------------------------------------- schedules

    async def schedule(
        self, name: str, *, cron: str | None = None, every: Duration | None = None,
        tz: str | None = None, data: Any = None, key: str | None = None,
        tier: str | None = None, misfire: str = "skip", jitter: Duration = 0,
        priority: int = 0, attempts: int | None = None, timeout: Duration | None = None,
    ) -> ScheduleInfo:
        """Enqueue ``name`` once per tick of ``cron`` (in ``tz``, default UTC) or ``every``
        interval (seconds or timedelta), fired by whichever worker serves the tier, exactly
        once per tick. ``key`` (default ``name``) names the schedule: calling again with the
        same key updates it. ``tier`` defaults to the processor's. ``misfire``: ``"skip"``
        ticks missed while no worker ran, or ``"run_once"`` for the latest. ``jitter``:
        delay each job by up to that many seconds. Invalid options raise before anything is
        written. See docs/scheduling.md.
        """
        from streamq import schedules as schedule_ops

        with translate_errors(self.url):
            return await schedule_ops.schedule(
                self, name, cron=cron, every=every, tz=tz, data=data, key=key, tier=tier,
                misfire=misfire, jitter=jitter, priority=priority, attempts=attempts,
                timeout=timeout)

    async def schedules(self, tier: str | None = None) -> list[ScheduleInfo]:
        """Every schedule (of ``tier``, or of every tier this App knows), sorted by key."""
        from streamq import schedules as schedule_ops

        with translate_errors(self.url):
            return await schedule_ops.schedules(self, tier)

    async def unschedule(self, key: str) -> None:
        """Delete the schedule ``key`` (raises ``ScheduleNotFound``); its jobs stay."""
        from streamq import schedules as schedule_ops

        with translate_errors(self.url):
            await schedule_ops.unschedule(self, key)

    async def pause_schedule(self, key: str) -> bool:
        """Stop firing ``key`` until resumed; returns False if it was already paused."""
        from streamq import schedules as schedule_ops

        with translate_errors(self.url):
            return await schedule_ops.set_paused(self, key, True)

    async def resume_schedule(self, key: str) -> bool:
        """Fire ``key`` again from its next tick (ticks passed while paused do not run)."""
        from streamq import schedules as schedule_ops

        with translate_errors(self.url):
            return await schedule_ops.set_paused(self, key, False)

    # ----------------------------------------------------------------- connection

    async def backend(self, keys: QueueKeys | None = None) -> Backend:
        """The connected backend, connecting (and preparing ``keys``'s queue) on first use."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._use_loop(loop)
        backend = self._backend
        if backend is not None and (keys is None or keys.tier in backend.prepared):
            return backend
        assert self._lock is not None
        async with self._lock:
            if self._backend is None:
                self._backend = await self._connect()
            backend = self._backend
            if keys is not None and keys.tier not in backend.prepared:
                await backend.scripts.prepare(keys, self.now_ms())
                backend.prepared.add(keys.tier)
        return backend

    def _use_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Make ``loop`` the App's, before it connects there: its first use, after
        ``aclose()``, or ``asyncio.run`` called again, as asgiref's ``async_to_sync`` does
        for each call. A backend left on an old loop cannot serve this one (a reply would
        wait for a loop that no longer runs): it is dropped, its sockets closed as that
        loop's objects are collected (a ResourceWarning under ``-W default``), and a new one
        connects. While another thread's loop has the App (running, or connecting), it is
        refused instead."""
        with self._loop_change:
            if self._loop is loop:
                return
            if self._loop is not None and self._loop.is_running():
                raise StreamqError(
                    "this App is in use on another event loop (in another thread), which owns "
                    "its Redis connections: use one App per event loop (app.using(app.url) "
                    "makes one with the same tiers, processors and hooks)")
            if self._backend is not None and not self._backend_left_behind:
                self._backend_left_behind = True
                log.info("App used on a new event loop: connecting again. Its connections on "
                         "the old loop were not closed; `await app.aclose()` (or `async with "
                         "app:`) before a loop ends closes them", url=redact(self.url))
            self._backend = None
            self._loop, self._lock = loop, asyncio.Lock()

    async def _connect(self) -> Backend:
        connection = open_connection(self.url, self._memory_server)
        self._memory_server = connection.server
        try:
            await check_server(connection)
            scripts = Scripts(connection)
            await scripts.load()
        except BaseException:
            await connection.aclose()
            raise
        return Backend(connection, scripts)

    async def connect(self) -> None:
        """Connect now and check the server, instead of on first use."""
        await self.backend()

    async def aclose(self) -> None:
        """Close the connection. The App can be used again afterwards (it reconnects), on
        this event loop or another."""
        backend, self._backend, self._lock, self._loop = self._backend, None, None, None
        if backend is not None:
            await backend.aclose()

    async def __aenter__(self) -> App:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
