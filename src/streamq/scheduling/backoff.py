"""Retry backoff policies: how long a failed attempt waits before the next one."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Literal

from streamq.errors import ConfigurationError
from streamq.timeunits import Duration, to_seconds


@dataclass(frozen=True, slots=True)
class Backoff:
    """A retry delay policy. Build one with :meth:`fixed` or :meth:`exponential`.

    ``delay(attempt)`` gives the wait after the failed attempt number ``attempt`` (1-based).
    ``jitter`` (0..1) spreads retries: the delay is scaled by a random factor in
    ``[1 - jitter, 1]`` so that many jobs failing together do not retry together.
    """

    kind: Literal["fixed", "exponential"]
    base: float
    cap: float | None = None
    jitter: float = 0.0

    def __post_init__(self) -> None:
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

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based)."""
        seconds = self.base if self.kind == "fixed" else self.base * 2.0 ** max(attempt - 1, 0)
        if self.cap is not None:
            seconds = min(seconds, self.cap)
        if self.jitter:
            seconds *= 1.0 - self.jitter * random.random()
        return seconds

    def to_json(self) -> dict[str, Any]:
        """A plain-JSON form, stored on a job whose enqueue overrode the backoff."""
        return {"kind": self.kind, "base": self.base, "cap": self.cap, "jitter": self.jitter}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Backoff:
        """The inverse of :meth:`to_json`."""
        return cls(value["kind"], value["base"], value.get("cap"), value.get("jitter", 0.0))
