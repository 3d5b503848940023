"""``Schedule``: one cron or interval schedule as a value, and what to do when its tick is
due (the misfire policy). Pure: no I/O; the broker stores the JSON, the worker fires it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from streamq import codec
from streamq.config import PRIORITIES, check_name
from streamq.errors import ConfigurationError
from streamq.scheduling import cron
from streamq.timeunits import Duration, timeout_seconds, to_ms

Misfire = Literal["skip", "run_once"]
MISFIRE_POLICIES = ("skip", "run_once")
MAX_KEY_LENGTH = 200
FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Schedule:
    """A schedule's definition: what to enqueue, where, and when (cron in ``tz``, or every
    ``every_ms``). ``paused`` is state, not definition: it is not part of the JSON."""

    key: str
    name: str
    tier: str
    cron: str | None
    every_ms: int | None
    tz: str
    data: Any
    misfire: Misfire = "skip"
    jitter_ms: int = 0
    priority: int = 0
    attempts: int | None = None
    timeout_s: float | None = None
    paused: bool = False

    def to_json(self) -> str:
        """The stored definition: canonical JSON, so equal definitions give equal text."""
        fields = {
            "v": FORMAT_VERSION, "key": self.key, "name": self.name, "tier": self.tier,
            "cron": self.cron, "every_ms": self.every_ms, "tz": self.tz, "data": self.data,
            "misfire": self.misfire, "jitter_ms": self.jitter_ms, "priority": self.priority,
            "attempts": self.attempts, "timeout_s": self.timeout_s,
        }
        return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False)

    @classmethod
    def from_json(cls, text: str, paused: bool = False) -> Schedule:
        """A definition stored by :meth:`to_json`, checked as :func:`build` checks a new one:
        ``ValueError``, ``KeyError`` or ``TypeError`` if this version cannot use it (written
        by another version, or damaged), so that no worker fails on it at its tick."""
        d = codec.decode(text)
        if not isinstance(d, dict) or d.get("v") != FORMAT_VERSION:
            raise ValueError(f"not a version {FORMAT_VERSION} schedule definition")
        return _checked(key=d["key"], name=d["name"], tier=d["tier"], cron_expr=d["cron"],
                        every_ms=d["every_ms"], tz=d["tz"], data=d["data"],
                        misfire=d["misfire"], jitter_ms=d["jitter_ms"],
                        priority=d["priority"], attempts=d["attempts"],
                        timeout_s=d["timeout_s"], paused=paused)

    @property
    def timing(self) -> tuple[str | None, int | None, str]:
        """What decides the ticks: an update that keeps it keeps the pending tick."""
        return self.cron, self.every_ms, self.tz

    def next_after(self, after_ms: int) -> int | None:
        """The first tick strictly after ``after_ms`` (None: the cron never fires again)."""
        if self.every_ms is not None:
            return cron.next_interval_tick(self.every_ms, after_ms)
        assert self.cron is not None
        return cron.next_cron_tick(self.cron, cron.check_tz(self.tz), after_ms)

    def previous_before(self, before_ms: int) -> int | None:
        """The last tick strictly before ``before_ms``."""
        if self.every_ms is not None:
            return (before_ms - 1) // self.every_ms * self.every_ms
        assert self.cron is not None
        return cron.previous_cron_tick(self.cron, cron.check_tz(self.tz), before_ms)

    def job_id(self, tick_ms: int) -> str:
        """The id of the job enqueued for ``tick_ms``: the same in every worker."""
        return f"sched:{self.key}:{tick_ms}"

    def due_ms(self, tick_ms: int) -> int:
        """When the job of ``tick_ms`` may start: the tick plus a jitter in
        ``[0, jitter_ms]``, derived from key and tick so every worker picks the same."""
        if self.jitter_ms <= 0:
            return tick_ms
        digest = hashlib.blake2b(f"{self.key}:{tick_ms}".encode(), digest_size=8).digest()
        return tick_ms + int.from_bytes(digest, "big") % (self.jitter_ms + 1)

    def job_opts(self) -> str:
        """The job's per-enqueue overrides, as enqueue stores them (``""`` for none)."""
        return codec.encode({"timeout": self.timeout_s}) if self.timeout_s is not None else ""


@dataclass(frozen=True, slots=True)
class Fire:
    """What to do with a due tick: enqueue the job of ``tick_ms`` (None: nothing), and move
    the schedule to ``next_ms`` (None: it never fires again)."""

    tick_ms: int | None
    next_ms: int | None


def plan(schedule: Schedule, tick_ms: int, now_ms: int, grace_ms: int) -> Fire:
    """Apply the misfire policy to the schedule's pending tick ``tick_ms`` (due: <= now).

    A tick at most ``grace_ms`` old is on time and fires. An older one was missed (no worker
    ran): if a later tick is within the grace, that one fires instead; otherwise ``"skip"``
    enqueues nothing and ``"run_once"`` enqueues the latest missed tick once. Either way the
    schedule moves to its next tick after now.
    """
    if tick_ms >= now_ms - grace_ms:
        return Fire(tick_ms, schedule.next_after(tick_ms))
    recent = schedule.next_after(now_ms - grace_ms - 1)
    if recent is not None and recent <= now_ms:
        return Fire(recent, schedule.next_after(recent))
    if schedule.misfire == "skip":
        return Fire(None, recent)
    latest = schedule.previous_before(recent if recent is not None else now_ms + 1)
    return Fire(max(tick_ms, latest or tick_ms), recent)


def build(
    *, key: str, name: str, tier: str, cron_expr: str | None, every: Duration | None,
    tz: str | None, data_json: str, misfire: str, jitter: Duration, priority: int,
    attempts: int | None, timeout: Duration | None,
) -> Schedule:
    """Validate a schedule's options (``data_json`` already checked) and build it."""
    if every is not None and tz is not None:
        raise ConfigurationError("tz applies to cron= only: every= ticks are absolute "
                                 "(multiples of the interval since the epoch)")
    return _checked(
        key=key, name=name, tier=tier, cron_expr=cron_expr,
        every_ms=None if every is None else cron.check_every(every), tz=tz or "UTC",
        data=codec.decode(data_json), misfire=misfire, jitter_ms=to_ms(jitter, "jitter"),
        priority=priority, attempts=attempts,
        timeout_s=timeout_seconds(timeout))


def _checked(
    *, key: str, name: str, tier: str, cron_expr: str | None, every_ms: int | None, tz: str,
    data: Any, misfire: str, jitter_ms: int, priority: int, attempts: int | None,
    timeout_s: float | None, paused: bool = False,
) -> Schedule:
    """The schedule, once every field is checked (``ConfigurationError`` names the first
    that is wrong)."""
    codec.check_job_name(name)
    check_name(tier, "tier")
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ConfigurationError(
            f"schedule key must be a printable string of 1-{MAX_KEY_LENGTH} characters, "
            f"got {key!r}")
    if (cron_expr is None) == (every_ms is None):
        raise ConfigurationError("give exactly one of cron='0 2 * * *' or every=seconds")
    if every_ms is not None and (type(every_ms) is not int or every_ms < 1):
        raise ConfigurationError(f"every must be at least 1 ms, got {every_ms!r} ms")
    expr = None if cron_expr is None else cron.check_cron(cron_expr)
    zone = cron.check_tz(tz).key
    if misfire not in MISFIRE_POLICIES:
        raise ConfigurationError(f"misfire must be 'skip' or 'run_once', got {misfire!r}")
    if type(jitter_ms) is not int or jitter_ms < 0:
        raise ConfigurationError(f"jitter must be a duration >= 0, got {jitter_ms!r} ms")
    if type(priority) is not int or priority not in PRIORITIES:
        raise ConfigurationError(f"priority must be an integer from 0 to 9, got {priority!r}")
    if attempts is not None and (type(attempts) is not int or attempts < 1):
        raise ConfigurationError(f"attempts must be an integer >= 1, got {attempts!r}")
    timeout_s = timeout_seconds(timeout_s)
    return Schedule(
        key=key, name=name, tier=tier, cron=expr, every_ms=every_ms, tz=zone, data=data,
        misfire="skip" if misfire == "skip" else "run_once", jitter_ms=jitter_ms,
        priority=priority, attempts=attempts, timeout_s=timeout_s, paused=paused)


@dataclass(frozen=True, slots=True)
class ScheduleInfo:
    """A schedule as ``app.schedules()`` lists it. ``next_run`` is an aware datetime in the
    schedule's time zone (None while paused, or when a cron never fires again)."""

    key: str
    name: str
    tier: str
    cron: str | None
    every: timedelta | None
    tz: str
    data: Any
    misfire: str
    jitter: float
    priority: int
    attempts: int | None
    timeout: float | None
    paused: bool
    next_run: datetime | None

    @classmethod
    def of(cls, schedule: Schedule, next_ms: int | None) -> ScheduleInfo:
        """Build from a definition and its pending tick."""
        every = None if schedule.every_ms is None else timedelta(milliseconds=schedule.every_ms)
        when = (None if next_ms is None or schedule.paused
                else cron.as_datetime(next_ms, cron.check_tz(schedule.tz)))
        return cls(schedule.key, schedule.name, schedule.tier, schedule.cron, every,
                   schedule.tz, schedule.data, schedule.misfire, schedule.jitter_ms / 1000,
                   schedule.priority, schedule.attempts, schedule.timeout_s, schedule.paused,
                   when)
