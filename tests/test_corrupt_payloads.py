"""Data that streamq did not write: JSON only, never pickle, and one bad job never stops a
worker. Garbage is written straight into a job's stored data (as another program or an
attacker with Redis access could), on both backends."""

from __future__ import annotations

import pickle
import uuid
from typing import Any

import pytest

from streamq import App, InvalidPayload, Job, JobState, codec
from streamq.broker import reads
from streamq.broker.keys import GROUP
from tests.broker.helpers import forget_job, rewrite_held_job
from tests.helpers import gated_processor

UNPICKLED: list[str] = []


def _record_unpickling() -> str:
    UNPICKLED.append("unpickled")
    return "executed"


class Trap:
    """A pickle that records it was loaded: loading it would run ``_record_unpickling``."""

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return (_record_unpickling, ())


GARBAGE = {
    "pickle": pickle.dumps(Trap()),
    "pickle-protocol-0": pickle.dumps(Trap(), protocol=0),
    "invalid-utf8": b'{"to": "\xff\xfe"}',
    "not-json": b"hello world",
    "truncated-json": b'{"to": "a@b.c", ',
    "empty": b"",
    "nul-bytes": b"\x00\x00\x00",
}


async def overwrite_stored(app: App, job: Job, stored: str, raw: bytes) -> None:
    """Replace the job's stored field whose value is ``stored`` with ``raw``. The field is
    found by its value, so this does not depend on the field names. The job is held in its
    stream entry (it has not started), so a new entry with the garbage replaces it."""
    client = (await app.backend()).client
    keys = app.queue(job.tier).keys
    assert await client.exists(keys.job(job.id)) == 0
    prio, entry = reads.unplace(await client.hget(keys.index, job.id))
    [(_, fields)] = await client.xrange(keys.ready[prio], entry, entry)
    names = [f for f, v in fields.items() if v == stored]
    assert len(names) == 1, f"{stored!r} not found verbatim in the job's entry"
    await rewrite_held_job(client, keys, job.id, {names[0]: raw})


async def overwrite_data(app: App, job: Job, raw: bytes) -> None:
    """Replace the job's stored data (its JSON) with ``raw``."""
    await overwrite_stored(app, job, codec.encode(job.data), raw)


@pytest.mark.parametrize("raw", GARBAGE.values(), ids=GARBAGE.keys())
async def test_garbage_data_goes_to_the_dead_letter_queue(app: App, raw: bytes) -> None:
    """The processor never sees the job, nothing is unpickled, the job is FAILED at its
    first attempt (not retried) with an error saying why, and a good job next to it runs."""
    seen: list[Any] = []

    @app.processor("send", attempts=3)
    async def send(job: Job) -> str:
        seen.append(job.data)
        return "sent"

    bad = await app.enqueue("send", {"marker": uuid.uuid4().hex})
    await overwrite_data(app, bad, raw)
    good = await app.enqueue("send", {"to": "ok"})
    await app.worker().run(burst=True)

    assert seen == [{"to": "ok"}]
    assert UNPICKLED == []
    assert await good.result(timeout=5) == "sent"
    info = await bad.info()
    assert (info.state, info.attempt) == (JobState.FAILED, 1)
    assert info.error is not None
    assert "not valid JSON" in info.error and "never unpickles" in info.error
    assert [d.id for d in await app.queue().dead_letters()] == [bad.id]
    assert isinstance(info.data, str)  # the raw text, printable, for inspection
    info.data.encode()


async def test_garbage_options_go_to_the_dead_letter_queue(app: App) -> None:
    """The same for a job's stored per-job options: dead-lettered, the worker carries on."""

    @app.processor("send")
    async def send(job: Job) -> str:
        return "sent"

    bad = await app.enqueue("send", {"x": 1}, timeout=7)
    await overwrite_stored(app, bad, '{"timeout":7.0}', pickle.dumps(Trap()))
    good = await app.enqueue("send", {"x": 2})
    await app.worker().run(burst=True)
    assert await good.result(timeout=5) == "sent"
    assert (await bad.state()) is JobState.FAILED
    assert UNPICKLED == []


@pytest.mark.parametrize("raw", [GARBAGE["pickle"], GARBAGE["not-json"]],
                         ids=["pickle", "not-json"])
def test_codec_refuses_anything_but_json(raw: bytes) -> None:
    """codec.decode raises InvalidPayload (a ValueError) for non-JSON, bytes or text."""
    with pytest.raises(InvalidPayload, match="never unpickles"):
        codec.decode(raw)
    with pytest.raises(InvalidPayload, match="never unpickles"):
        codec.decode(raw.decode("utf-8", "surrogateescape"))
    assert UNPICKLED == []


def test_no_module_imports_pickle() -> None:
    """No module of streamq imports pickle, marshal, shelve or dill."""
    import pathlib
    import re

    import streamq

    root = pathlib.Path(streamq.__file__).parent
    banned = re.compile(r"^\s*(import|from)\s+(c?pickle|marshal|shelve|dill)\b", re.M)
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if banned.search(p.read_text())]
    assert offenders == []


# --------------------------------------------------------------------------- entries


async def test_entry_whose_job_was_deleted_is_dropped(app: App) -> None:
    """A stream entry whose job hash was deleted (by hand, or lost) is dropped by the
    worker; it does not crash, and the next job runs."""
    ran: list[str] = []

    @app.processor("p")
    async def p(job: Job) -> None:
        ran.append(job.id)

    orphan = await app.enqueue("p", 1)
    client = (await app.backend()).client
    keys = app.queue().keys
    await forget_job(client, keys, orphan.id)
    good = await app.enqueue("p", 2)
    await app.worker().run(burst=True)
    assert ran == [good.id]
    assert await app.queue().counts() == {
        "waiting": 0, "active": 0, "delayed": 0, "completed": 1, "failed": 0}
    assert sum([await client.xlen(s) for s in keys.ready]) == 0


async def test_entry_deleted_while_its_job_runs(app: App) -> None:
    """XDEL of a running job's entry (by hand, or an XTRIM by another tool): the worker's
    completion still records the job and clears the pending list."""
    import asyncio

    started, release = gated_processor(app)
    job = await app.enqueue("gated")
    client = (await app.backend()).client
    keys = app.queue().keys
    worker = app.worker()
    task = asyncio.create_task(worker.run(burst=True))
    await asyncio.wait_for(started.wait(), 5)
    [stream] = [s for s in keys.ready if await client.xlen(s)]
    [(entry, _)] = await client.xrange(stream)
    await client.xdel(stream, entry)
    release.set()
    await asyncio.wait_for(task, 10)
    assert await job.result(timeout=5) == "done"
    assert (await client.xpending(stream, GROUP))["pending"] == 0
