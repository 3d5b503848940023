"""Fast command sending: redis-py's asyncio connections build the wire format in Python and
wrap every socket write in ``asyncio.wait_for`` (a task per command); together they were
two thirds of an enqueue's CPU. hiredis (a redis-py extra streamq already depends on) packs
in C, and a small write needs no timeout of its own."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection

SMALL_WRITE = 64 * 1024
"""asyncio's default write-buffer high-water mark: a command smaller than this goes to the
transport's buffer without waiting, so the write cannot hang and needs no timeout (the
reply's read keeps its timeout and notices a server that stopped answering)."""


class HiredisPacking(AbstractConnection):
    """Mixin for a redis-py asyncio connection class: ``pack_command`` in C, and small
    writes without a task-spawning ``wait_for``.

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

    async def send_packed_command(
        self, command: bytes | str | Iterable[bytes], check_health: bool = True
    ) -> None:
        timeout = self.socket_timeout
        if (not timeout or not self.is_connected or not isinstance(command, list)
                or sum(map(len, command)) >= SMALL_WRITE):
            return await super().send_packed_command(command, check_health)
        self.socket_timeout = None
        try:
            await super().send_packed_command(command, check_health)
        finally:
            self.socket_timeout = timeout


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
