"""Credentials never appear in logs, reprs or error messages, for every URL form that can
carry one. Each URL points at nothing, so connecting fails and the error path is checked."""

from __future__ import annotations

import pytest
import structlog

import streamq
from streamq import App
from streamq.broker.connection import open_connection, redact

SECRETS = ("hunter2", "p%40ss%3Aw%2Frd", "p@ss:w/rd", "keypass")
URLS = [
    "redis://user:hunter2@127.0.0.1:1/0",
    "redis://:hunter2@127.0.0.1:1/0",
    "redis://default:p%40ss%3Aw%2Frd@127.0.0.1:1/0",
    "redis://127.0.0.1:1/0?password=hunter2",
    "redis://127.0.0.1:1/0?db=0&password=hunter2&socket_timeout=1",
    "rediss://acl-user:hunter2@127.0.0.1:1/0?ssl_cert_reqs=none&ssl_password=keypass",
    "unix://user:hunter2@/nonexistent/redis.sock?db=0",
    "unix:///nonexistent/redis.sock?password=hunter2",
]


def assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked in {text!r}"


@pytest.mark.parametrize("url", URLS)
async def test_failed_connection_leaks_no_password(url: str) -> None:
    """repr(App), repr(Queue), repr(Connection), the error (str, repr, args) from connect,
    enqueue and a worker, and every log event: no password, URL still recognisable."""
    app = App(url)
    connection = open_connection(url)
    texts = [repr(app), repr(app.queue()), repr(connection), redact(url)]
    await connection.aclose()
    with structlog.testing.capture_logs() as logs:
        for attempt in (app.connect(), app.queue().enqueue("x", {"a": 1}),
                        app.worker().run(burst=True)):
            with pytest.raises(streamq.ConnectionError) as caught:
                await attempt
            texts += [str(caught.value), repr(caught.value), repr(caught.value.args)]
            assert caught.value.__cause__ is None and caught.value.__suppress_context__
        await app.aclose()
    texts += [repr(event) for event in logs]
    for text in texts:
        assert_clean(text)
    assert "***" in redact(url)
    assert "127.0.0.1:1" in str(caught.value) or "nonexistent" in str(caught.value)


def test_redact_keeps_the_user_and_the_other_options() -> None:
    """Only the secrets go: user name, host, db and other options stay readable."""
    assert redact("redis://acl-user:hunter2@h:6379/2") == "redis://acl-user:***@h:6379/2"
    assert (redact("rediss://h:6380/0?ssl_ca_certs=/ca.crt&password=x&ssl_password=y")
            == "rediss://h:6380/0?ssl_ca_certs=/ca.crt&password=***&ssl_password=***")
    assert redact("redis://h:6379/0") == "redis://h:6379/0"
