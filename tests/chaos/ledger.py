"""The chaos suite's ledger: what happened, recorded outside the Redis under test, and the
check of what Redis says at the end against it.

Three sources feed it:

- the producer records each enqueue it *tried* and each one that was *acknowledged*
  (``enqueue`` returned), with the time (:class:`Enqueues`);
- each processor appends ``START`` and ``EFFECT`` lines to a file of its own process, opened
  with ``O_APPEND`` and written with one ``write(2)`` per line, so a SIGKILL never tears a
  line (:class:`LedgerWriter`);
- at the end the test reads the finished jobs from Redis (completed ids, dead-letter ids,
  entries left in the pending lists) into a :class:`RedisView`.

:func:`check` then requires: every acknowledged enqueue completed or is a dead letter
(unless the scenario excused it, e.g. acknowledged before a Redis without persistence
crashed); nothing completed or ran that was never enqueued; no job both completed and dead;
every completed job's effect recorded; pending lists empty. Jobs whose effect ran more than
once (duplicates) and processors started again (re-executions) are counted, not failed:
delivery is at least once.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

START = "S"
"""A processor started an attempt."""
EFFECT = "E"
"""A processor finished its work (its side effect happened)."""


class LedgerWriter:
    """Appends ledger lines to ``<directory>/<pid>.ledger`` (one file per process)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._fd: int | None = None
        self._pid = 0

    def write(self, kind: str, job_id: str, attempt: int) -> None:
        """Append one line: kind, job id, attempt, pid, wall-clock time."""
        pid = os.getpid()
        if self._fd is None or pid != self._pid:
            self._pid = pid
            self._fd = os.open(self.directory / f"{pid}.ledger",
                               os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(self._fd, f"{kind} {job_id} {attempt} {pid} {time.time():.6f}\n".encode())


@dataclass(frozen=True, slots=True)
class Line:
    """One processor event."""

    kind: str
    job_id: str
    attempt: int
    pid: int
    at: float


def read_lines(directory: str | Path) -> list[Line]:
    """Every complete line of every ledger file in ``directory``, in time order."""
    lines: list[Line] = []
    for path in Path(directory).glob("*.ledger"):
        for raw in path.read_text().splitlines():
            parts = raw.split(" ")
            if len(parts) == 5:
                kind, job_id, attempt, pid, at = parts
                lines.append(Line(kind, job_id, int(attempt), int(pid), float(at)))
    return sorted(lines, key=lambda line: line.at)


@dataclass(slots=True)
class Enqueues:
    """The producer's side: ids it tried to enqueue, and for each acknowledged one, when the
    call that was acknowledged was *sent* (a reply read after a crash may still come from
    the server that crashed, so the send time is what orders an enqueue against a crash)."""

    tried: set[str] = field(default_factory=set)
    acked: dict[str, float] = field(default_factory=dict)

    def trying(self, job_id: str) -> None:
        """About to call enqueue for ``job_id``."""
        self.tried.add(job_id)

    def acknowledged(self, job_id: str, sent_at: float) -> None:
        """enqueue returned for ``job_id``; the call was sent at ``sent_at`` (wall clock)."""
        self.acked.setdefault(job_id, sent_at)


@dataclass(frozen=True, slots=True)
class RedisView:
    """What the Redis under test holds at the end."""

    completed: frozenset[str]
    dead: frozenset[str]
    pending: int
    """Entries left in the consumer group's pending lists (every ready stream)."""
    unfinished: int
    """Jobs still waiting, active or delayed."""


@dataclass(slots=True)
class Report:
    """The outcome of one chaos run: figures, and the problems found (empty = passed)."""

    scenario: str
    jobs: int = 0
    """Acknowledged enqueues."""
    unacknowledged: int = 0
    """Enqueues tried whose outcome the producer never learnt (each was retried until acked,
    or the run ended)."""
    completed: int = 0
    dead_lettered: int = 0
    lost: int = 0
    lost_by_design: int = 0
    """Acknowledged, missing at the end, and excused by the scenario (no persistence)."""
    lost_by_design_ran: int = 0
    """Of those, how many had their effect recorded before the loss."""
    duplicates: int = 0
    """Extra effects: a job's work finished more than once."""
    re_executions: int = 0
    """Extra starts: a job's processor started more than once."""
    pending: int = 0
    unfinished: int = 0
    kills: int = 0
    restarts: int = 0
    recovery_s: float | None = None
    elapsed_s: float = 0.0
    extra: dict[str, object] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return not self.problems

    def line(self) -> str:
        """The one-line summary printed per scenario."""
        recovery = "-" if self.recovery_s is None else f"{self.recovery_s:.2f}s"
        text = (f"chaos {self.scenario}: jobs={self.jobs} completed={self.completed} "
                f"dead={self.dead_lettered} kills={self.kills} restarts={self.restarts} "
                f"lost={self.lost} lost_by_design={self.lost_by_design}"
                f"{f' (ran: {self.lost_by_design_ran})' if self.lost_by_design else ''} "
                f"duplicates={self.duplicates} re_executions={self.re_executions} "
                f"pending={self.pending} recovery={recovery} elapsed={self.elapsed_s:.1f}s")
        extra = " ".join(f"{k}={v}" for k, v in self.extra.items())
        return f"{text} {extra}".rstrip() + ("" if self.ok else f" PROBLEMS: {self.problems}")

    def to_json(self) -> str:
        """The report as JSON (for the figures file)."""
        return json.dumps({**asdict(self), "ok": self.ok}, sort_keys=True)


def check(scenario: str, enqueues: Enqueues, lines: list[Line], redis: RedisView,
          excused: set[str] | None = None) -> Report:
    """Check the end state against the ledger; see the module docstring for the rules."""
    excused = excused or set()
    acked = set(enqueues.acked)
    effects = Counter(line.job_id for line in lines if line.kind == EFFECT)
    starts = Counter(line.job_id for line in lines if line.kind == START)
    finished = redis.completed | redis.dead
    missing = acked - finished
    report = Report(
        scenario, jobs=len(acked), unacknowledged=len(enqueues.tried - acked),
        completed=len(redis.completed), dead_lettered=len(redis.dead),
        lost=len(missing - excused), lost_by_design=len(missing & excused),
        lost_by_design_ran=len({i for i in missing & excused if effects[i]}),
        duplicates=sum(effects.values()) - len(effects),
        re_executions=sum(starts.values()) - len(starts),
        pending=redis.pending, unfinished=redis.unfinished)
    problems = report.problems
    if report.lost:
        problems.append(f"{report.lost} acknowledged jobs neither completed nor dead, e.g. "
                        f"{sorted(missing - excused)[:5]}")
    if never := (finished | set(starts)) - enqueues.tried:
        problems.append(f"{len(never)} jobs ran or finished but were never enqueued, e.g. "
                        f"{sorted(never)[:5]}")
    if both := redis.completed & redis.dead:
        problems.append(f"{len(both)} jobs both completed and dead, e.g. {sorted(both)[:5]}")
    if no_effect := {i for i in redis.completed if not effects[i]}:
        problems.append(f"{len(no_effect)} jobs completed without their effect recorded, e.g. "
                        f"{sorted(no_effect)[:5]}")
    if redis.pending:
        problems.append(f"{redis.pending} entries left in the pending lists")
    if redis.unfinished:
        problems.append(f"{redis.unfinished} jobs still waiting, active or delayed")
    return report


def recovery_after(lines: list[Line], moments: list[float]) -> float | None:
    """The longest wait, over ``moments`` (wall-clock fault times), from a fault to the next
    effect recorded after it: how long the fleet took to make progress again."""
    effects = [line.at for line in lines if line.kind == EFFECT]
    waits = [next((at - moment for at in effects if at > moment), None) for moment in moments]
    known = [wait for wait in waits if wait is not None]
    return round(max(known), 3) if known else None


def stranded_recovery(lines: list[Line], kills: list[tuple[int, float]]) -> float | None:
    """For worker kills ``(pid, wall time)``: the longest wait from a kill to the effect
    (by any process) of a job the killed process had started and not finished."""
    effects: dict[str, list[float]] = {}
    by_pid: dict[int, list[Line]] = {}
    for line in lines:
        by_pid.setdefault(line.pid, []).append(line)
        if line.kind == EFFECT:
            effects.setdefault(line.job_id, []).append(line.at)
    waits: list[float] = []
    for pid, killed_at in kills:
        own = [line for line in by_pid.get(pid, []) if line.at <= killed_at]
        started = {line.job_id for line in own if line.kind == START}
        done = {line.job_id for line in own if line.kind == EFFECT}
        for job_id in started - done:
            later = [at for at in effects.get(job_id, []) if at > killed_at]
            if later:
                waits.append(min(later) - killed_at)
    return round(max(waits), 3) if waits else None
