"""The Redis side of schedules: the four schedule scripts (mixed into ``Scripts``) and the
reads the scheduler and ``app.schedules()`` need.

Per tier, ``<ns>:{tier}:schedules`` (hash: key -> JSON definition) and ``<ns>:{tier}:ticks``
(sorted set: key -> pending tick in ms, ``+inf`` while paused).
"""

from __future__ import annotations

import math
from typing import Any

import redis.asyncio as aioredis

from streamq import errors
from streamq.broker.keys import GROUP, QueueKeys
from streamq.broker.records import NewJob

OK, QUEUE_FULL, NOT_FOUND, STALE = 0, 1, 3, 5




class ScheduleScripts:
    """The schedule scripts; ``Scripts`` inherits these methods."""

    async def _run(self, name: str, keys: list[str] | tuple[str, ...], args: list[Any]) -> Any:
        raise NotImplementedError  # pragma: no cover - provided by Scripts

    def _wake(self, keys: QueueKeys) -> None:
        raise NotImplementedError  # pragma: no cover - provided by Scripts

    async def schedule(
        self, keys: QueueKeys, key: str, definition: str, next_ms: int | None,
        expected: str | None, keep_tick: bool, paused: bool = False,
    ) -> bool | None:
        """Upsert a definition if the stored one is still ``expected`` (None: absent), and
        pause it if ``paused``. Returns True if created, False if updated, None if it
        changed meanwhile (retry)."""
        reply = await self._run(
            "schedule", (keys.schedules, keys.ticks),
            [key, definition, -1 if next_ms is None else next_ms, expected or "",
             int(keep_tick), int(paused)])
        if reply[0] == STALE:
            return None
        return bool(reply[1])

    async def unschedule(self, keys: QueueKeys, key: str) -> bool:
        """Delete a schedule; False if there was none."""
        reply = await self._run("unschedule", (keys.schedules, keys.ticks), [key])
        return bool(reply[0] == OK)

    async def pause_schedule(
        self, keys: QueueKeys, key: str, paused: bool, next_ms: int | None = None
    ) -> bool:
        """Pause, or resume with the pending tick ``next_ms``. Returns whether it changed;
        raises ``ScheduleNotFound``."""
        reply = await self._run("pause_schedule", (keys.schedules, keys.ticks),
                                [key, int(paused), -1 if next_ms is None else next_ms])
        if reply[0] == NOT_FOUND:
            raise errors.ScheduleNotFound(key)
        return bool(reply[1])

    async def fire_schedule(
        self, keys: QueueKeys, key: str, now_ms: int, expected_ms: int, next_ms: int | None,
        job: NewJob | None, max_waiting: int,
    ) -> bool:
        """Enqueue ``job`` (None: skip the tick) and move ``key`` to ``next_ms``, if its
        pending tick is still ``expected_ms``. False if another caller got there first;
        raises ``QueueFull`` (nothing written, the tick stays pending)."""
        fields: list[Any] = (["", "", "", 0, 0, 1, "", ""] if job is None else
                             [job.id, job.name, job.data, job.priority, job.due_ms,
                              job.attempts, job.opts, job.rate_key])
        job_key = keys.job(job.id if job is not None else "-")
        reply = await self._run(
            "fire_schedule",
            (keys.schedules, keys.ticks, keys.delayed, *keys.ready, job_key, keys.index,
             keys.meta),
            [now_ms, key, expected_ms, -1 if next_ms is None else next_ms,
             int(job is not None), max_waiting, GROUP, *fields])
        if reply[0] == QUEUE_FULL:
            raise errors.QueueFull(keys.tier, int(reply[1]), int(reply[2]))
        if reply[0] == STALE:
            return False
        if job is not None and reply[1]:
            self._wake(keys)
        return True


def _tick(score: float) -> int | None:
    return None if math.isinf(score) else int(score)


async def due_ticks(
    client: aioredis.Redis, keys: QueueKeys, now_ms: int, limit: int
) -> list[tuple[str, int, str | None]]:
    """Schedules whose pending tick is at or before ``now_ms``: (key, tick, definition)."""
    due: Any = await client.zrangebyscore(keys.ticks, "-inf", now_ms, start=0, num=limit,
                                          withscores=True)
    if not due:
        return []
    definitions: Any = await client.hmget(keys.schedules, [key for key, _ in due])
    return [(key, int(score), text) for (key, score), text in zip(due, definitions, strict=True)]


async def next_tick(client: aioredis.Redis, keys: QueueKeys, after_ms: int) -> int | None:
    """The earliest pending tick of the tier after ``after_ms`` (paused schedules excluded),
    or None."""
    first: Any = await client.zrangebyscore(keys.ticks, f"({after_ms}", "+inf", start=0, num=1,
                                            withscores=True)
    return _tick(first[0][1]) if first else None


async def definition(client: aioredis.Redis, keys: QueueKeys, key: str) -> str | None:
    """One schedule's stored definition (None if absent)."""
    text: Any = await client.hget(keys.schedules, key)
    return None if text is None else str(text)


async def listing(
    client: aioredis.Redis, keys: QueueKeys
) -> list[tuple[str, int | None, bool]]:
    """Every schedule of the tier: (definition, pending tick or None, paused)."""
    async with client.pipeline(transaction=False) as pipe:
        pipe.hgetall(keys.schedules)
        pipe.zrange(keys.ticks, 0, -1, withscores=True)
        definitions, ticks = await pipe.execute()
    scores = dict(ticks)
    rows = []
    for key in sorted(definitions):
        score = scores.get(key)
        paused = score is not None and math.isinf(score)
        rows.append((definitions[key], None if score is None else _tick(score), paused))
    return rows


async def tiers_holding(
    client: aioredis.Redis, keyss: list[QueueKeys], key: str
) -> dict[str, bool]:
    """The tiers (among ``keyss``) that have a schedule called ``key``: whether it is paused
    in each."""
    async with client.pipeline(transaction=False) as pipe:
        for keys in keyss:
            pipe.hexists(keys.schedules, key)
            pipe.zscore(keys.ticks, key)
        found = await pipe.execute()
    return {keys.tier: score is not None and math.isinf(score)
            for keys, present, score in zip(keyss, found[::2], found[1::2], strict=True)
            if present}
