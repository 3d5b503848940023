"""Refusals of a real server that redis-py leaves unclassified, on a throwaway server (they
stop every write, so never on the shared test server)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import streamq
from streamq import App, RedisFull
from tests.servers import Server, redis_server

pytestmark = pytest.mark.slow


@pytest.fixture
def failing_saves() -> Iterator[Server]:
    """A server whose last RDB save failed, with save points set: it answers MISCONF to every
    write. The save fails because a directory stands where the snapshot is renamed to (which
    stops root too, unlike an unwritable directory)."""
    with redis_server() as server:
        admin = server.client()
        try:
            directory = Path(admin.config_get("dir")["dir"])
            (directory / admin.config_get("dbfilename")["dbfilename"]).mkdir()
            admin.config_set("save", "3600 1")
            admin.bgsave()
            wait_for_failed_save(server)
            yield server
        finally:
            admin.config_set("save", "")  # or the server refuses to stop: it would save first
            admin.close()


def wait_for_failed_save(server: Server) -> None:
    admin = server.client()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            persistence = admin.info("persistence")
            if (not persistence["rdb_bgsave_in_progress"]
                    and persistence["rdb_last_bgsave_status"] == "err"):
                return
            time.sleep(0.02)
    finally:
        admin.close()
    pytest.fail("BGSAVE did not fail as arranged")


async def test_a_server_that_cannot_persist_refuses_enqueue_with_advice(
    failing_saves: Server,
) -> None:
    """MISCONF (stop-writes-on-bgsave-error) is a streamq ConnectionError naming the setting,
    for a script's write and a plain command alike."""
    app = App(failing_saves.url, namespace="misconf")
    try:
        await app.connect()
        with pytest.raises(streamq.ConnectionError,
                           match="stop-writes-on-bgsave-error") as caught:
            await app.queue().enqueue("x", {"a": 1})
        assert not isinstance(caught.value, RedisFull)
        with pytest.raises(streamq.ConnectionError, match="cannot persist"):
            await app.queue().pause()
    finally:
        await app.aclose()


async def test_a_database_the_server_does_not_have_is_a_clear_error() -> None:
    """``/99`` on a server with 16 databases raised redis-py's ResponseError."""
    with redis_server() as server:
        app = App(server.url.rsplit("/", 1)[0] + "/99")
        try:
            with pytest.raises(streamq.ConfigurationError, match="no such database"):
                await app.queue().counts()
        finally:
            await app.aclose()
