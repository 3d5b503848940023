"""Retry backoff policies: how long a failed attempt waits before the next one."""

from __future__ import annotations

import inspect
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from streamq.errors import ConfigurationError
from streamq.timeunits import MAX_SECONDS, Duration, to_seconds

BackoffFn = Callable[[int], float | int | timedelta]
"""A custom policy: the failed attempt's number (1-based) → seconds (or a timedelta)."""

MAX_DOUBLINGS = 64
"""Exponential backoff stops doubling here (2**64 x base is beyond any cap already)."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """A retry delay policy. Build one with :meth:`fixed`, :meth:`exponential` or
    :meth:`custom`.

    ``delay(attempt)`` gives the wait after the failed attempt number ``attempt`` (1-based).
    ``jitter`` (0..1) spreads retries: the delay is scaled by a random factor in
    ``[1 - jitter, 1]`` so that many jobs failing together do not retry together.
    """

    kind: Literal["fixed", "exponential", "custom"]
    base: float
    cap: float | None = None
    jitter: float = 0.0
    fn: BackoffFn | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("fixed", "exponential", "custom"):
            raise ConfigurationError(
                f"unknown backoff kind {self.kind!r}: build one with Backoff.fixed(...), "
                "Backoff.exponential(...) or Backoff.custom(fn)")
        if (self.kind == "custom") != (self.fn is not None):
            raise ConfigurationError("only Backoff.custom(fn) takes a function")
        if not self.base >= 0:  # also rejects NaN
            raise ConfigurationError(f"backoff delay must be >= 0 seconds, got {self.base!r}")
        if self.cap is not None and not self.cap >= 0:
            raise ConfigurationError(f"backoff cap must be >= 0 seconds, got {self.cap!r}")
        if not 0 <= self.jitter <= 1:
            raise ConfigurationError(f"backoff jitter must be between 0 and 1, got {self.jitter!r}")

    @classmethod
    def fixed(cls, delay: Duration, *, jitter: float = 0.0) -> Backoff:
        """The same delay before every retry."""
        return cls("fixed", to_seconds(delay, "backoff delay"), None, jitter)

    @classmethod
    def exponential(
        cls, base: Duration, *, cap: Duration | None = 3600.0, jitter: float = 0.0
    ) -> Backoff:
        """``base``, then twice as long after each failure, never longer than ``cap``."""
        cap_s = None if cap is None else to_seconds(cap, "backoff cap")
        return cls("exponential", to_seconds(base, "backoff base"), cap_s, jitter)

    @classmethod
    def custom(cls, fn: BackoffFn) -> Backoff:
        """Your own policy: ``fn(attempt)`` returns the seconds (float or timedelta) to wait
        after failed attempt number ``attempt`` (1-based).

        ``fn`` must be a quick, plain (not ``async``) function: the worker calls it on its
        event loop. A custom backoff lives in code, so it goes on ``@app.processor(...)`` or
        ``Tier(...)``; an enqueue call cannot store it with the job. If ``fn`` raises or
        returns something that is not a duration, the worker records that on the job and
        falls back to the tier's backoff for that retry (docs/retries.md).
        """
        if not callable(fn) or isinstance(fn, Backoff):
            raise ConfigurationError(
                "Backoff.custom takes a function: Backoff.custom(lambda attempt: 2 * attempt)")
        if inspect.iscoroutinefunction(fn):
            raise ConfigurationError(
                "Backoff.custom takes a plain function, not an async one: it must return the "
                "seconds at once")
        return cls("custom", 0.0, None, 0.0, fn)

    @property
    def storable(self) -> bool:
        """Whether the policy can be stored with a job (everything but ``custom``)."""
        return self.kind != "custom"

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based).

        For a custom policy, raises whatever ``fn`` raises, and ``ConfigurationError`` if it
        returns something that is not a duration of at most ``MAX_SECONDS``.
        """
        if self.fn is not None:
            return _custom_seconds(self.fn, attempt)
        if self.kind == "fixed":
            seconds = self.base
        else:
            seconds = self.base * 2.0 ** min(max(attempt - 1, 0), MAX_DOUBLINGS)
        if self.cap is not None:
            seconds = min(seconds, self.cap)
        if self.jitter:
            seconds *= 1.0 - self.jitter * random.random()
        return min(seconds, MAX_SECONDS)

    def to_json(self) -> dict[str, Any]:
        """A plain-JSON form, stored on a job whose enqueue overrode the backoff."""
        if self.fn is not None:
            raise ConfigurationError(
                "a custom backoff cannot be stored with a job: pass it to "
                "@app.processor(..., backoff=...) or Tier(..., backoff=...) instead of enqueue")
        return {"kind": self.kind, "base": self.base, "cap": self.cap, "jitter": self.jitter}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Backoff:
        """The inverse of :meth:`to_json`."""
        return cls(value["kind"], value["base"], value.get("cap"), value.get("jitter", 0.0))


def _custom_seconds(fn: BackoffFn, attempt: int) -> float:
    value = fn(attempt)
    return to_seconds(value, f"custom backoff returned {value!r} for attempt {attempt}: its value")


def first_delay(policies: Sequence[Backoff], attempt: int) -> tuple[float, Backoff, list[str]]:
    """The delay after failed attempt ``attempt`` from the first of ``policies`` that gives a
    valid one (else :data:`FALLBACK`): seconds, the policy used, and what went wrong with
    each policy tried before it (only custom policies can go wrong)."""
    problems: list[str] = []
    for policy in policies:
        try:
            return policy.delay(attempt), policy, problems
        except Exception as exc:  # a user's function: anything may come out of it
            problems.append(f"{describe(policy)} failed for attempt {attempt}: "
                            f"{type(exc).__name__}: {exc}")
    return FALLBACK.delay(attempt), FALLBACK, problems


def describe(policy: Backoff) -> str:
    """A short name for ``policy`` in messages."""
    if policy.fn is None:
        return f"backoff {policy.kind}({policy.base:g} s)"
    name = getattr(policy.fn, "__qualname__", None) or repr(policy.fn)
    return f"custom backoff {name}"


FALLBACK = Backoff.exponential(5.0)
"""Used when every configured policy failed: the ``standard`` tier's default."""
