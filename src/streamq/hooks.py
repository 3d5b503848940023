"""Application hooks: code of yours that runs around a worker and around each job.

Register them on the App (they are stored here)::

    @app.on_startup
    async def open_clients() -> None: ...          # once per Worker.run, before any job

    @app.on_shutdown
    async def close_clients() -> None: ...         # once per Worker.run, after the last job

    @app.before_job
    async def bind(job: Job) -> None:              # before each attempt, in the job's task:
        structlog.contextvars.bind_contextvars(tenant=job.data["tenant"])

    @app.after_job
    async def record(job: Job, outcome: JobOutcome) -> None: ...

    @app.on_soft_timeout
    async def near_timeout(job: Job, timeout: float) -> None: ...   # at 80 % of the timeout

Hooks cost nothing when none is registered: the worker checks each list once per job.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from streamq.errors import ConfigurationError

if TYPE_CHECKING:
    from streamq.job import Job

LifecycleHook = Callable[[], Awaitable[None]]
BeforeJobHook = Callable[["Job"], Awaitable[None]]
AfterJobHook = Callable[["Job", "JobOutcome"], Awaitable[None]]
SoftTimeoutHook = Callable[["Job", float], Awaitable[None]]
HookT = TypeVar("HookT", bound=Callable[..., Awaitable[Any]])


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """How an attempt ended, as ``@app.after_job`` hooks see it.

    ``status`` is ``"completed"`` (``result`` holds the processor's return value),
    ``"retrying"`` (the attempt failed and the job runs again after ``retry_in`` seconds) or
    ``"failed"`` (no more attempts: the job goes to the dead letters). ``error`` says why an
    attempt failed; ``duration`` is the attempt's run time in seconds, hooks included.
    """

    status: Literal["completed", "retrying", "failed"]
    duration: float
    result: Any = None
    error: str | None = None
    retry_in: float | None = None


@dataclass(slots=True)
class Hooks:
    """The hooks registered on one App, in registration order."""

    startup: list[LifecycleHook] = field(default_factory=list)
    shutdown: list[LifecycleHook] = field(default_factory=list)
    before_job: list[BeforeJobHook] = field(default_factory=list)
    after_job: list[AfterJobHook] = field(default_factory=list)
    soft_timeout: list[SoftTimeoutHook] = field(default_factory=list)

    @property
    def around_job(self) -> bool:
        """Whether any hook runs around each attempt."""
        return bool(self.before_job or self.after_job)

    def copy(self) -> Hooks:
        """An independent copy (for ``App.using``)."""
        return Hooks(list(self.startup), list(self.shutdown), list(self.before_job),
                     list(self.after_job), list(self.soft_timeout))


def add_hook(hooks: list[HookT], fn: HookT, kind: str, params: int) -> HookT:
    """Check that ``fn`` is an ``async def`` taking ``params`` arguments, and append it."""
    if not _is_async(fn):
        raise ConfigurationError(
            f"@app.{kind} takes an async function: `async def {getattr(fn, '__name__', 'fn')}"
            f"({_signature(kind)}): ...`")
    try:
        inspect.signature(fn).bind(*range(params))
    except TypeError:
        raise ConfigurationError(
            f"@app.{kind} hook {hook_name(fn)} must take {params} argument(s): "
            f"`async def {getattr(fn, '__name__', 'fn')}({_signature(kind)}): ...`") from None
    except ValueError:  # no signature available (some builtins): trust the caller
        pass
    hooks.append(fn)
    return fn


def _is_async(fn: object) -> bool:
    return inspect.iscoroutinefunction(fn)


def _signature(kind: str) -> str:
    return {"before_job": "job", "after_job": "job, outcome",
            "on_soft_timeout": "job, timeout"}.get(kind, "")


def hook_name(fn: Callable[..., Any]) -> str:
    """``module.qualname`` of a hook, for messages."""
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
