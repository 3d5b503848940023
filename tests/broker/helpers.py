"""Shared helpers for the direct Lua script tests: a handle on one queue's keys and scripts,
and short ways to enqueue, claim and inspect jobs with plain Redis commands.

Scripts get ``now_ms`` as an argument, so tests pass the fixed clock ``NOW`` (and offsets of
it) instead of sleeping. Stream entry ids and idle times still come from Redis's own clock.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from streamq import App
from streamq.broker import reads
from streamq.broker.keys import GROUP, QueueKeys
from streamq.broker.records import ClaimedJob, Finished, NewJob
from streamq.broker.scripts import Scripts

NOW = 1_700_000_000_000
"""The fixed "now" (ms since the epoch) the tests hand to the scripts."""

KEEP = 1000
"""A keep_completed / keep_failed large enough not to trim anything."""


@dataclass(frozen=True, slots=True)
class Ctx:
    """One queue of an App: its keys, the typed scripts, and the raw client."""

    app: App
    keys: QueueKeys
    scripts: Scripts
    client: aioredis.Redis


async def open_ctx(app: App, tier: str = "standard") -> Ctx:
    """Connect ``app`` and prepare ``tier``'s queue (streams + group)."""
    keys = app.queue(tier).keys
    backend = await app.backend(keys)
    return Ctx(app, keys, backend.scripts, backend.client)


def new_job(
    job_id: str | None = None, *, name: str = "task", data: str = '{"n": 1}',
    priority: int = 0, due_ms: int = 0, attempts: int = 3, opts: str = "", rate_key: str = "",
) -> NewJob:
    """A NewJob with sensible defaults (random id, priority 0, ready now, 3 attempts)."""
    return NewJob(job_id or f"j-{uuid.uuid4().hex[:10]}", name, data, priority, due_ms,
                  attempts, opts, rate_key)


async def enqueue(
    ctx: Ctx, *jobs: NewJob, now_ms: int = NOW, max_waiting: int = 0, resent: bool = False
) -> list[bool]:
    """Run the enqueue script for ``jobs``; ``resent``: as a call sent again after its
    connection broke (the ids streamq made are looked up)."""
    return await ctx.scripts.enqueue(ctx.keys, list(jobs), now_ms, max_waiting, resent=resent)


async def claim(
    ctx: Ctx, consumer: str = "w1", count: int = 10, now_ms: int = NOW,
    delivered: list[tuple[int, str, str]] | None = None,
) -> list[ClaimedJob]:
    """Run the claim script on an unpaused queue."""
    claimed = await ctx.scripts.claim(ctx.keys, consumer, now_ms, count, delivered)
    assert claimed is not None, "claim reported the queue paused"
    assert isinstance(claimed, list), f"claim reported {claimed}"
    return claimed


async def start(
    ctx: Ctx, job: NewJob | None = None, consumer: str = "w1", now_ms: int = NOW
) -> ClaimedJob:
    """Enqueue one job (default: a fresh one) and claim it as ``consumer``."""
    job = job or new_job()
    assert await enqueue(ctx, job, now_ms=now_ms) == [True]
    claimed = await claim(ctx, consumer, count=1, now_ms=now_ms)
    assert [c.id for c in claimed] == [job.id]
    return claimed[0]


async def start_then_reclaim(ctx: Ctx, consumer: str = "w1") -> ClaimedJob:
    """Start job "a" as ``consumer`` and reclaim it once its lease (5 ms) has passed: the
    run returned is stale, and the job waits in a new entry for its next attempt."""
    run = await start(ctx, new_job("a"), consumer=consumer)
    await asyncio.sleep(0.03)
    reclaimed = await ctx.scripts.reclaim(ctx.keys, "reclaimer", NOW, 5, 100, KEEP,
                                          ("0-0",) * 10)
    assert reclaimed.requeued == 1
    return run


def finished(job: ClaimedJob, result: str = '"ok"') -> Finished:
    """What complete needs to know about a claimed job."""
    return Finished(job.id, job.priority, job.entry, result)


async def deliver(
    ctx: Ctx, consumer: str, priority: int = 0, count: int = 10
) -> list[tuple[int, str, str]]:
    """Deliver entries to ``consumer`` the way a blocking XREADGROUP does (without starting
    the jobs); returns them in claim's ``delivered`` format (priority, entry, job id)."""
    reply: Any = await ctx.client.xreadgroup(
        GROUP, consumer, {ctx.keys.ready[priority]: ">"}, count=count
    )
    return [(priority, entry, fields["id"]) for _, entries in reply for entry, fields in entries]


async def job_hash(ctx: Ctx, job_id: str) -> dict[str, str]:
    """The job's fields (empty if it does not exist): its hash, or for a job held in its
    stream entry, what reads.job_fields makes of the entry."""
    return await stored_job(ctx.client, ctx.keys, job_id)


async def stream(ctx: Ctx, priority: int = 0) -> list[tuple[str, str]]:
    """XRANGE of a ready stream, as (entry id, job id)."""
    entries: Any = await ctx.client.xrange(ctx.keys.ready[priority])
    return [(entry, fields["id"]) for entry, fields in entries]


async def pending(ctx: Ctx, priority: int = 0) -> list[tuple[str, str]]:
    """The stream's pending entries (PEL), as (entry id, owning consumer)."""
    rows: Any = await ctx.client.xpending_range(ctx.keys.ready[priority], GROUP, "-", "+", 1000)
    return [(row["message_id"], row["consumer"]) for row in rows]


async def pending_total(ctx: Ctx) -> int:
    """Pending entries over all ready streams."""
    total = 0
    for prio in range(10):
        summary: Any = await ctx.client.xpending(ctx.keys.ready[prio], GROUP)
        total += int(summary["pending"])
    return total


async def stream_total(ctx: Ctx) -> int:
    """Entries over all ready streams (XLEN)."""
    total = 0
    for key in ctx.keys.ready:
        total += int(await ctx.client.xlen(key))
    return total


async def events(ctx: Ctx) -> list[dict[str, str]]:
    """The queue's events stream, oldest first."""
    entries: Any = await ctx.client.xrange(ctx.keys.events)
    return [dict(fields) for _, fields in entries]


async def zscore(ctx: Ctx, key: str, job_id: str) -> float | None:
    """ZSCORE of ``job_id`` in ``key``."""
    score: Any = await ctx.client.zscore(key, job_id)
    return None if score is None else float(score)


async def zmembers(ctx: Ctx, key: str) -> list[str]:
    """Members of a sorted set, lowest score first."""
    members: Any = await ctx.client.zrange(key, 0, -1)
    return list(members)


async def logs(ctx: Ctx, job_id: str) -> list[str]:
    """The job's log lines."""
    lines: Any = await ctx.client.lrange(ctx.keys.logs(job_id), 0, -1)
    return list(lines)


async def exists(ctx: Ctx, key: str) -> bool:
    """Whether ``key`` exists."""
    return bool(await ctx.client.exists(key))


def place(prio: int, entry: str) -> str:
    """The index value ``lib/place.lua`` gives a job held in ``entry`` of stream ``prio``."""
    ms, seq = (int(part) for part in entry.split("-"))
    return f"{prio}{ms:011x}{seq:x}"


async def rewrite_held_job(
    client: aioredis.Redis, keys: QueueKeys, job_id: str, changes: dict[str, Any]
) -> None:
    """Change fields of a job held in its stream entry, as another program with access to
    Redis could: a new entry holds the changed fields, and the index names it."""
    prio, entry = reads.unplace(await client.hget(keys.index, job_id))  # type: ignore[misc]
    found: Any = await client.xrange(keys.ready[prio], entry, entry)
    fields = {**found[0][1], **changes}
    await client.xdel(keys.ready[prio], entry)
    fresh: Any = await client.xadd(keys.ready[prio], fields)
    await client.hset(keys.index, job_id, place(prio, fresh))


async def stored_job(client: aioredis.Redis, keys: QueueKeys, job_id: str) -> dict[str, str]:
    """What Redis holds of a job, as a job hash's fields, wherever it is kept."""
    [(fields, _)] = await reads.job_fields(client, keys, [job_id], with_logs=False)
    return fields


async def forget_job(client: aioredis.Redis, keys: QueueKeys, job_id: str) -> None:
    """Lose a job's record (its hash, and its index entry if it is held in its stream entry),
    as a restore of stale data or a hand-made DEL could; its stream entry stays."""
    await client.delete(keys.job(job_id))
    await client.hdel(keys.index, job_id)
