"""Read-only queries of one queue: job details, counts, listings, events."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoPermissionError

from streamq.broker.keys import GROUP, QueueKeys
from streamq.config import NAME_PATTERN
from streamq.errors import StreamqError

FINAL_STATES = ("completed", "failed")


async def job_fields(
    client: aioredis.Redis, keys: QueueKeys, job_ids: list[str], with_logs: bool = True
) -> list[tuple[dict[str, str], list[str]]]:
    """Each job's fields and log lines (an empty dict for a job that does not exist).

    A job that has not started since it was enqueued has no hash: its fields are read from
    the stream entry that the index names (``lib/inline.lua``). A job that started, or was
    handed back to a new entry, between the two reads is read again."""
    replies = await _hashes_and_places(client, keys, job_ids, with_logs)
    step = 3 if with_logs else 2
    hashes: list[dict[str, str]] = replies[0::step]
    held: list[str | None] = replies[1::step]
    logs: list[list[str]] = replies[2::step] if with_logs else [[] for _ in job_ids]
    for _ in range(HELD_READ_TRIES):
        missing = [i for i, place in enumerate(held) if place and not hashes[i]]
        if not missing:
            break
        await _read_held(client, keys, [(i, held[i] or "") for i in missing], hashes)
        moved = [i for i in missing if not hashes[i]]
        if not moved:
            break
        again = await _hashes_and_places(client, keys, [job_ids[i] for i in moved], False)
        for i, fields, place in zip(moved, again[0::2], again[1::2], strict=True):
            hashes[i], held[i] = fields, place
    return list(zip(hashes, logs, strict=True))


HELD_READ_TRIES = 3
"""Reads of a job that keeps moving between its hash and stream entries while being read."""


async def _hashes_and_places(
    client: aioredis.Redis, keys: QueueKeys, job_ids: list[str], with_logs: bool
) -> list[Any]:
    """For each job: its hash, its index value (held jobs), and its log if ``with_logs``."""
    async with client.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.hgetall(keys.job(job_id))
            pipe.hget(keys.index, job_id)
            if with_logs:
                pipe.lrange(keys.logs(job_id), 0, -1)
        replies: list[Any] = await pipe.execute()
    return replies


async def _read_held(
    client: aioredis.Redis, keys: QueueKeys, places: list[tuple[int, str]],
    hashes: list[dict[str, str]],
) -> None:
    """Fill ``hashes[i]`` from the stream entry each ``(i, place)`` names, if it is there."""
    entries = [unplace(place) for _, place in places]
    async with client.pipeline(transaction=False) as pipe:
        for prio, entry in entries:
            pipe.xrange(keys.ready[prio], entry, entry, count=1)
        found: list[Any] = await pipe.execute()
    for (i, _), (prio, entry), entry_list in zip(places, entries, found, strict=True):
        if entry_list:
            hashes[i] = held_job_fields(prio, entry, entry_list[0][1])


def unplace(place: str) -> tuple[int, str]:
    """The priority and stream entry id that an index value names (``lib/place.lua``)."""
    return int(place[0]), f"{int(place[1:12], 16)}-{int(place[12:], 16)}"


def held_job_fields(prio: int, entry: str, entry_fields: dict[str, str]) -> dict[str, str]:
    """The fields a job's hash would hold, for a job held in its stream entry alone."""
    fields = {k: v for k, v in entry_fields.items() if k != "id"}
    fields.update(prio=str(prio), attempt="0", state="waiting", entry=entry)
    return fields


async def job_outcome(
    client: aioredis.Redis, keys: QueueKeys, job_id: str
) -> tuple[str | None, str | None, str | None, str | None]:
    """A job's state, result, error and traceback (state None: no such job)."""
    async with client.pipeline(transaction=False) as pipe:
        pipe.hmget(keys.job(job_id), ["state", "result", "error", "tb"])
        pipe.hexists(keys.index, job_id)
        (state, result, error, tb), held = await pipe.execute()
    if state is None and held:
        state = "waiting"
    return state, result, error, tb


async def counts(client: aioredis.Redis, keys: QueueKeys) -> dict[str, int]:
    """How many jobs are in each state."""
    async with client.pipeline(transaction=False) as pipe:
        for stream in keys.ready:
            pipe.xlen(stream)
            pipe.xpending(stream, GROUP)
        pipe.zcard(keys.delayed)
        pipe.zcard(keys.completed)
        pipe.zcard(keys.failed)
        replies = await pipe.execute(raise_on_error=False)
    in_streams = active = 0
    for length, pending in zip(replies[0:20:2], replies[1:20:2], strict=True):
        in_streams += length if isinstance(length, int) else 0
        active += pending["pending"] if isinstance(pending, dict) else 0
    delayed, completed, failed = replies[20:23]
    return {
        "waiting": in_streams - active,
        "active": active,
        "delayed": delayed,
        "completed": completed,
        "failed": failed,
    }


async def job_ids_in(
    client: aioredis.Redis, keys: QueueKeys, state: str, limit: int
) -> list[str]:
    """Ids of up to ``limit`` jobs in ``state``: finished ones newest first, others oldest first."""
    if state in FINAL_STATES:
        newest: Any = await client.zrevrange(keys.finished(state), 0, limit - 1)
        return list(newest)
    if state == "delayed":
        oldest: Any = await client.zrange(keys.delayed, 0, limit - 1)
        return list(oldest)
    ids: list[str] = []
    for stream in keys.ready:
        if len(ids) >= limit:
            break
        ids += await _stream_ids(client, stream, state, limit - len(ids))
    return ids


async def failed_ids(client: aioredis.Redis, keys: QueueKeys) -> list[str]:
    """Ids of every FAILED job (the dead-letter set is bounded by ``keep_failed``), oldest
    first."""
    ids: Any = await client.zrange(keys.failed, 0, -1)
    return list(ids)


async def _stream_ids(
    client: aioredis.Redis, stream: str, state: str, limit: int
) -> list[str]:
    if not await client.xlen(stream):
        return []
    groups = {g["name"]: g for g in await client.xinfo_groups(stream)}
    last_delivered = groups[GROUP]["last-delivered-id"] if GROUP in groups else "0-0"
    if state == "waiting":
        entries: Any = await client.xrange(stream, f"({last_delivered}", "+", count=limit)
        return [fields["id"] for _, fields in entries]
    pending: Any = await client.xpending_range(stream, GROUP, "-", "+", limit)
    ids: list[str] = []
    for item in pending:
        found: Any = await client.xrange(stream, item["message_id"], item["message_id"])
        ids += [fields["id"] for _, fields in found]
    return ids


async def is_paused(client: aioredis.Redis, keys: QueueKeys) -> bool:
    """Whether the queue is paused."""
    return await client.hget(keys.meta, "paused") == "1"


async def last_event_id(client: aioredis.Redis, keys: QueueKeys) -> str:
    """The id of the newest event, to read only what comes after it."""
    newest: Any = await client.xrevrange(keys.events, "+", "-", count=1)
    return str(newest[0][0]) if newest else "0-0"


async def events_after(
    client: aioredis.Redis, keys: QueueKeys, after: str, block_ms: int
) -> list[tuple[str, dict[str, str]]]:
    """Events newer than ``after``, waiting up to ``block_ms`` for the first (real Redis)."""
    reply: Any = await client.xread({keys.events: after}, block=block_ms, count=1000)
    return [(entry_id, fields) for _, entries in reply for entry_id, fields in entries]


async def queue_names(client: aioredis.Redis, namespace: str) -> list[str]:
    """Names of the queues that exist in ``namespace`` (found by their meta hash).
    ``StreamqError`` if the user's ACL does not grant SCAN (the documented one does not).
    The pattern also matches the key of a job whose id ends in ``}:meta``: names no tier
    could have are left out."""
    prefix, suffix = f"{namespace}:{{", "}:meta"
    try:
        names = {
            key[len(prefix):-len(suffix)]
            async for key in client.scan_iter(match=f"{namespace}:{{*}}:meta", count=1000)
        }
    except NoPermissionError:
        raise StreamqError(
            "finding the namespace's tiers needs SCAN, which the Redis user's ACL does not "
            "grant: name the tier (--tier), or grant +scan (docs/security.md)") from None
    return sorted(name for name in names if NAME_PATTERN.match(name))


async def queues_existing(client: aioredis.Redis, namespace: str, names: list[str]) -> list[str]:
    """Those of the queues ``names`` that exist in ``namespace`` (their meta hash does), in
    order: one EXISTS each (in one round trip), not SCAN, which the documented ACL does not
    grant."""
    async with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.exists(QueueKeys(namespace, name).meta)
        found = await pipe.execute()
    return [name for name, exists in zip(names, found, strict=True) if exists]


async def oldest_waiting_ms(client: aioredis.Redis, keys: QueueKeys) -> int | None:
    """Enqueue time (ms) of the oldest job not yet started, from the stream entry ids."""
    oldest: int | None = None
    for stream in keys.ready:
        groups: Any = await client.xinfo_groups(stream) if await client.xlen(stream) else []
        last = next((g["last-delivered-id"] for g in groups if g["name"] == GROUP), "0-0")
        first: Any = await client.xrange(stream, f"({last}", "+", count=1)
        if first:
            ms = int(str(first[0][0]).split("-")[0])
            oldest = ms if oldest is None else min(oldest, ms)
    return oldest
