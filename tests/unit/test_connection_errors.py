"""Connection-level errors that redis-py does not classify, and the first-answer timeout:
each becomes a streamq ConnectionError that says what is wrong and what to do."""

from __future__ import annotations

import asyncio
import re

import pytest
import redis.asyncio.connection as aioconnection
import redis.exceptions as rex

from streamq import App, ConnectionError, RedisFull
from streamq.broker import connection
from streamq.broker.connection import translate_errors, translated

URL = "redis://:secret@h:6379/0"
BUSY = ("BUSY Redis is busy running a script. You can only call FUNCTION KILL, SCRIPT KILL "
        "or SHUTDOWN NOSAVE.")
MISCONF = ("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to "
           "persist to disk. Commands that may modify the data set are disabled, because this "
           "instance is configured to report errors during writes if RDB snapshotting fails "
           "(stop-writes-on-bgsave-error option). Please check the Redis logs for details "
           "about the RDB error.")


@pytest.mark.parametrize(("reply", "advice"), [
    (BUSY, r"another client's script.*SCRIPT KILL"),
    ("MISCONF Errors writing to the AOF file: No space left on device", r"cannot persist"),
    (MISCONF, r"cannot persist to disk.*stop-writes-on-bgsave-error"),
])
def test_busy_and_misconf_are_connection_errors_that_say_what_to_do(
    reply: str, advice: str,
) -> None:
    """Workers pause and retry on a streamq ConnectionError; a raw ResponseError would be
    taken for a failure of the job."""
    with pytest.raises(ConnectionError, match=advice) as caught, translate_errors(URL):
        raise rex.ResponseError(reply)
    assert not isinstance(caught.value, RedisFull)
    assert "redis://:***@h:6379/0" in str(caught.value)
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize("reply", [
    "BUSYGROUP Consumer Group name already exists",
    "BUSYKEY Target key name already exists.",
    "ERR MISCONFIGURED is not a command",
])
def test_replies_that_only_look_alike_are_left_alone(reply: str) -> None:
    assert translated(rex.ResponseError(reply), URL) is None


async def test_a_connect_that_never_completes_is_not_reported_as_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A host that drops packets hangs in connect (redis-py retries outlast the first-answer
    timeout): the message must not say the server accepted the connection."""
    async def hang(self: aioconnection.AbstractConnection) -> None:
        await asyncio.sleep(3600)

    monkeypatch.setattr(aioconnection.Connection, "_connect", hang)
    monkeypatch.setattr(connection, "FIRST_ANSWER_TIMEOUT_S", 0.2)
    app = App("redis://:secret@192.0.2.1:6379/0")
    try:
        with pytest.raises(ConnectionError, match=r"did not answer within 0\.2 s") as caught:
            await app.connect()
    finally:
        await app.aclose()
    message = str(caught.value)
    assert not re.search(r"192\.0\.2\.1:6379/0 accepted the connection", message)
    assert message.startswith("Redis at redis://:***@192.0.2.1:6379/0 did not answer")
    assert "unreachable" in message and "firewall" in message
    assert "CLIENT PAUSE" in message
    assert "secret" not in message
