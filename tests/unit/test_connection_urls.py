"""Passwords written with raw ``#``, ``/``, ``?`` or ``@`` (not percent-encoded) are hidden
like any other: ``urlsplit`` cuts the authority at the first ``#``, ``/`` or ``?``, so the
redaction reads the URL's raw text instead. No server needed: such a URL is refused before
any connection is made."""

from __future__ import annotations

import pytest
import structlog

import streamq
from streamq import App, ConfigurationError
from streamq.broker.clients import opener_for
from streamq.broker.connection import redact

SECRET = "s3cr"
"""The part of each password before its first raw special character, which urlsplit would
take for the host or port."""

RAW_PASSWORDS = [
    ("redis://:s3cr#t@localhost/0", "redis://:***@localhost/0"),
    ("redis://:s3cr/t@localhost/0", "redis://:***@localhost/0"),
    ("redis://:s3cr?t@localhost/0", "redis://:***@localhost/0"),
    ("redis://user:s3cr#t@h:6379/2?db=2", "redis://user:***@h:6379/2?db=2"),
    ("redis://user:8/s3cr@h:6379/0", "redis://user:***@h:6379/0"),
    ("redis://user:s3cr@a/b#c@h:1/0", "redis://user:***@h:1/0"),
    ("rediss://u:s3cr?x#y/z@h:6380/0?ssl_password=s3cr#k",
     "rediss://u:***@h:6380/0?ssl_password=***"),
    ("unix://user:s3cr/t@/run/redis.sock?db=0", "unix://user:***@/run/redis.sock?db=0"),
    ("redis+cluster://u:s3cr#t@h1:1,h2:2/", "redis+cluster://u:***@h1:1,h2:2/"),
    ("redis+sentinel://:s3cr#t@h1,h2:26380/svc?db=3", "redis+sentinel://:***@h1,h2:26380/svc?db=3"),
    ("rediss+sentinel://:s3cr/x@h1/svc/1?sentinel_password=s3cr",
     "rediss+sentinel://:***@h1/svc/1?sentinel_password=***"),
]


@pytest.mark.parametrize(("url", "shown"), RAW_PASSWORDS)
def test_redact_hides_a_password_with_raw_special_characters(url: str, shown: str) -> None:
    assert redact(url) == shown
    assert SECRET not in repr(App(url))


@pytest.mark.parametrize(("url", "shown"), [
    ("unix:///run/user@1000/redis.sock", "unix:///run/user@1000/redis.sock"),
    ("redis://user@h:1/0", "redis://user@h:1/0"),
    ("redis://@h:1/0", "redis://@h:1/0"),
    ("memory://shared", "memory://shared"),
])
def test_redact_leaves_urls_without_a_password_alone(url: str, shown: str) -> None:
    assert redact(url) == shown


@pytest.mark.parametrize("url", [
    "redis://localhost:1/0?client_name=svc@prod",
    "rediss://h:6380/0?ssl_ca_certs=/etc/me@corp/ca.pem",
    "redis://user:pw@h:1/0?client_name=svc@prod",
])
def test_an_at_sign_in_an_option_value_is_part_of_the_option(url: str) -> None:
    """It was taken for the end of a user info holding the host and path, and the URL was
    refused for a raw '/' in it."""
    assert opener_for(url, {}) is not None
    assert redact(url) == url.replace(":pw@", ":***@")


@pytest.mark.parametrize("url", [url for url, _ in RAW_PASSWORDS])
async def test_a_raw_special_character_in_the_password_is_refused_without_leaking_it(
    url: str,
) -> None:
    """The error names the URL redacted, says to percent-encode, and carries no part of
    the password (redis-py's own parse error would quote the text it took for the port)."""
    app = App(url)
    with structlog.testing.capture_logs() as logs:
        try:
            with pytest.raises(ConfigurationError, match="percent-encode") as caught:
                await app.connect()
        finally:
            await app.aclose()
    assert redact(url) in str(caught.value)
    for text in (str(caught.value), repr(caught.value.args), *map(repr, logs)):
        assert SECRET not in text


async def test_an_at_sign_in_the_password_still_works() -> None:
    """``@`` alone in a password was never ambiguous (redis-py splits at the last one): the
    URL is not refused, only the connection fails (nothing listens there)."""
    url = "redis://default:p@ss@127.0.0.1:1/0"
    assert redact(url) == "redis://default:***@127.0.0.1:1/0"
    app = App(url)
    try:
        with pytest.raises(streamq.ConnectionError, match="cannot reach") as caught:
            await app.connect()
    finally:
        await app.aclose()
    assert "p@ss" not in str(caught.value)


@pytest.mark.parametrize("path", ["/abc", "/O", "/0x1"])
async def test_a_database_that_is_not_a_number_is_refused(path: str) -> None:
    """redis-py took ``/abc`` (or ``/O`` for ``/0``) for database 0, silently."""
    app = App(f"redis://127.0.0.1:1{path}")
    try:
        with pytest.raises(ConfigurationError, match="must be a number"):
            await app.connect()
    finally:
        await app.aclose()

