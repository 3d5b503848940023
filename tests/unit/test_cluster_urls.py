"""Cluster and Sentinel URLs: parsing into redis-py's arguments, redaction, and the errors
for malformed ones (no server needed: clients connect on first use)."""

from __future__ import annotations

import pytest
import redis.exceptions as rex

from streamq import App, ConfigurationError, ConnectionError, StreamqError
from streamq.broker.clients import ClusterOpener, SentinelOpener
from streamq.broker.connection import redact, resolve_url, translate_errors


@pytest.mark.parametrize("url", [
    "redis+cluster://a:1,b:2/", "rediss+cluster://a:1", "redis+sentinel://a:1/svc",
    "rediss+sentinel://a:1,b:2/svc/3",
])
def test_cluster_and_sentinel_schemes_are_accepted(url: str) -> None:
    assert resolve_url(url) == url


def test_unknown_scheme_names_the_cluster_and_sentinel_forms() -> None:
    with pytest.raises(ConfigurationError, match=r"redis\+cluster://.*redis\+sentinel://"):
        resolve_url("http://localhost")


def test_cluster_url_lists_seed_nodes_credentials_and_options() -> None:
    opener = ClusterOpener(
        "rediss+cluster://bob:p%40ss@n1:7000,[::1]:7001,n3/?ssl_ca_certs=/ca.pem", {})
    assert opener.is_cluster
    assert opener.nodes == [("n1", 7000), ("::1", 7001), ("n3", 6379)]
    assert opener.kwargs == {"username": "bob", "password": "p@ss", "ssl": True,
                             "ssl_ca_certs": "/ca.pem"}


def test_sentinel_url_names_service_database_and_sentinel_credentials() -> None:
    opener = SentinelOpener(
        "redis+sentinel://:pw@s1:26380,s2/mymaster/2?sentinel_password=spw", {})
    assert not opener.is_cluster
    assert opener.nodes == [("s1", 26380), ("s2", 26379)]
    assert opener.service == "mymaster"
    assert opener.kwargs == {"password": "pw", "db": 2}


@pytest.mark.parametrize(("url", "message"), [
    ("redis+sentinel://s1:26379", "name the monitored service"),
    ("redis+sentinel://s1:26379/a/1/x", "name the monitored service"),
    ("redis+cluster:///", "at least one cluster node"),
    ("redis+cluster://n1:70x0/", "70x0"),
    ("redis+cluster://n1/2", "only database 0"),
])
async def test_malformed_urls_are_configuration_errors(url: str, message: str) -> None:
    app = App(url)
    with pytest.raises(ConfigurationError, match=message):
        await app.connect()


@pytest.mark.parametrize(("url", "shown"), [
    ("redis+cluster://u:secret@h1:1,h2:2/", "redis+cluster://u:***@h1:1,h2:2/"),
    ("redis+sentinel://:secret@h1:1,h2:2/svc?sentinel_password=other",
     "redis+sentinel://:***@h1:1,h2:2/svc?sentinel_password=***"),
    ("redis://u:p@ss:word@h:1/0", "redis://u:***@h:1/0"),
    ("redis://h:1/0?password=secret&db=1", "redis://h:1/0?password=***&db=1"),
    ("redis://user@h:1/0", "redis://user@h:1/0"),
])
def test_redact_hides_every_password(url: str, shown: str) -> None:
    assert redact(url) == shown
    assert repr(App(url)).count("secret") == 0


@pytest.mark.parametrize("error", [
    rex.ClusterDownError("CLUSTERDOWN The cluster is down"),
    rex.TryAgainError("TRYAGAIN Multiple keys request during rehashing of slot"),
    rex.MovedError("3999 127.0.0.1:6381"),
    rex.AskError("3999 127.0.0.1:6381"),
    rex.SlotNotCoveredError("slot 3999 is not covered"),
])
def test_cluster_refusals_become_retryable_connection_errors(error: Exception) -> None:
    """Workers retry a streamq ConnectionError after a pause; so does a careful producer."""
    with pytest.raises(ConnectionError, match=r"u:\*\*\*@h1:1/ is failing over or moving slots"), \
            translate_errors("redis+cluster://u:secret@h1:1/"):
        raise error


def test_crossslot_is_reported_as_a_streamq_bug() -> None:
    with pytest.raises(StreamqError, match="streamq bug"), translate_errors("redis+cluster://h/"):
        raise rex.ClusterCrossSlotError("CROSSSLOT Keys in request don't hash to the same slot")


@pytest.mark.parametrize(("url", "db"), [
    ("redis+sentinel://:pw@h1,h2:26380/mymaster?db=3", 3),
    ("redis+sentinel://:pw@h1/mymaster/3", 3),
    ("redis+sentinel://:pw@h1/mymaster/3?db=3", 3),
    ("redis+sentinel://:pw@h1/mymaster", 0),
])
async def test_sentinel_url_database_reaches_the_master_client(url: str, db: int) -> None:
    """``?db=N`` means what it means for one server, as does ``/service/N``; the clients
    opened for the master use that database."""
    opener = SentinelOpener(url, {})
    client = opener.open()
    try:
        assert client.connection_pool.connection_kwargs.get("db", 0) == db
    finally:
        await client.aclose()
        await opener.aclose()


async def test_sentinel_url_naming_two_different_databases_is_refused() -> None:
    app = App("redis+sentinel://:secret@h1/mymaster/2?db=3")
    with pytest.raises(ConfigurationError, match="two databases") as caught:
        await app.connect()
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize("url", ["redis+cluster://n1/?db=2", "redis+cluster://u:pw@n1:7000?db=1",
                                 "rediss+cluster://n1,n2/0?db=5"])
async def test_cluster_url_with_a_db_option_is_refused(url: str) -> None:
    """A db option on a cluster URL was dropped silently: jobs went to db 0 unannounced."""
    app = App(url)
    with pytest.raises(ConfigurationError, match="a cluster has only database 0"):
        await app.connect()


@pytest.mark.parametrize("url", ["redis+cluster://n1/?db=0", "redis+cluster://n1/0"])
def test_cluster_url_naming_database_0_is_accepted(url: str) -> None:
    assert ClusterOpener(url, {}).kwargs == {}
