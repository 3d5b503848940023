"""Start-up warnings about server settings that put jobs at risk.

Two settings matter to a job queue: ``maxmemory-policy`` (anything but ``noeviction`` lets
Redis evict job hashes and streams silently when it is full) and persistence (with neither
AOF nor RDB save points, a restart loses every job and the consumer groups). Each is read with
``CONFIG GET`` and, where CONFIG is renamed, disabled or denied by the ACL, from ``INFO``.
A setting that cannot be read at all is not guessed at: nothing is logged for it.
"""

from __future__ import annotations

import contextlib
from typing import Any, NamedTuple

import redis.asyncio as aioredis
import redis.exceptions as rex
import structlog

log = structlog.get_logger("streamq")


class ServerSettings(NamedTuple):
    """What the server says about eviction and persistence (``None``: could not be read)."""

    maxmemory_policy: str | None
    appendonly: bool | None
    save_points: bool | None
    """Whether RDB snapshots are configured (``save`` is not empty)."""
    source: str
    """``"CONFIG"`` or ``"INFO"``: where the values came from."""


async def read_settings(client: aioredis.Redis) -> ServerSettings:
    """The server's eviction policy and persistence, via CONFIG GET, else INFO."""
    try:
        config: dict[Any, Any] = {}
        for name in ("maxmemory-policy", "appendonly", "save"):
            config.update(await client.config_get(name))
    except rex.ResponseError:  # CONFIG renamed/disabled (unknown command) or denied (NOPERM)
        return await _from_info(client)
    policy = config.get("maxmemory-policy")
    appendonly = config.get("appendonly")
    save = config.get("save")
    return ServerSettings(
        maxmemory_policy=policy if policy else None,
        appendonly=None if appendonly is None else appendonly == "yes",
        save_points=None if save is None else bool(save.strip()),
        source="CONFIG",
    )


async def _from_info(client: aioredis.Redis) -> ServerSettings:
    values: dict[str, Any] = {}
    for section in ("memory", "persistence"):
        with contextlib.suppress(rex.ResponseError):
            values.update(await client.info(section))
    aof = values.get("aof_enabled")
    policy = values.get("maxmemory_policy")
    return ServerSettings(
        maxmemory_policy=str(policy) if policy is not None else None,
        appendonly=None if aof is None else bool(int(aof)),
        save_points=None,  # INFO does not show the save points
        source="INFO",
    )


def warnings_for(settings: ServerSettings) -> list[tuple[str, dict[str, Any]]]:
    """The warnings (message, fields) these settings deserve; empty when all is well."""
    found: list[tuple[str, dict[str, Any]]] = []
    policy = settings.maxmemory_policy
    if policy is not None and policy != "noeviction":
        found.append((
            "Redis may evict job data when full: maxmemory-policy is not noeviction. Jobs "
            "can vanish silently; set `maxmemory-policy noeviction` (streamq then refuses new "
            "jobs with RedisFull and workers keep draining)",
            {"maxmemory_policy": policy},
        ))
    if settings.appendonly is False and settings.save_points is not True:
        unknown_rdb = settings.save_points is None
        found.append((
            "Redis persistence looks off: AOF is disabled"
            + (" (RDB save points could not be read: CONFIG is not available)" if unknown_rdb
               else " and there are no RDB save points")
            + ". A restart loses every job; set `appendonly yes` (docs/operations.md)",
            {"appendonly": "no", "save": "unknown" if unknown_rdb else "", "source":
             settings.source},
        ))
    return found


async def warn_about_settings(client: aioredis.Redis, safe_url: str) -> ServerSettings | None:
    """Log a warning for each risky setting (once per connect). Never raises for a setting
    it cannot read; returns what it read (``None`` if nothing could be read)."""
    try:
        settings = await read_settings(client)
    except rex.RedisError as exc:
        log.debug("could not read the server's settings", url=safe_url, error=str(exc))
        return None
    for message, fields in warnings_for(settings):
        log.warning(message, url=safe_url, **fields)
    return settings
