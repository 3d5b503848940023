"""Managing schedules: what ``app.schedule()``, ``app.schedules()``, ``app.unschedule()``,
``app.pause_schedule()`` and ``app.resume_schedule()`` do. Workers fire them
(``worker/scheduler.py``); see docs/scheduling.md."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog

from streamq import codec
from streamq.broker import schedules as store
from streamq.errors import ScheduleNotFound, StreamqError, UnknownJobType
from streamq.processor import resolve_rate_key
from streamq.scheduling.schedule import Schedule, ScheduleInfo, build
from streamq.timeunits import Duration

if TYPE_CHECKING:
    from streamq.app import App
    from streamq.broker.backend import Backend
    from streamq.broker.keys import QueueKeys

log = structlog.get_logger("streamq.schedules")

MAX_TRIES = 20
"""Compare-and-set attempts when other processes update the same schedule at once."""


def _tier_of(app: App, name: str, tier: str | None) -> str:
    if tier is not None:
        return app.queue(tier).name  # raises ConfigurationError for an unknown tier
    processor = app.processors.get(name)
    if processor is None:
        raise UnknownJobType(
            f"no processor registered for {name!r} in this App, so the schedule's tier is "
            "unknown: register it with @app.processor, or pass tier=..."
        )
    return processor.tier


async def schedule(
    app: App, name: str, *, cron: str | None, every: Duration | None, tz: str | None,
    data: Any, key: str | None, tier: str | None, misfire: str, jitter: Duration,
    priority: int, attempts: int | None, timeout: Duration | None,
) -> ScheduleInfo:
    """Validate, then create or update the schedule ``key`` (default: ``name``)."""
    tier_name = _tier_of(app, name, tier)
    processor = app.processors.get(name)
    if processor is not None:
        data = processor.validate(data)
        resolve_rate_key(processor, data, None)  # raises here rather than at every tick
    data_json = codec.encode(data, limit=app.max_payload_bytes)
    definition = build(key=name if key is None else key, name=name, tier=tier_name,
                       cron_expr=cron, every=every, tz=tz, data_json=data_json,
                       misfire=misfire, jitter=jitter, priority=priority, attempts=attempts,
                       timeout=timeout)
    now_ms = app.now_ms()
    first = definition.next_after(now_ms)
    keys = app.queue(tier_name).keys
    backend = await app.backend(keys)
    holders = await store.tiers_holding(backend.client, _all_keys(app), definition.key)
    moved_from = [app.queue(other).keys for other in holders if other != tier_name]
    paused = any(was_paused for other, was_paused in holders.items() if other != tier_name)
    for _ in range(MAX_TRIES):
        current = await store.definition(backend.client, keys, definition.key)
        stored = None if current is None else _readable(current)
        same_timing = stored is not None and stored.timing == definition.timing
        done = await backend.scripts.schedule(keys, definition.key, definition.to_json(), first,
                                              current, same_timing, paused)
        if done is not None:
            # Moved: the old tiers must not fire it too. Deleted only once the new tier
            # holds it, so that an error in between leaves it in both, never in none.
            for old in moved_from:
                await backend.scripts.unschedule(old, definition.key)
            return await _info(backend, keys, definition.key)
    raise StreamqError(f"schedule {definition.key!r} is being changed by other processes at "
                       "the same time; try again")


def _all_keys(app: App) -> list[QueueKeys]:
    return [app.queue(name).keys for name in app.tiers]


async def _info(backend: Backend, keys: QueueKeys, key: str) -> ScheduleInfo:
    for info in await _tier_infos(backend, keys):
        if info.key == key:
            return info
    raise ScheduleNotFound(key)


async def _tier_infos(backend: Backend, keys: QueueKeys) -> list[ScheduleInfo]:
    rows = await store.listing(backend.client, keys)
    readable = [(_readable(text, paused), tick) for text, tick, paused in rows]
    return [ScheduleInfo.of(schedule, tick) for schedule, tick in readable if schedule is not None]


def _readable(text: str, paused: bool = False) -> Schedule | None:
    """A stored definition, or None (logged) if this version cannot read it: scheduling the
    same key again overwrites it."""
    try:
        return Schedule.from_json(text, paused)
    except (ValueError, KeyError, TypeError) as exc:
        log.error("cannot read schedule; skipping it (schedule it again to repair)",
                  definition=text[:200], error=repr(exc))
        return None


async def schedules(app: App, tier: str | None = None) -> list[ScheduleInfo]:
    """Every schedule of ``tier`` (default: every tier the App knows), sorted by key."""
    names = [app.queue(tier).name] if tier is not None else list(app.tiers)
    backend = await app.backend()
    infos: list[ScheduleInfo] = []
    for name in names:
        infos += await _tier_infos(backend, app.queue(name).keys)
    return sorted(infos, key=lambda info: (info.key, info.tier))


async def _holders(app: App, key: str) -> tuple[Backend, list[QueueKeys]]:
    backend = await app.backend()
    tiers = await store.tiers_holding(backend.client, _all_keys(app), key)
    if not tiers:
        raise ScheduleNotFound(key)
    return backend, [app.queue(name).keys for name in tiers]


async def unschedule(app: App, key: str) -> None:
    """Delete the schedule ``key``; jobs it already enqueued stay."""
    backend, holders = await _holders(app, key)
    for keys in holders:
        await backend.scripts.unschedule(keys, key)


async def set_paused(app: App, key: str, paused: bool) -> bool:
    """Pause or resume the schedule ``key``; returns whether its state changed."""
    backend, holders = await _holders(app, key)
    changed = False
    for keys in holders:
        next_ms = None
        if not paused:
            text = await store.definition(backend.client, keys, key)
            if text is None:
                raise ScheduleNotFound(key)
            stored = _readable(text)
            if stored is None:
                raise StreamqError(f"schedule {key!r} cannot be read by this version (the log "
                                   "says why); schedule it again to repair it")
            next_ms = stored.next_after(app.now_ms())
        changed |= await backend.scripts.pause_schedule(keys, key, paused, next_ms)
    return changed
