"""Opening a Redis client from a URL, checking the server, and translating redis-py errors.

``redis://``, ``rediss://`` (TLS) and ``unix://`` open a redis-py asyncio client;
``memory://`` opens an embedded fakeredis server private to the App, and ``memory://NAME``
one shared by every App of the process that names it.
"""

from __future__ import annotations

import asyncio
import os
import re
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
import redis.exceptions as rex
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

from streamq import errors
from streamq.broker.wakeup import Wakeup

DEFAULT_URL = "redis://localhost:6379/0"
MIN_VERSION = (6, 2)
CONNECT_TIMEOUT_S = 3.0
FIRST_ANSWER_TIMEOUT_S = 5.0
"""How long the first command may take before the server is reported as not answering."""
SOCKET_TIMEOUT_S = 15.0
"""Longer than any blocking read streamq makes (5 s), shorter than a hang."""

_memory_servers: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()
_memory_wakeups: weakref.WeakKeyDictionary[Any, Wakeup] = weakref.WeakKeyDictionary()


def resolve_url(url: str | None) -> str:
    """The URL to use: ``url``, else ``$STREAMQ_URL``, else the local default."""
    chosen = url or os.environ.get("STREAMQ_URL") or DEFAULT_URL
    scheme = urlsplit(chosen).scheme
    if scheme not in ("redis", "rediss", "unix", "memory"):
        raise errors.ConfigurationError(
            f"unsupported URL {redact(chosen)!r}: use redis://host:port/db, rediss:// for TLS, "
            "unix:///path/to/socket, or memory:// for the embedded backend"
        )
    return chosen


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return re.sub(r"password=[^&]*", "password=***", url)
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(slots=True)
class Connection:
    """One App's Redis client, with what is needed to report its errors well."""

    client: aioredis.Redis
    url: str
    is_memory: bool
    wakeup: Wakeup | None = None
    server: Any = None
    """The embedded fakeredis server (``memory://`` only)."""

    @property
    def safe_url(self) -> str:
        """The URL with its password hidden, for messages and logs."""
        return redact(self.url)

    def blocking_client(self) -> aioredis.Redis:
        """A client of its own for long blocking reads; the caller closes it."""
        return _open_real(self.url, pool_size=1)

    async def aclose(self) -> None:
        """Close the shared client."""
        await self.client.aclose()


def _open_real(url: str, pool_size: int | None = None) -> aioredis.Redis:
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
        "socket_timeout": SOCKET_TIMEOUT_S,
        "retry": Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), retries=2),
        "client_name": "streamq",
    }
    if pool_size is not None:
        options["max_connections"] = pool_size
    try:
        return aioredis.Redis.from_url(url, **options)
    except ValueError as exc:
        raise errors.ConfigurationError(f"bad Redis URL {redact(url)!r}: {exc}") from None


def open_connection(url: str, server: Any = None) -> Connection:
    """A client for ``url`` (not connected yet: redis-py connects on first use).

    ``server``: the embedded server a ``memory://`` App had before (its ``Connection.server``),
    so that an App reconnecting after ``aclose()`` finds its jobs again.
    """
    parts = urlsplit(url)
    if parts.scheme != "memory":
        return Connection(_open_real(url), url, is_memory=False)
    import fakeredis

    name = parts.netloc + parts.path
    if server is None and name:
        server = _memory_servers.get(name)
    if server is None:
        server = fakeredis.FakeServer(version=(7, 0))
        if name:
            _memory_servers[name] = server
    wakeup = _memory_wakeups.setdefault(server, Wakeup())
    client = fakeredis.FakeAsyncRedis(server=server, decode_responses=True)
    return Connection(client, url, is_memory=True, wakeup=wakeup, server=server)


def parse_version(info: dict[str, Any]) -> tuple[int, ...]:
    """The server version from ``INFO server``, as a tuple of ints."""
    return tuple(int(part) for part in str(info.get("redis_version", "0")).split(".")[:3])


def check_version(version: tuple[int, ...], url: str) -> None:
    """Raise :class:`RedisVersionError` if ``version`` is older than streamq needs."""
    if version < MIN_VERSION:
        found = ".".join(map(str, version))
        raise errors.RedisVersionError(
            f"Redis at {redact(url)} is version {found}; streamq needs "
            f"{'.'.join(map(str, MIN_VERSION))} or newer (XAUTOCLAIM): upgrade the server"
        )


async def check_server(connection: Connection) -> None:
    """Fail early, clearly, if the server is unreachable, refuses us, or is too old."""
    if connection.is_memory:
        return
    with translate_errors(connection.url):
        try:
            async with asyncio.timeout(FIRST_ANSWER_TIMEOUT_S):
                info = await connection.client.info("server")
        except TimeoutError:
            raise errors.ConnectionError(
                f"Redis at {redact(connection.url)} accepted the connection but did not answer "
                f"within {FIRST_ANSWER_TIMEOUT_S:g} s: is it overloaded, paused (CLIENT PAUSE), "
                "or not a Redis server?"
            ) from None
    check_version(parse_version(info), connection.url)


@contextmanager
def translate_errors(url: str) -> Iterator[None]:
    """Turn redis-py's connection-level errors into streamq errors that say what to do."""
    try:
        yield
    except rex.AuthenticationError as exc:
        raise errors.ConnectionError(
            f"Redis at {redact(url)} refused the credentials ({exc}): put the right user and "
            "password in the URL, redis://user:password@host:port/db"
        ) from None
    except rex.ResponseError as exc:
        if str(exc).startswith(("NOAUTH", "NOPERM", "WRONGPASS")):
            raise errors.ConnectionError(
                f"Redis at {redact(url)} denied the command ({exc}): check the user and "
                "password in the URL and the user's ACL (docs/security.md)"
            ) from None
        if "NOGROUP" in str(exc):
            raise errors.QueueStateLost(
                f"queue state lost on Redis at {redact(url)}: a consumer group is missing "
                "(Redis restarted without persistence, or its keys were deleted). Workers "
                "recreate it; run Redis with appendonly yes to keep jobs across restarts"
            ) from None
        if str(exc).startswith("OOM"):
            raise errors.ConnectionError(
                f"Redis at {redact(url)} is out of memory ({exc}): nothing was written; "
                "let workers drain the queues, or raise maxmemory"
            ) from None
        raise
    except (rex.ConnectionError, rex.TimeoutError, OSError) as exc:
        raise errors.ConnectionError(
            f"cannot reach Redis at {redact(url)}: {exc}. Is redis-server running there? "
            "Set the URL with App(url), --url or STREAMQ_URL. If a call timed out, its outcome "
            "is unknown: enqueue again with the same job_id, which is safe"
        ) from None
