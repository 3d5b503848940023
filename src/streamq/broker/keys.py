"""Every Redis key of one queue, built in one place.

All keys of a queue share the hash tag ``{tier}`` so the queue lives in one Redis Cluster
slot and every script touches one slot. Per-job keys are built inside Lua from the
``job_prefix`` / ``logs_prefix``, which carry the same tag.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from streamq.config import PRIORITIES

GROUP = "workers"
"""The one consumer group of every ready stream."""


@dataclass(frozen=True, slots=True)
class QueueKeys:
    """Keys of the queue ``tier`` in ``namespace``: ``<namespace>:{<tier>}:<part>``."""

    namespace: str
    tier: str
    base: str = field(init=False)
    meta: str = field(init=False)
    delayed: str = field(init=False)
    completed: str = field(init=False)
    failed: str = field(init=False)
    index: str = field(init=False)
    events: str = field(init=False)
    job_prefix: str = field(init=False)
    logs_prefix: str = field(init=False)
    ready: tuple[str, ...] = field(init=False)
    rate: str = field(init=False)
    schedules: str = field(init=False)
    ticks: str = field(init=False)

    def __post_init__(self) -> None:
        base = f"{self.namespace}:{{{self.tier}}}:"
        values = {
            "base": base,
            "meta": base + "meta",
            "delayed": base + "delayed",
            "completed": base + "completed",
            "failed": base + "failed",
            "index": base + "index",
            "events": base + "events",
            "job_prefix": base + "job:",
            "logs_prefix": base + "logs:",
            "ready": tuple(f"{base}ready:{p}" for p in PRIORITIES),
            "rate": base + "rate",
            "schedules": base + "schedules",
            "ticks": base + "ticks",
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def job(self, job_id: str) -> str:
        """The hash holding one job."""
        return self.job_prefix + job_id

    def logs(self, job_id: str) -> str:
        """The list holding one job's log lines."""
        return self.logs_prefix + job_id

    def removed(self, job_id: str) -> str:
        """The short-lived record of one job's removal (``remove.lua``)."""
        return self.base + "removed:" + job_id

    def finished(self, state: str) -> str:
        """The retention set for ``"completed"`` or ``"failed"``."""
        return self.completed if state == "completed" else self.failed
