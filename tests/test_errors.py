"""Errors: bad input is refused before anything is written, with a message saying what to do.

Each rejection test snapshots the namespace (counts, every key, stream lengths) first and
checks it is unchanged afterwards, on both backends.
"""

from __future__ import annotations

import builtins
import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pydantic
import pytest
import redis.asyncio as aioredis

import streamq
from streamq import (
    App,
    ConfigurationError,
    InvalidPayload,
    Job,
    PayloadTooLarge,
    RedisVersionError,
    StreamqError,
    UnknownJobType,
)
from streamq.broker.connection import check_version, parse_version
from tests.conftest import delete_namespace

Snapshot = tuple[dict[str, int], list[str], list[int]]


async def snapshot(app: App, tier: str = "standard") -> Snapshot:
    """Counts, every key of the namespace, and each ready stream's length."""
    queue = app.queue(tier)
    counts = await queue.counts()
    client = (await app.backend()).client
    keys = sorted([k async for k in client.scan_iter(match=f"{app.namespace}:*")])
    lengths = [await client.xlen(stream) for stream in queue.keys.ready]
    return counts, keys, lengths


async def refused(app: App, error: type[Exception], phrase: str, **call: Any) -> Exception:
    """Enqueue with ``call`` (name/data/options) next to one good job; assert it raises
    ``error`` mentioning ``phrase`` and writes nothing."""
    queue = app.queue()
    await queue.enqueue("good", {"ok": True})
    before = await snapshot(app)
    name = call.pop("name", "job")
    data = call.pop("data", None)
    with pytest.raises(error) as caught:
        await queue.enqueue(name, data, **call)
    assert phrase in str(caught.value)
    assert await snapshot(app) == before
    assert before[0]["waiting"] == 1
    return caught.value


# --------------------------------------------------------------------------- payloads


def circular() -> dict[str, Any]:
    value: dict[str, Any] = {}
    value["self"] = value
    return value


@pytest.mark.parametrize(
    "data",
    [
        {"when": datetime(2024, 1, 1, tzinfo=UTC)},
        {"tags": {"a", "b"}},
        {"blob": b"\x00\x01"},
        {"x": math.nan},
        [math.inf],
        circular(),
        {1: object()},
    ],
    ids=["datetime", "set", "bytes", "nan", "inf", "circular", "object"],
)
async def test_unserialisable_data_is_refused(app: App, data: Any) -> None:
    """Data that is not plain JSON raises InvalidPayload (a ValueError) naming the fix."""
    error = await refused(app, InvalidPayload, "plain JSON", data=data)
    assert isinstance(error, ValueError)
    assert "ISO strings" in str(error)


@pytest.fixture
async def small_app(backend_url: str, namespace: str) -> Any:
    """An App with max_payload_bytes=100."""
    application = App(backend_url, namespace=namespace, max_payload_bytes=100)
    yield application
    await application.aclose()
    if backend_url != "memory://":
        await delete_namespace(backend_url, namespace)


async def test_payload_at_the_limit_is_accepted(small_app: App) -> None:
    """Data whose JSON is exactly max_payload_bytes long is stored."""
    data = "x" * 98  # 98 characters + 2 quotes = 100 bytes of JSON
    job = await small_app.queue().enqueue("job", data)
    info = await small_app.queue().get_job(job.id)
    assert info is not None
    assert info.data == data


async def test_payload_one_byte_over_is_refused(small_app: App) -> None:
    """One byte over max_payload_bytes raises PayloadTooLarge and writes nothing."""
    error = await refused(small_app, PayloadTooLarge, "max_payload_bytes", data="x" * 99)
    assert isinstance(error, InvalidPayload)
    assert "101 bytes" in str(error)
    assert "enqueue a reference" in str(error)


async def test_payload_limit_counts_utf8_bytes(small_app: App) -> None:
    """The limit is in bytes: 60 two-byte characters (122 bytes) are over a 100-byte limit."""
    await refused(small_app, PayloadTooLarge, "max_payload_bytes", data="é" * 60)
    job = await small_app.queue().enqueue("job", "é" * 49)  # 98 + 2 = 100 bytes
    assert (await job.info()).data == "é" * 49


async def test_max_payload_bytes_must_be_positive() -> None:
    """App(max_payload_bytes=0) is a ConfigurationError."""
    with pytest.raises(ConfigurationError, match="positive"):
        App("memory://", max_payload_bytes=0)


# --------------------------------------------------------------------------- options


@pytest.mark.parametrize("priority", [-1, 10, 1.5, 1.0, True, "1", None])
async def test_invalid_priority(app: App, priority: Any) -> None:
    """Priority is an int 0..9; anything else is refused before writing."""
    await refused(app, ConfigurationError, "0 (soonest) to 9", priority=priority)


@pytest.mark.parametrize(
    "delay", [-1, -0.001, math.nan, math.inf, -math.inf, timedelta(seconds=-1), "10"],
    ids=["-1", "-1ms", "nan", "inf", "-inf", "negative-timedelta", "string"],
)
async def test_invalid_delay(app: App, delay: Any) -> None:
    """A delay must be a finite number of seconds >= 0 (or a timedelta)."""
    await refused(app, ConfigurationError, "delay must be", delay=delay)


async def test_naive_run_at_is_refused(app: App) -> None:
    """run_at without a timezone is ambiguous and refused, saying how to fix it."""
    await refused(app, ConfigurationError, "tzinfo=timezone.utc",
                  run_at=datetime(2030, 1, 1, 12, 0))


async def test_run_at_must_be_a_datetime(app: App) -> None:
    """run_at takes a datetime, not a timestamp."""
    await refused(app, ConfigurationError, "run_at must be a datetime", run_at=time.time() + 60)


async def test_delay_and_run_at_together_are_refused(app: App) -> None:
    """delay and run_at are alternatives."""
    await refused(app, ConfigurationError, "not both", delay=5,
                  run_at=datetime.now(UTC) + timedelta(minutes=1))


@pytest.mark.parametrize("name", ["", None, 42])
async def test_empty_or_non_string_name(app: App, name: Any) -> None:
    """The job name must be a non-empty string."""
    await refused(app, ConfigurationError, "non-empty string", name=name)


@pytest.mark.parametrize("job_id", ["", "x" * 257, 123, b"bytes"],
                         ids=["empty", "too-long", "int", "bytes"])
async def test_bad_job_id(app: App, job_id: Any) -> None:
    """A job_id must be a non-empty string of at most 256 characters."""
    await refused(app, ConfigurationError, "job_id must be", job_id=job_id)


async def test_job_id_of_256_characters_is_fine(app: App) -> None:
    """The longest allowed job_id works end to end."""
    job = await app.queue().enqueue("job", None, job_id="x" * 256)
    assert (await job.info()).id == "x" * 256


@pytest.mark.parametrize(
    ("options", "phrase"),
    [
        ({"attempts": 0}, "attempts must be"),
        ({"attempts": 2.5}, "attempts must be"),
        ({"attempts": True}, "attempts must be"),
        ({"timeout": 0}, "timeout must be"),
        ({"timeout": -3}, "timeout must be"),
        ({"backoff": 5}, "Backoff.fixed"),
    ],
    ids=["attempts-0", "attempts-float", "attempts-bool", "timeout-0", "timeout-negative",
         "backoff-number"],
)
async def test_invalid_retry_options(app: App, options: dict[str, Any], phrase: str) -> None:
    """attempts, timeout and backoff are checked before writing."""
    await refused(app, ConfigurationError, phrase, **options)


# --------------------------------------------------------------------------- models


class Email(pydantic.BaseModel):
    """The data of a send_email job."""

    to: str
    retries: int = 0


async def test_model_validates_at_enqueue(app: App) -> None:
    """With model=, bad data raises InvalidPayload naming the field; nothing is written."""

    @app.processor("send_email", model=Email)
    async def send_email(job: Job) -> None:
        return None

    error = await refused(app, InvalidPayload, "does not match Email", name="send_email",
                          data={"retries": "many"})
    assert "to" in str(error)
    assert "retries" in str(error)
    with pytest.raises(InvalidPayload, match="fix the data or the model"):
        await app.enqueue("send_email", {"to": None})
    assert (await app.queue().counts())["waiting"] == 1


async def test_model_data_is_stored_validated(app: App) -> None:
    """Valid data (dict or model instance) is stored as the model's JSON, coerced."""
    received: list[Email] = []

    @app.processor("send_email", model=Email)
    async def send_email(job: Job) -> None:
        received.append(job.data)

    a = await app.enqueue("send_email", {"to": "a@b.c", "retries": "3"})
    b = await app.enqueue("send_email", Email(to="d@e.f"))
    assert (await a.info()).data == {"to": "a@b.c", "retries": 3}
    assert (await b.info()).data == {"to": "d@e.f", "retries": 0}
    await app.worker("standard").run(burst=True)
    assert sorted(e.to for e in received) == ["a@b.c", "d@e.f"]
    assert all(isinstance(e, Email) for e in received)


async def test_unknown_job_type_writes_nothing(app: App) -> None:
    """app.enqueue of a name with no processor raises UnknownJobType, saying what to do."""
    before = await snapshot(app)
    with pytest.raises(UnknownJobType, match=r"@app\.processor") as caught:
        await app.enqueue("nobody_handles_this", {})
    assert "app.queue(tier).enqueue" in str(caught.value)
    assert await snapshot(app) == before


# --------------------------------------------------------------------------- connection


async def test_unreachable_redis_is_a_connection_error() -> None:
    """Nothing listening: streamq.ConnectionError (also the builtin) naming the URL, fast."""
    app = App("redis://127.0.0.1:1/0")
    started = time.monotonic()
    try:
        with pytest.raises(streamq.ConnectionError) as caught:
            await app.connect()
        with pytest.raises(streamq.ConnectionError):
            await app.queue().enqueue("x", None)
    finally:
        await app.aclose()
    assert time.monotonic() - started < 10
    assert isinstance(caught.value, builtins.ConnectionError)
    assert isinstance(caught.value, StreamqError)
    assert "redis://127.0.0.1:1/0" in str(caught.value)
    assert "STREAMQ_URL" in str(caught.value)


async def test_connection_error_hides_the_password() -> None:
    """The URL in the message (and in repr(app)) has its password replaced by ***."""
    app = App("redis://user:secret@127.0.0.1:1/0")
    assert "secret" not in repr(app)
    try:
        with pytest.raises(streamq.ConnectionError) as caught:
            await app.queue().counts()
    finally:
        await app.aclose()
    assert "secret" not in str(caught.value)
    assert "redis://user:***@127.0.0.1:1/0" in str(caught.value)


def test_connection_error_is_the_builtin_too() -> None:
    """`except ConnectionError` (builtin) catches streamq's, and it is a StreamqError."""
    assert issubclass(streamq.ConnectionError, builtins.ConnectionError)
    assert issubclass(streamq.ConnectionError, StreamqError)
    with pytest.raises(builtins.ConnectionError):
        raise streamq.ConnectionError("x")


# --------------------------------------------------------------------------- server version


@pytest.mark.parametrize(
    ("info", "version"),
    [
        ({"redis_version": "7.0.15"}, (7, 0, 15)),
        ({"redis_version": "6.2.0"}, (6, 2, 0)),
        ({"redis_version": "5.0.14"}, (5, 0, 14)),
        ({"redis_version": "7.2"}, (7, 2)),
        ({}, (0,)),
    ],
)
def test_parse_version(info: dict[str, Any], version: tuple[int, ...]) -> None:
    """INFO server's redis_version becomes a tuple of ints."""
    assert parse_version(info) == version


@pytest.mark.parametrize("version", [(6, 2, 0), (6, 2, 14), (7, 0, 15), (8, 0)])
def test_check_version_accepts_6_2_and_newer(version: tuple[int, ...]) -> None:
    """6.2 (XAUTOCLAIM) and newer pass."""
    check_version(version, "redis://localhost:6379/0")


@pytest.mark.parametrize("version", [(6, 0, 16), (5, 0, 14), (6, 1, 9), (0,)])
def test_check_version_refuses_older(version: tuple[int, ...]) -> None:
    """Older servers raise RedisVersionError saying which version is needed, URL redacted."""
    with pytest.raises(RedisVersionError) as caught:
        check_version(version, "redis://u:pw@db.example:6379/0")
    message = str(caught.value)
    assert "6.2 or newer" in message
    assert "upgrade" in message
    assert ".".join(map(str, version)) in message
    assert "pw" not in message
    assert "db.example" in message


async def test_old_server_is_refused_at_connect(redis_url: str, namespace: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's INFO goes through the version check: an old version fails the first call
    and nothing is written."""
    import streamq.broker.connection as connection

    monkeypatch.setattr(connection, "parse_version", lambda info: (6, 0, 9))
    app = App(redis_url, namespace=namespace)
    try:
        with pytest.raises(RedisVersionError, match=r"6\.0\.9"):
            await app.queue().enqueue("x", None)
    finally:
        await app.aclose()
    client = aioredis.Redis.from_url(redis_url)
    try:
        assert [k async for k in client.scan_iter(match=f"{namespace}:*")] == []
    finally:
        await client.aclose()


# --------------------------------------------------------------------------- the tree


@pytest.mark.parametrize(
    ("error", "bases"),
    [
        (streamq.ConfigurationError, (ValueError,)),
        (streamq.InvalidPayload, (ValueError,)),
        (streamq.PayloadTooLarge, (streamq.InvalidPayload,)),
        (streamq.JobNotFound, (KeyError,)),
        (streamq.ConnectionError, (builtins.ConnectionError,)),
        (streamq.QueueFull, ()),
        (streamq.JobFailed, ()),
        (streamq.JobStateError, ()),
        (streamq.UnknownJobType, ()),
        (streamq.RedisVersionError, ()),
        (streamq.QueueStateLost, ()),
        (streamq.RedisFull, (streamq.ConnectionError, builtins.ConnectionError)),
    ],
)
def test_error_tree(error: type[Exception], bases: tuple[type[Exception], ...]) -> None:
    """Every error is a StreamqError, with the builtin bases the errors module documents."""
    assert issubclass(error, StreamqError)
    for base in bases:
        assert issubclass(error, base)


def test_job_not_found_message_is_not_quoted() -> None:
    """JobNotFound is a KeyError whose str() is the plain message, not its repr."""
    error = streamq.JobNotFound("high", "abc")
    assert str(error).startswith("no job 'abc' in queue 'high'")
    assert (error.tier, error.job_id) == ("high", "abc")


async def test_a_server_that_accepts_but_never_answers_is_reported_quickly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A silent server (accepts TCP, never replies) gives ConnectionError within the first-answer
    timeout, not after redis-py's socket timeout times its retries."""
    import asyncio

    import streamq.broker.connection as connection

    monkeypatch.setattr(connection, "FIRST_ANSWER_TIMEOUT_S", 0.3)
    held: list[asyncio.StreamWriter] = []

    async def accept_and_ignore(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept_and_ignore, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    started = time.monotonic()
    try:
        with pytest.raises(streamq.ConnectionError, match=r"did not answer within 0\.3 s"):
            await App(f"redis://127.0.0.1:{port}/0").connect()
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()
    assert time.monotonic() - started < 3
