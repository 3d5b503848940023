"""Opening a Redis client from a URL, checking the server, and translating redis-py errors.

``redis://``, ``rediss://`` (TLS) and ``unix://`` open a redis-py asyncio client;
``redis+cluster://`` a Redis Cluster client and ``redis+sentinel://`` a Sentinel-managed one
(``broker/clients.py``); ``memory://`` opens an embedded fakeredis server private to the App,
and ``memory://NAME`` one shared by every App of the process that names it.
"""

from __future__ import annotations

import asyncio
import os
import re
import ssl
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

import redis
import redis.asyncio as aioredis
import redis.exceptions as rex
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

from streamq import errors
from streamq.broker.clients import (
    CLUSTER_SCHEMES,
    SENTINEL_SCHEMES,
    Opener,
    close_client,
    opener_for,
    split_userinfo,
)
from streamq.broker.multiplex import Multiplexer
from streamq.broker.packing import use_hiredis_packing
from streamq.broker.server_checks import warn_about_settings

if TYPE_CHECKING:
    from streamq.broker.wakeup import Wakeup

DEFAULT_URL = "redis://localhost:6379/0"
SCHEMES = ("redis", "rediss", "unix", "memory", *CLUSTER_SCHEMES, *SENTINEL_SCHEMES)
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
    if scheme not in SCHEMES:
        raise errors.ConfigurationError(
            f"unsupported URL {redact(chosen)!r}: use redis://host:port/db, rediss:// for TLS, "
            "unix:///path/to/socket, redis+cluster://host:port,host:port/ for a Redis Cluster, "
            "redis+sentinel://host:port,host:port/service for Sentinel, or memory:// for the "
            "embedded backend"
        )
    return chosen


def redact(url: str) -> str:
    """``url`` with any password (in the user part or in a ``*password=`` option) replaced
    by ``***``, read from the raw text: a password may hold a raw ``#``, ``/``, ``?`` or
    ``@``, at which ``urlsplit`` would end the user part too early."""
    head, userinfo, rest = split_userinfo(url)
    user, colon, _ = userinfo.partition(":")
    shown = f"{head}{user}:***@{rest}" if colon else url
    return re.sub(r"password=[^&]*", "password=***", shown)


@dataclass(slots=True)
class Connection:
    """One App's Redis client, with what is needed to report its errors well."""

    client: aioredis.Redis
    url: str
    is_memory: bool
    wakeup: Wakeup | None = None
    server: Any = None
    """The embedded fakeredis server (``memory://`` only)."""
    multiplexer: Multiplexer | None = None
    """The connection script calls share, pipelined (a real server reached directly)."""
    opener: Opener | None = None
    """Opens more clients for the URL (real servers only)."""

    @property
    def is_cluster(self) -> bool:
        """Whether the client is a Redis Cluster client."""
        return self.opener is not None and self.opener.is_cluster

    @property
    def safe_url(self) -> str:
        """The URL with its password hidden, for messages and logs."""
        return redact(self.url)

    def __repr__(self) -> str:  # the dataclass repr would show the URL's password
        return f"<Connection {self.safe_url}{' (embedded)' if self.is_memory else ''}>"

    def blocking_client(self) -> aioredis.Redis:
        """A client of its own for long blocking reads; the caller closes it."""
        assert self.opener is not None, "memory:// never blocks in Redis"
        return _open_real(self.opener, pool_size=1)

    async def aclose(self) -> None:
        """Close the shared client."""
        if self.multiplexer is not None:
            await self.multiplexer.aclose()
        await close_client(self.client)
        if self.opener is not None:
            await self.opener.aclose()


def _opener(url: str) -> Opener:
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
        "socket_timeout": SOCKET_TIMEOUT_S,
        "retry": Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), retries=2),
        "client_name": "streamq",
        # RESP2, whatever redis-py's default: redis-py 8.2 made it RESP3, whose replies
        # (maps for XREADGROUP and XINFO, a HELLO round trip per connection) the readers
        # here do not take. Lua replies are the same in both.
        "protocol": 2,
        # Bytes that are not UTF-8 (written by something else) decode to surrogates instead of
        # failing the whole reply: the one bad job is dead-lettered, the rest keep running.
        "encoding_errors": "surrogateescape",
        **_driver_info(),
    }
    try:
        return opener_for(url, options)
    except ValueError as exc:
        raise errors.ConfigurationError(f"bad Redis URL {redact(url)!r}: {exc}") from None


def _driver_info() -> dict[str, Any]:
    """redis-py's name and version for CLIENT SETINFO, given so that redis-py does not read
    its package metadata at the first connection (about 3 ms of every worker's start)."""
    try:
        from redis.driver_info import DriverInfo
    except ImportError:  # an older redis-py, without driver_info
        return {}
    return {"driver_info": DriverInfo(lib_version=redis.__version__)}


def _open_real(opener: Opener, pool_size: int | None = None) -> aioredis.Redis:
    try:
        client = opener.open(pool_size)
    except ValueError as exc:
        raise errors.ConfigurationError(
            f"bad Redis URL {redact(opener.url)!r}: {exc}") from None
    return client if opener.is_cluster else use_hiredis_packing(client)


def open_connection(url: str, server: Any = None) -> Connection:
    """A client for ``url`` (not connected yet: redis-py connects on first use).

    ``server``: the embedded server a ``memory://`` App had before (its ``Connection.server``),
    so that an App reconnecting after ``aclose()`` finds its jobs again.
    """
    parts = urlsplit(url)
    if parts.scheme != "memory":
        opener = _opener(url)
        client = _open_real(opener)
        # A cluster client routes each script call to its slot's node: no one connection.
        multiplexer = None if opener.is_cluster else Multiplexer(client, SOCKET_TIMEOUT_S)
        return Connection(client, url, is_memory=False, multiplexer=multiplexer, opener=opener)
    import fakeredis

    from streamq.broker.wakeup import Wakeup

    name = parts.netloc + parts.path
    if server is None and name:
        server = _memory_servers.get(name)
    if server is None:
        server = fakeredis.FakeServer(version=(7, 0))
        if name:
            _memory_servers[name] = server
    wakeup = _memory_wakeups.setdefault(server, Wakeup())
    client = fakeredis.FakeAsyncRedis(server=server, decode_responses=True,
                                     encoding_errors="surrogateescape")
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
            # Not known to be accepted: redis-py's connect retries outlast this timeout.
            raise errors.ConnectionError(
                f"Redis at {redact(connection.url)} did not answer within "
                f"{FIRST_ANSWER_TIMEOUT_S:g} s: either the host is unreachable (a wrong "
                "address, or a firewall dropping packets), or a server accepted the "
                "connection but does not answer (overloaded, paused by CLIENT PAUSE, or not "
                "a Redis server)"
            ) from None
    check_version(parse_version(info), connection.url)
    await warn_about_settings(connection.client, redact(connection.url))


CLUSTER_ERRORS = (rex.ClusterDownError, rex.TryAgainError, rex.AskError,
                  rex.ClusterCrossSlotError, rex.RedisClusterException)
"""Redis Cluster's refusals (failover, slot moves) and redis-py's cluster client errors."""


def _cluster_error(exc: Exception, url: str) -> errors.StreamqError:
    if isinstance(exc, rex.ClusterCrossSlotError):
        return errors.StreamqError(
            f"a script touched keys of two cluster slots on {redact(url)} ({exc}): this is a "
            "streamq bug, please report it")
    if isinstance(exc, rex.RedisClusterException) and not isinstance(
            exc, rex.SlotNotCoveredError):
        return errors.ConnectionError(
            f"cannot use the Redis Cluster at {redact(url)}: {exc}. Check that the seed nodes "
            "in the URL answer and that every slot is served (redis-cli --cluster check)")
    return errors.ConnectionError(
        f"Redis Cluster at {redact(url)} is failing over or moving slots "
        f"({type(exc).__name__}: {exc}): the call "
        "was refused and did nothing. Workers retry on their own; retry the call (enqueue "
        "again with the same job_id, which is safe)")


@contextmanager
def translate_errors(url: str) -> Iterator[None]:
    """Turn redis-py's connection-level errors into streamq errors that say what to do."""
    try:
        yield
    except Exception as exc:
        raise_translated(exc, url)


def raise_translated(exc: Exception, url: str) -> NoReturn:
    """Raise the streamq error that says what to do about ``exc``, or ``exc`` itself
    (:func:`translate_errors` without the context manager, for the hot path)."""
    better = translated(exc, url)
    if better is None:
        raise exc
    raise better from None


def translated(exc: Exception, url: str) -> Exception | None:
    """The streamq error that says what to do about redis-py's ``exc``, or None to let
    ``exc`` through."""
    if isinstance(exc, errors.StreamqError):  # translated already: a builtin OSError too
        return None
    if isinstance(exc, rex.AuthenticationError):
        return errors.ConnectionError(
            f"Redis at {redact(url)} refused the credentials ({exc}): put the right user and "
            "password in the URL, redis://user:password@host:port/db"
        )
    if isinstance(exc, CLUSTER_ERRORS):
        return _cluster_error(exc, url)
    if isinstance(exc, rex.ResponseError):
        return _refusal(exc, url)
    if isinstance(exc, rex.ConnectionError | rex.TimeoutError | OSError):
        if "SSL" in str(exc) or isinstance(exc, ssl.SSLError):
            return errors.ConnectionError(
                f"TLS handshake with Redis at {redact(url)} failed: {exc}. Check the URL's "
                "ssl_ca_certs (the CA that signed the server's certificate), ssl_certfile and "
                "ssl_keyfile (when the server sets tls-auth-clients), and that the host name "
                "matches the certificate (docs/security.md)"
            )
        return errors.ConnectionError(
            f"cannot reach Redis at {redact(url)}: {exc}. Is redis-server running there? "
            "Set the URL with App(url), --url or STREAMQ_URL. If a call timed out, its outcome "
            "is unknown: enqueue again with the same job_id, which is safe" + _tls_hint(url, exc)
        )
    return None


def _refusal(exc: rex.ResponseError, url: str) -> errors.StreamqError | None:
    """The streamq error for a command Redis refused, or None to re-raise it as is."""
    if "can't run this command" in str(exc):  # NOPERM inside a script (Redis 7.0)
        return errors.ConnectionError(
            f"Redis at {redact(url)} denied {_script_command(str(exc))} ({exc}): the "
            "user's ACL lacks a command streamq needs; grant the list in docs/security.md"
        )
    code = _error_code(str(exc))
    if isinstance(exc, rex.NoPermissionError) or code in ("NOAUTH", "NOPERM", "WRONGPASS"):
        return errors.ConnectionError(
            f"Redis at {redact(url)} denied the command ({exc}): check the user and "
            "password in the URL, and that the user's ACL grants the commands and the key "
            "pattern streamq needs (docs/security.md)"
        )
    if "DB index is out of range" in str(exc):
        return errors.ConfigurationError(
            f"Redis at {redact(url)} has no such database: the URL's /N (or ?db=N) must be "
            "below the server's `databases` setting (16 by default: 0 to 15)")
    if "NOGROUP" in str(exc) or str(exc).startswith("UNBLOCKED the stream key"):
        return errors.QueueStateLost(
            f"queue state lost on Redis at {redact(url)}: a consumer group is missing "
            "(Redis restarted without persistence, or its keys were deleted). Workers "
            "recreate it; run Redis with appendonly yes to keep jobs across restarts"
        )
    if isinstance(exc, rex.OutOfMemoryError) or code == "OOM":
        return errors.RedisFull(
            f"Redis at {redact(url)} is full (used memory is over maxmemory) and refused "
            "the write: nothing was written. Workers keep draining the queues; retry later, "
            "raise maxmemory, or keep fewer finished jobs (Tier keep_completed / "
            "keep_failed). See docs/operations.md, 'Redis is full'"
        )
    if code == "UNBLOCKED":  # a blocked read ended by a failover (master -> replica)
        return errors.ConnectionError(
            f"Redis at {redact(url)} ended a blocking read ({exc}): it is changing role "
            "(failover?); workers reconnect and read again")
    if code in ("BUSY", "MISCONF"):
        return _busy_or_misconfigured(code, url)
    if code == "NOREPLICAS":
        return errors.ConnectionError(
            f"Redis at {redact(url)} refused the write ({exc}): fewer replicas are in sync "
            "than its min-replicas-to-write asks for, so nothing was written; retry when "
            "the replicas catch up (docs/reliability.md)"
        )
    return None


def _error_code(message: str) -> str:
    """A refusal's code: its first word, or for a refusal met inside a script on Redis
    before 7.0, the code that Redis wrapped ("ERR Error running script (call to f_<sha>):
    @user_script:3: @user_script: 3: -OOM command not allowed ...")."""
    if message.startswith("ERR Error running script"):
        found = SCRIPT_REFUSAL.search(message)
        if found:
            return found.group(1)
    return message.split(" ", 1)[0]


SCRIPT_REFUSAL = re.compile(r"\s-([A-Z]{3,})\b")


def _busy_or_misconfigured(code: str, url: str) -> errors.ConnectionError:
    """Redis refusing every command while another client's script runs (BUSY), or every
    write while it cannot persist (MISCONF: a failed RDB save, or AOF write errors)."""
    if code == "BUSY":
        return errors.ConnectionError(
            f"Redis at {redact(url)} is busy running another client's script or function and "
            "refuses every command until it ends: nothing was done. Wait for it, or stop it "
            "with SCRIPT KILL (FUNCTION KILL for a function); workers retry on their own")
    return errors.ConnectionError(
        f"Redis at {redact(url)} cannot persist to disk (its RDB save or AOF write failed) "
        "and refuses writes until it can (MISCONF): nothing was written. Check the server's "
        "log and its disk (free space, permissions of its dir); for a failed RDB save, "
        "stop-writes-on-bgsave-error no lets writes through meanwhile. Workers retry on "
        "their own (docs/operations.md)")


def _script_command(message: str) -> str:
    """"the 'XADD' command in the enqueue script", from Redis's "script: <sha>, on
    @user_script:<line>" (which does not name the command), else "a command in a script"."""
    from streamq.broker.scripts import script_line

    found = re.search(r"script: ([0-9a-f]{40}), on @user_script:(\d+)", message)
    located = script_line(found.group(1), int(found.group(2))) if found else None
    if located is None:
        return "a command in a streamq script"
    name, line = located
    command = re.search(r"(?:redis\.call|call_batched)\('(\w+)'", line)
    what = f"the {command.group(1)!r} command" if command else "a command"
    return f"{what} in the {name} script"


def _tls_hint(url: str, exc: BaseException) -> str:
    """What to check when the server hung up on us, which is how TLS mismatches look."""
    text = str(exc).lower()
    if not any(word in text for word in ("reset", "closed", "broken pipe", "eof")):
        return ""
    if urlsplit(url).scheme == "rediss":
        return (". The server closed the TLS connection: if it requires client certificates "
                "(tls-auth-clients yes), add ssl_certfile=...&ssl_keyfile=... to the URL "
                "(docs/security.md)")
    return ". If the server accepts only TLS, use a rediss:// URL (docs/security.md)"
