"""Opening redis-py clients for each kind of Redis URL: one server, a Cluster, or Sentinel.

- ``redis://``, ``rediss://``, ``unix://``: one server (redis-py's own URL parsing).
- ``redis+cluster://[user:password@]host:port[,host:port...][/][?options]`` (``rediss+cluster``
  for TLS): a Redis Cluster, found through any of the seed nodes listed.
- ``redis+sentinel://[user:password@]host:port[,host:port...]/service[/db][?options]``
  (``rediss+sentinel`` for TLS): the current master of ``service``, as the sentinels listed
  name it. The credentials are the Redis server's; ``sentinel_username`` and
  ``sentinel_password`` options give the sentinels' own, if they need any.

Query options are redis-py's (``ssl_ca_certs=...``, ``socket_timeout=...``, ``db=...``) for
every form; a Cluster refuses a database other than 0. A ``#``, ``/`` or ``?`` in the user
or password must be percent-encoded: a raw one is refused, before redis-py's parsing could
quote part of the password in its error.
A Cluster client is a ``RedisCluster``; streamq types every client as ``redis.asyncio.Redis``,
whose command methods ``RedisCluster`` shares, and checks ``Opener.is_cluster`` where they
differ (loading scripts).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast
from urllib.parse import unquote, urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import parse_url
from redis.asyncio.sentinel import Sentinel

CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
CLUSTER_MAX_CONNECTIONS = 10_000
"""Per node. redis-py's cluster client raises instead of waiting when a node's pool is
full (default 100), so the shared client is made as unbounded as the single-server one."""
DEFAULT_PORTS = {"cluster": 6379, "sentinel": 26379}


class Opener:
    """Opens clients for one URL: the App's shared client, and single-connection clients
    for blocking reads. Closing it closes what it holds besides those clients."""

    is_cluster = False

    def __init__(self, url: str, options: dict[str, Any]) -> None:
        self.url = url
        self.options = options
        parts = urlsplit(url)
        db = parts.path.strip("/")
        if parts.scheme in ("redis", "rediss") and db and not db.isdigit():
            # redis-py would quietly use database 0
            raise ValueError(f"the database in the URL's path must be a number, as in "
                             f"redis://host:6379/0, got {parts.path!r}")

    def open(self, pool_size: int | None = None) -> aioredis.Redis:
        """A new client (``pool_size``: at most that many connections, per node)."""
        options = dict(self.options)
        if pool_size is not None:
            options["max_connections"] = pool_size
        return aioredis.Redis.from_url(self.url, **options)

    async def aclose(self) -> None:
        """Release anything held besides the clients (which their users close)."""


class ClusterOpener(Opener):
    """Clients of a Redis Cluster, discovered from the seed nodes of the URL."""

    is_cluster = True

    def __init__(self, url: str, options: dict[str, Any]) -> None:
        super().__init__(url, options)
        self.nodes, self.kwargs = _parse_multi_host(url, "cluster")
        if urlsplit(url).path.strip("/") not in ("", "0") or self.kwargs.pop("db", 0) != 0:
            raise ValueError("a cluster has only database 0: drop the /db part and the db "
                             "option of the URL")

    def open(self, pool_size: int | None = None) -> aioredis.Redis:
        options = {**self.options, **self.kwargs,
                   "max_connections": pool_size or CLUSTER_MAX_CONNECTIONS}
        cluster = RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in self.nodes], **options)
        return cast("aioredis.Redis", cluster)


class SentinelOpener(Opener):
    """Clients of the master that the sentinels name for the URL's service; they follow
    a failover by asking the sentinels again when the master stops answering as one."""

    def __init__(self, url: str, options: dict[str, Any]) -> None:
        super().__init__(url, options)
        self.nodes, self.kwargs = _parse_multi_host(url, "sentinel")
        path = [unquote(part) for part in urlsplit(url).path.split("/") if part]
        if not 1 <= len(path) <= 2:
            raise ValueError("name the monitored service: redis+sentinel://host:port/service")
        self.service = path[0]
        if (db := _sentinel_db(path[1:], self.kwargs.pop("db", None))) is not None:
            self.kwargs["db"] = db
        sentinel_kwargs = {k: v for k, v in {**options, **self.kwargs}.items()
                           if k.startswith(("socket_", "ssl"))}
        for name in ("username", "password"):
            if (value := self.kwargs.pop(f"sentinel_{name}", None)) is not None:
                sentinel_kwargs[name] = value
        make_sentinel: Callable[..., Sentinel] = Sentinel  # redis-py leaves it untyped
        self._sentinel = make_sentinel(self.nodes, sentinel_kwargs=sentinel_kwargs)

    def open(self, pool_size: int | None = None) -> aioredis.Redis:
        options = {**self.options, **self.kwargs}
        if pool_size is not None:
            options["max_connections"] = pool_size
        client: aioredis.Redis = self._sentinel.master_for(self.service, **options)
        return client

    async def aclose(self) -> None:
        await self._sentinel.aclose()


async def close_client(client: aioredis.Redis) -> None:
    """Close ``client``. A cluster client whose discovery of the nodes was cancelled is
    closed too (redis-py's ``aclose`` skips it, leaving the seed node's socket open)."""
    await client.aclose()
    if isinstance(client, RedisCluster):
        await client.nodes_manager.aclose("startup_nodes")
        await client.nodes_manager.aclose()


OPENERS: dict[str, Callable[[str, dict[str, Any]], Opener]] = {
    **dict.fromkeys(CLUSTER_SCHEMES, ClusterOpener),
    **dict.fromkeys(SENTINEL_SCHEMES, SentinelOpener),
}


def opener_for(url: str, options: dict[str, Any]) -> Opener:
    """The opener for ``url``; raises ``ValueError`` if the URL is malformed."""
    if any(char in split_userinfo(url)[1] for char in "#/?"):
        raise ValueError(
            "the user or password has a raw '#', '/' or '?': percent-encode them, as %23, "
            "%2F and %3F")
    factory = OPENERS.get(urlsplit(url).scheme, Opener)
    return factory(url, options)


def split_userinfo(url: str) -> tuple[str, str, str]:
    """``url``'s raw text as ``(scheme://, user info, rest)``, the user info ``""`` if none.

    ``urlsplit`` ends the user info at the first raw ``#``, ``/`` or ``?`` of a password;
    here it runs to the last ``@`` before the query, so that all of such a password is in
    it, while an ``@`` in an option value (``?client_name=svc@prod``) is not taken for its
    end. A password with a raw ``?`` puts its ``@`` after the first ``?``: that ``@`` ends
    the user info unless the text between them reads as an option (``key=value``). A URL
    whose rest starts with ``/`` (``unix:///path``) has none.
    """
    head, sep, rest = url.partition("://")
    if not sep or rest.startswith("/"):
        return head + sep, "", rest
    query_at = rest.find("?")
    before_query = rest if query_at < 0 else rest[:query_at]
    userinfo, at, after = before_query.rpartition("@")
    if at:
        return head + sep, userinfo, after + rest[len(before_query):]
    last_at = rest.rfind("@")
    if query_at < 0 or last_at < query_at or "=" in rest[query_at:last_at]:
        return head + sep, "", rest
    return head + sep, rest[:last_at], rest[last_at + 1:]


def _sentinel_db(path_db: list[str], query_db: int | None) -> int | None:
    """The database a Sentinel URL names, as ``/service/db`` or ``?db=``, else None."""
    db = int(path_db[0]) if path_db else None
    if db is not None and query_db is not None and db != query_db:
        raise ValueError(f"the URL names two databases, /{db} and ?db={query_db}: keep one")
    return query_db if db is None else db


def _parse_multi_host(
    url: str, kind: str
) -> tuple[list[tuple[str, int]], dict[str, Any]]:
    """The ``(host, port)`` list of a multi-host URL, and redis-py's keyword arguments for
    its credentials and query options (``ssl=True`` for the ``rediss+`` schemes)."""
    parts = urlsplit(url)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    nodes = [_host_port(item, DEFAULT_PORTS[kind]) for item in hosts.split(",") if item]
    if not nodes:
        raise ValueError(f"name at least one {kind} node: host:port[,host:port...]")
    tls = parts.scheme.startswith("rediss")
    netloc = f"{userinfo}@{hosts.split(',')[0]}" if userinfo else hosts.split(",")[0]
    kwargs: dict[str, Any] = dict(parse_url(urlunsplit(("redis", netloc, "", parts.query, ""))))
    for name in ("host", "port", "connection_class"):
        kwargs.pop(name, None)
    if tls:
        kwargs["ssl"] = True
    return nodes, kwargs


def _host_port(item: str, default_port: int) -> tuple[str, int]:
    if item.startswith("["):
        host, _, rest = item[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        host, _, port = item.partition(":")
    if not host:
        raise ValueError(f"missing host in {item!r}")
    return host, int(port) if port else default_port
