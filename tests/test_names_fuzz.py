"""Names and ids only ever travel as KEYS/ARGV: job ids, job names, rate keys and schedule
keys full of Lua and Redis metacharacters round-trip exactly, on both backends; tier and
namespace names, which become part of every key and of the hash tag, are refused with a
message saying what is allowed."""

from __future__ import annotations

from typing import Any

import pytest
from redis.crc import key_slot

from streamq import App, ConfigurationError, InvalidPayload, Job, Tier
from streamq.broker.keys import QueueKeys

NASTY = [
    "'", '"', "it's \"quoted\"", "]]", "[[", "]=]", "--", "-- comment", "--[[ x ]]",
    "\n", "\r\n", "a\nb", "\t", "*", "?", "[a-z]", "{", "}", "{x}", "}{", "{}", "a{b}c",
    ":", "::", "a:b:c", " ", "  lead and trail  ", "%s %d", "\\", "\\n", "\x00", "a\x00b",
    "é", "日本語", "🙂", "\u202eRTL", "e\u0301", "redis.call('FLUSHALL')",
    "'); redis.call('FLUSHALL') --", "KEYS[1]", "ARGV[1]", "$1", "nil", "false", "0", "-1",
    "x" * 256,
]
"""Lua string and comment delimiters, glob and hash-tag characters, separators, control
characters, NUL, unicode (combining, right-to-left, astral), code-like text, and the
longest allowed id."""


@pytest.mark.parametrize("value", NASTY, ids=[repr(v)[:24] for v in NASTY])
async def test_job_ids_and_names_round_trip(app: App, value: str) -> None:
    """Enqueued with ``value`` as job id, name, rate key and data, the job runs and every
    value reads back exactly; dedup by that id still works."""
    seen: list[tuple[str, str, Any]] = []
    name = value[:200]

    @app.processor(name)
    async def handler(job: Job) -> Any:
        seen.append((job.id, job.name, job.data))
        return job.data

    data = {value: value}
    job = await app.enqueue(name, data, job_id=value, rate_key=value)
    again = await app.enqueue(name, {"other": 1}, job_id=value)
    assert again.id == job.id
    assert (await app.queue().counts())["waiting"] == 1
    await app.worker().run(burst=True)
    assert seen == [(value, name, data)]
    assert await job.result(timeout=5) == data
    info = await app.queue().get_job(value)
    assert info is not None and (info.id, info.name, info.data) == (value, name, data)
    await app.queue().remove(value)
    assert await app.queue().get_job(value) is None


@pytest.mark.parametrize("value", ["{", "}", "{x}", "a}b", "日本語", "\udcff"])
def test_every_key_of_a_job_shares_the_queue_slot(value: str) -> None:
    """A job id with braces cannot move the job's keys out of the queue's slot: the tag is
    the first {...} of the key, which is the tier's."""
    keys = QueueKeys("sq", "high")
    slot = key_slot(keys.ready[0].encode())
    for key in (keys.job(value), keys.logs(value)):
        assert key_slot(key.encode("utf-8", "surrogateescape")) == slot


BAD_NAMES = ["", " ", "high tier", "{high}", "hi}gh", "hi{gh", "a:b", "*", "a*", "-x", ".x",
             "ti\ner", "x" * 65, "日本", "a'b", 'a"b', "]]", None, 7, b"high"]


@pytest.mark.parametrize("name", BAD_NAMES, ids=[repr(n)[:20] for n in BAD_NAMES])
def test_bad_tier_and_namespace_names_are_refused(name: Any) -> None:
    """Tier and namespace names become the hash tag and key prefix: only 1-64 letters,
    digits, '_', '.', '-' are allowed, and the error says so."""
    with pytest.raises(ConfigurationError, match="letters, digits"):
        Tier(name)
    with pytest.raises(ConfigurationError, match="letters, digits"):
        App("memory://", namespace=name)


@pytest.mark.parametrize("job_id", [chr(0xD800), f"a{chr(0xDFFF)}b", chr(0xDCFF), "x" * 257, ""],
                         ids=["high-surrogate", "low-surrogate", "escaped-byte", "too-long",
                              "empty"])
async def test_job_ids_that_cannot_be_stored_are_refused(app: App, job_id: str) -> None:
    """Text that is not valid Unicode (a lone surrogate) or is too long is refused with a
    ConfigurationError before anything is written."""
    with pytest.raises(ConfigurationError, match="job_id must be"):
        await app.queue().enqueue("x", None, job_id=job_id)
    assert (await app.queue().counts())["waiting"] == 0


@pytest.mark.parametrize("where", ["name", "rate_key"])
async def test_names_and_rate_keys_with_a_lone_surrogate_are_refused(app: App, where: str) -> None:
    """A job name or rate key that is not valid Unicode: ConfigurationError at enqueue,
    nothing written (not a failure inside redis-py)."""
    name, options = ("x", {"rate_key": "t\udcff"}) if where == "rate_key" else ("x\udcff", {})
    with pytest.raises(ConfigurationError, match="valid Unicode"):
        await app.queue().enqueue(name, None, **options)
    assert (await app.queue().counts())["waiting"] == 0


async def test_data_with_a_lone_surrogate_is_refused(app: App) -> None:
    """Data with a lone surrogate could not be read back as UTF-8: InvalidPayload at
    enqueue, nothing written."""
    with pytest.raises(InvalidPayload, match="lone surrogate"):
        await app.queue().enqueue("x", {"bad": "\udcff"})
    assert (await app.queue().counts())["waiting"] == 0


@pytest.mark.parametrize("key", ["'", "]]", "--", "{x}", "a:b", "*", "日本語 🙂", "k" * 200])
async def test_schedule_keys_round_trip(app: App, key: str) -> None:
    """Schedule keys with metacharacters are stored and listed exactly."""

    @app.processor("tick")
    async def tick(job: Job) -> None:
        return None

    await app.schedule("tick", every=60, key=key)
    assert [s.key for s in await app.schedules()] == [key]
    await app.unschedule(key)
    assert await app.schedules() == []


@pytest.mark.parametrize("key", ["", "a\nb", "\r\n", "x" * 1000])
async def test_bad_schedule_keys_are_refused(app: App, key: str) -> None:
    """Empty, non-printable or very long schedule keys are refused, saying what is allowed."""

    @app.processor("tick")
    async def tick(job: Job) -> None:
        return None

    with pytest.raises(ConfigurationError, match="schedule key must be a printable string"):
        await app.schedule("tick", every=60, key=key)
