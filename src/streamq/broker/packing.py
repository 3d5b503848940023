"""Fast command packing for the redis-py connections streamq keeps (reads, blocking reads,
script loading): redis-py builds the wire format in Python, which was the largest single
cost of a command; hiredis (a redis-py extra streamq already depends on) packs in C. Script
calls go through :mod:`streamq.broker.multiplex`, which packs with hiredis itself."""

from __future__ import annotations

from typing import Any

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection


class HiredisPacking(AbstractConnection):
    """Mixin for a redis-py asyncio connection class: ``pack_command`` in C.

    Arguments hiredis does not take (bool, None, unencodable text) fall back to redis-py's
    own packing, so errors stay redis-py's ``DataError``.
    """

    def pack_command(self, *args: Any) -> list[bytes]:
        first = args[0]
        # redis-py sends multi-word commands ("SCRIPT LOAD") as one argument; Redis wants them
        # split, as redis-py's own packing does.
        if (isinstance(first, str) and " " in first) or (
                isinstance(first, bytes) and b" " in first):
            args = (*first.split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]
        except (TypeError, UnicodeEncodeError):
            return super().pack_command(*args)


_variants: dict[type[AbstractConnection], type[AbstractConnection]] = {}


def _with_hiredis_packing(base: type[AbstractConnection]) -> type[AbstractConnection]:
    if issubclass(base, HiredisPacking):
        return base
    if base not in _variants:
        _variants[base] = type(f"Hiredis{base.__name__}", (HiredisPacking, base), {})
    return _variants[base]


def use_hiredis_packing(client: aioredis.Redis) -> aioredis.Redis:
    """Make ``client``'s connections (TCP, TLS or Unix socket) pack commands with hiredis."""
    pool = client.connection_pool
    pool.connection_class = _with_hiredis_packing(pool.connection_class)
    return client
