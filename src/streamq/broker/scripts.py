"""The Lua scripts, one typed method each.

Scripts are read from package data, loaded once with SCRIPT LOAD and called with EVALSHA;
a NOSCRIPT reply (Redis restarted, failed over, or flushed its script cache) reloads them
and repeats the call once. Every script replies ``{code, ...}``: code 0 is success, the other
codes are mapped to exceptions here, so the messages live in Python.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, NamedTuple

import redis.exceptions as rex

from streamq import errors
from streamq.broker.connection import Connection, raise_translated
from streamq.broker.keys import GROUP, QueueKeys
from streamq.broker.records import ClaimedJob, Delivered, Finished, NewJob
from streamq.broker.schedules import ScheduleScripts
from streamq.broker.script_args import claim_args, claim_keys, enqueue_call, enqueue_resent
from streamq.broker.script_loader import ScriptLoader
from streamq.job_ids import new_job_id

if TYPE_CHECKING:
    from streamq.config import RateLimit

SCRIPT_NAMES = (
    "claim", "clean", "complete", "drain", "enqueue", "extend", "fail", "log", "pause",
    "prepare", "progress", "promote", "promote_due", "reclaim", "release", "remove", "retry",
    "schedule", "unschedule", "pause_schedule", "fire_schedule",
)
SCHEMA_VERSION = "2"
EVENTS_CAP = 10_000
"""Approximate length the events stream is trimmed to."""
REMOVAL_RECORD_MS = 300_000
"""How long ``remove`` keeps a record of a removal, for a resend of the call to find: longer
than redis-py's retries of one command can take."""

OK, QUEUE_FULL, LEASE_LOST, JOB_NOT_FOUND, WRONG_STATE, PAUSED = 0, 1, 2, 3, 4, 1
RATE_LIMITED = 5
DEFER_BUDGET = 100
"""At most this many jobs over their key's rate limit are moved to DELAYED per claim: 1,000
took 17-29 ms inside Redis, 100 keeps one claim to a few ms (docs/rate-limits.md)."""


class RateLimited(NamedTuple):
    """Claim started nothing because of rate limits: claim again in ``wait_ms``."""

    wait_ms: int


Claimed = list[ClaimedJob] | RateLimited | None
"""What claim answers: the jobs it started, None if the queue is paused, or RateLimited."""


@dataclass(frozen=True, slots=True)
class Reclaimed:
    """What one reclaim pass did."""

    requeued: int
    failed: int
    cursors: tuple[str, ...]
    stalled: tuple[str, ...]


INCLUDE = re.compile(r"^-- @include (\w+)$", re.M)


def _source(name: str) -> str:
    """A script's text, with each ``-- @include NAME`` line replaced by ``lib/NAME.lua``: the
    Lua functions several scripts share (writing a job, counting waiting jobs, retention)."""
    return INCLUDE.sub(lambda m: _read(f"lib/{m.group(1)}.lua"), _read(f"{name}.lua"))


@cache
def _read(path: str) -> str:
    """A file of ``scripts/``, read once per process (several scripts include each lib)."""
    return resources.files("streamq.broker").joinpath(f"scripts/{path}").read_text()


@cache
def script_sha(name: str) -> str:
    """The SHA1 of script ``name``'s text, by which EVALSHA calls it."""
    return hashlib.sha1(_source(name).encode()).hexdigest()


@cache
def _by_sha() -> dict[str, tuple[str, list[str]]]:
    return {script_sha(name): (name, _source(name).splitlines()) for name in SCRIPT_NAMES}


def script_line(sha: str, line: int) -> tuple[str, str] | None:
    """(script name, source line) for a line number Redis reports in a script error."""
    name, lines = _by_sha().get(sha, ("", []))
    return (name, lines[line - 1]) if 0 < line <= len(lines) else None


class Scripts(ScheduleScripts):
    """Loads the Lua scripts into one connection and calls them."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._client = connection.client
        self._multiplexer = connection.multiplexer
        self._shas = {name: script_sha(name) for name in SCRIPT_NAMES}
        self._loader = ScriptLoader(connection, (_source(name) for name in SCRIPT_NAMES))

    async def load(self) -> None:
        """Load every script (one round trip; on a cluster, one per script, on every master)."""
        await self._loader.load()

    async def _run(
        self, name: str, keys: list[str] | tuple[str, ...], args: list[Any], *,
        resend: Callable[[list[Any]], list[Any]] | None = None,
        sent: Awaitable[Any] | None = None,
    ) -> Any:
        """Call script ``name``. ``resend``: makes ``args`` those of an idempotent form of
        this call, sent (on a new connection) when its connection broke, before giving up.
        ``sent``: the reply of this very call, already sent (:meth:`claim_now`)."""
        try:
            try:
                return await self._evalsha(name, keys, args, sent)
            except (rex.ConnectionError, rex.TimeoutError):
                if resend is None:
                    raise
            return await self._evalsha(name, keys, resend(args))
        except Exception as exc:
            raise_translated(exc, self._connection.url)

    async def _evalsha(self, name: str, keys: list[str] | tuple[str, ...], args: list[Any],
                       sent: Awaitable[Any] | None = None) -> Any:
        """EVALSHA (or the reply of one ``sent``); a server without the script (restarted,
        failed over, or its cache flushed) gets them all loaded, and the call is made once
        more (one load for all the calls that met it together: script_loader.py)."""
        generation = self._loader.generation
        try:
            return await (sent if sent is not None else self._send(name, keys, args))
        except rex.NoScriptError:
            await self._loader.reload(generation)
        try:
            return await self._send(name, keys, args)
        except rex.NoScriptError:  # flushed again since the load this call counted on
            await self._loader.reload(self._loader.generation)
            return await self._send(name, keys, args)

    def _send_now(self, name: str, keys: tuple[str, ...], args: list[Any]) -> Awaitable[Any] | None:
        """EVALSHA sent before this returns (Multiplexer.send_now); None if it cannot be."""
        if self._multiplexer is None:
            return None
        return self._multiplexer.send_now("EVALSHA", self._shas[name], len(keys), *keys, *args)

    async def _send(self, name: str, keys: list[str] | tuple[str, ...], args: list[Any]) -> Any:
        if self._multiplexer is None:
            return await self._client.evalsha(self._shas[name], len(keys), *keys, *args)
        return await self._multiplexer.execute("EVALSHA", self._shas[name], len(keys), *keys,
                                               *args)

    def _wake(self, keys: QueueKeys) -> None:
        if self._connection.wakeup is not None:
            self._connection.wakeup.notify(keys.tier)

    def _wake_waiters(self, keys: QueueKeys) -> None:
        """Wake ``Job.result`` waiters (embedded backend; Redis has the events stream)."""
        if self._connection.wakeup is not None:
            self._connection.wakeup.notify(keys.tier + "#events")

    async def prepare(self, keys: QueueKeys, now_ms: int) -> tuple[int, bool]:
        """Create missing streams and groups. Returns (groups created, queue existed before)."""
        reply = await self._run("prepare", (keys.meta, *keys.ready, keys.delayed),
                                [GROUP, SCHEMA_VERSION, now_ms])
        return int(reply[1]), bool(reply[2])

    async def enqueue(
        self, keys: QueueKeys, jobs: list[NewJob], now_ms: int, max_waiting: int, *,
        resent: bool = False,
    ) -> list[bool]:
        """Add ``jobs``; for each, True if created, False if its id already existed.

        The multiplexer sends a command once, so its first send looks up no id that streamq
        made (they are new); redis-py's clients (cluster, embedded) may resend a command by
        themselves, so each of their calls looks the first one up, as does a call sent again
        after a broken connection, or ``resent`` (the jobs of an earlier call)."""
        script_keys, args = enqueue_call(keys, jobs, now_ms, max_waiting,
                                         resent or self._multiplexer is None)
        reply = await self._run("enqueue", script_keys, args, resend=enqueue_resent)
        if reply[0] == QUEUE_FULL:
            raise errors.QueueFull(keys.tier, int(reply[1]), int(reply[2]), len(jobs))
        self._wake(keys)
        return [bool(created) for created in reply[1:]]

    async def claim(
        self, keys: QueueKeys, consumer: str, now_ms: int, count: int,
        delivered: Sequence[tuple[int, str, str] | Delivered] | None = None, *,
        rate_limit: RateLimit | None = None, rate_limit_per_key: RateLimit | None = None,
        defer_budget: int = DEFER_BUDGET,
    ) -> Claimed:
        """Start up to ``count`` jobs within the rate limits; None if the queue is paused,
        ``RateLimited`` if the tier's limit (or the defer budget) let nothing start."""
        args = claim_args(keys.job_prefix, consumer, now_ms, count, delivered, rate_limit,
                           rate_limit_per_key, defer_budget)
        return self._claimed(keys, delivered, await self._run("claim", claim_keys(keys), args))

    def claim_now(
        self, keys: QueueKeys, consumer: str, now_ms: int, count: int,
        delivered: Sequence[Delivered],
    ) -> Coroutine[None, None, Claimed] | None:
        """:meth:`claim` without rate limits, its command sent before this returns: await
        the result for its answer. A job started right after this call runs its first step
        after the command was written, so a job that kills its worker has used an attempt
        (the early start, docs/architecture.md). None when the command cannot go out at
        once (the connection is not open yet, or on a cluster): call :meth:`claim`."""
        keys_list = claim_keys(keys)
        args = claim_args(keys.job_prefix, consumer, now_ms, count, delivered, None, None,
                           DEFER_BUDGET)
        sent = self._send_now("claim", keys_list, args)
        return None if sent is None else self._claim_reply(keys, delivered, keys_list, args, sent)

    async def _claim_reply(
        self, keys: QueueKeys, delivered: Sequence[Delivered], keys_list: tuple[str, ...],
        args: list[Any], sent: Awaitable[Any],
    ) -> Claimed:
        return self._claimed(keys, delivered, await self._run("claim", keys_list, args,
                                                               sent=sent))

    def _claimed(
        self, keys: QueueKeys, delivered: Sequence[tuple[int, str, str] | Delivered] | None,
        reply: list[Any],
    ) -> Claimed:
        if reply[0] in (PAUSED, RATE_LIMITED):
            if delivered:
                self._wake(keys)
            return None if reply[0] == PAUSED else RateLimited(int(reply[1]))
        return [
            ClaimedJob(reply[i], int(reply[i + 1]), reply[i + 2], reply[i + 3], reply[i + 4],
                       int(reply[i + 5]), int(reply[i + 6]), reply[i + 7])
            for i in range(2, len(reply), 8)
        ]

    async def complete(
        self, keys: QueueKeys, consumer: str, now_ms: int, keep: int, done: list[Finished]
    ) -> list[bool]:
        """Record finished jobs; for each, False if the lease was lost (nothing written)."""
        args: list[Any] = [GROUP, consumer, now_ms, keep, keys.job_prefix, keys.logs_prefix,
                           EVENTS_CAP, len(done)]
        for job in done:
            args += [job.id, job.priority, job.entry, job.result]
        reply = await self._run("complete", (keys.completed, keys.events, *keys.ready), args)
        self._wake_waiters(keys)
        return [bool(ok) for ok in reply[1:]]

    async def fail(
        self, keys: QueueKeys, consumer: str, job: ClaimedJob, now_ms: int, *,
        error: str, traceback: str, retry_delay_ms: int | None, keep: int,
    ) -> str:
        """End a failed attempt. Returns ``"delayed"``, ``"failed"`` or ``"lease_lost"``."""
        reply = await self._run(
            "fail",
            (keys.delayed, keys.failed, keys.events, keys.ready[job.priority],
             keys.job(job.id), keys.logs(job.id)),
            [GROUP, consumer, job.entry, now_ms, error, traceback,
             -1 if retry_delay_ms is None else retry_delay_ms, keep,
             keys.job_prefix, keys.logs_prefix, EVENTS_CAP],
        )
        if reply[0] == LEASE_LOST:
            return "lease_lost"
        if reply[1] == 1:
            return "delayed"
        self._wake_waiters(keys)
        return "failed"

    async def extend(
        self, keys: QueueKeys, consumer: str, entries: list[tuple[int, str]]
    ) -> list[bool]:
        """Renew leases; for each entry, False if this consumer no longer owns it."""
        args: list[Any] = [GROUP, consumer, len(entries)]
        for prio, entry in entries:
            args += [prio, entry]
        reply = await self._run("extend", keys.ready, args)
        return [bool(ok) for ok in reply[1:]]

    async def release(
        self, keys: QueueKeys, consumer: str, jobs: list[tuple[str, int, str]]
    ) -> list[bool]:
        """Hand running jobs (id, priority, entry) back to the queue without using an attempt."""
        args: list[Any] = [GROUP, consumer, keys.job_prefix, len(jobs)]
        for job_id, prio, entry in jobs:
            args += [job_id, prio, entry]
        reply = await self._run("release", keys.ready, args)
        self._wake(keys)
        return [bool(ok) for ok in reply[1:]]

    async def reclaim(
        self, keys: QueueKeys, reclaimer: str, now_ms: int, lease_ms: int, count: int,
        keep_failed: int, cursors: tuple[str, ...],
    ) -> Reclaimed:
        """Requeue or dead-letter the jobs whose lease ran out."""
        reply = await self._run(
            "reclaim", (keys.failed, keys.events, *keys.ready, keys.index),
            [GROUP, reclaimer, now_ms, lease_ms, count, keys.job_prefix, keys.logs_prefix,
             keep_failed, EVENTS_CAP, *cursors],
        )
        if reply[1]:
            self._wake(keys)
        if reply[2]:
            self._wake_waiters(keys)
        return Reclaimed(int(reply[1]), int(reply[2]), tuple(reply[3:13]), tuple(reply[13:]))

    async def promote_due(self, keys: QueueKeys, now_ms: int, limit: int) -> tuple[int, int]:
        """Promote due delayed jobs. Returns (promoted, next due ms or -1)."""
        reply = await self._run("promote_due", (keys.delayed, *keys.ready),
                                [now_ms, limit, keys.job_prefix])
        if reply[1]:
            self._wake(keys)
        return int(reply[1]), int(reply[2])

    def _check(self, keys: QueueKeys, job_id: str, reply: list[Any], action: str) -> None:
        if reply[0] == LEASE_LOST:
            raise errors.JobStateError(
                f"cannot {action} job {job_id!r}: this run lost it (the job was removed, or "
                "reclaimed after its lease ran out) and nothing was written; the worker has "
                "dropped this run's outcome, so the processor can stop")
        if reply[0] == JOB_NOT_FOUND:
            raise errors.JobNotFound(keys.tier, job_id)
        if reply[0] == WRONG_STATE:
            raise errors.JobStateError(
                f"cannot {action} job {job_id!r}: it is {reply[1]}; "
                f"see queue.get_job({job_id!r}).state"
            )

    async def promote(self, keys: QueueKeys, job_id: str, *, op: str | None = None) -> None:
        """Run a delayed job now. ``op``: this call's token (:meth:`_op`)."""
        reply = await self._run("promote", (keys.delayed, keys.job(job_id), *keys.ready,
                                            keys.index), [job_id, self._op(op)])
        self._check(keys, job_id, reply, "promote (only a delayed job can be promoted)")
        self._wake(keys)

    async def retry(self, keys: QueueKeys, job_id: str, *, op: str | None = None) -> None:
        """Requeue a failed job with fresh attempts. ``op``: this call's token (:meth:`_op`)."""
        reply = await self._run("retry", (keys.failed, keys.job(job_id), *keys.ready,
                                          keys.index), [job_id, self._op(op)])
        self._check(keys, job_id, reply, "retry (only a failed job can be retried)")
        self._wake(keys)

    async def remove(
        self, keys: QueueKeys, job_id: str, now_ms: int, *, op: str | None = None
    ) -> str:
        """Delete a job in any state; returns the state it was in. A job its key's rate limit
        deferred gives its token back (lib/refund_token). ``op``: this call's token
        (:meth:`_op`)."""
        reply = await self._run(
            "remove",
            (keys.delayed, keys.completed, keys.failed, keys.job(job_id), keys.logs(job_id),
             *keys.ready, keys.events, keys.index, keys.removed(job_id), keys.rate),
            [GROUP, job_id, EVENTS_CAP, self._op(op), REMOVAL_RECORD_MS, now_ms],
        )
        self._check(keys, job_id, reply, "remove")
        self._wake_waiters(keys)
        return str(reply[1])

    def _op(self, op: str | None) -> str:
        """The token that lets ``remove``, ``retry`` and ``promote`` tell a resend of a call
        from a new call: ``op`` if given, else a new one when redis-py's client may resend
        the command by itself (a cluster client does after a broken connection or a
        timeout), else "" (the multiplexer never resends)."""
        if op is not None:
            return op
        return new_job_id() if self._multiplexer is None else ""

    async def clean(self, keys: QueueKeys, state: str, cutoff_ms: int, limit: int) -> int:
        """Delete up to ``limit`` jobs of ``state`` finished at or before ``cutoff_ms``."""
        reply = await self._run("clean", (keys.finished(state),),
                                [cutoff_ms, limit, keys.job_prefix, keys.logs_prefix])
        return int(reply[1])

    async def drain(
        self, keys: QueueKeys, drainer: str, limit: int, delayed: bool, now_ms: int
    ) -> int:
        """Delete up to ``limit`` not-yet-started jobs per stream; returns how many. Jobs their
        key's rate limit deferred give their tokens back (lib/refund_token); a call that
        deleted any writes one ``drained`` event, which wakes every ``Job.result`` waiter."""
        reply = await self._run(
            "drain", (keys.delayed, *keys.ready, keys.index, keys.rate, keys.events),
            [GROUP, drainer, limit, keys.job_prefix, keys.logs_prefix, int(delayed), now_ms,
             EVENTS_CAP],
        )
        if reply[1]:
            self._wake_waiters(keys)
        return int(reply[1])

    async def pause(self, keys: QueueKeys, paused: bool) -> None:
        """Pause or resume the queue."""
        await self._run("pause", (keys.meta, keys.events), [int(paused), EVENTS_CAP])
        self._wake(keys)

    async def progress(
        self, keys: QueueKeys, job_id: str, value: float, run: tuple[str, str] | None = None
    ) -> None:
        """Record a job's progress; ``run``: (entry, consumer) of the run reporting it."""
        reply = await self._run("progress", (keys.job(job_id), keys.index),
                                [value, job_id, *(run or ("", ""))])
        self._check(keys, job_id, reply, "record progress of")

    async def log(
        self, keys: QueueKeys, job_id: str, line: str, max_lines: int,
        run: tuple[str, str] | None = None,
    ) -> None:
        """Append a line to a job's log; ``run``: (entry, consumer) of the run writing it."""
        reply = await self._run("log", (keys.job(job_id), keys.logs(job_id), keys.index),
                                [line, max_lines, job_id, *(run or ("", ""))])
        self._check(keys, job_id, reply, "log to")
