"""A job enqueued to run now is held in its stream entry alone until it starts (no hash:
lib/write_job.lua, lib/inline.lua): every way in and out of that state, on both backends."""

from __future__ import annotations

from typing import Any

import pytest

from streamq import App, JobStateError
from streamq.broker import reads
from tests.broker.helpers import (
    KEEP,
    NOW,
    claim,
    deliver,
    enqueue,
    exists,
    finished,
    job_hash,
    logs,
    new_job,
    open_ctx,
    pending_total,
    place,
    stream,
    stream_total,
)


async def held(ctx_app: App, job_id: str) -> tuple[bool, bool]:
    """(the job has a hash, the index names it)."""
    ctx = await open_ctx(ctx_app)
    return (await exists(ctx, ctx.keys.job(job_id)),
            bool(await ctx.client.hexists(ctx.keys.index, job_id)))


def test_place_round_trips() -> None:
    """The index value is short (the smallest allocation) and names priority and entry."""
    for prio, entry in ((0, "0-0"), (5, "1700000000000-0"), (9, "4102444800000-255")):
        value = place(prio, entry)
        assert len(value) <= 14
        assert reads.unplace(value) == (prio, entry)
    assert reads.unplace(place(3, "1700000000000-123456789")) == (3, "1700000000000-123456789")


async def test_a_waiting_job_has_no_hash_until_it_starts(app: App) -> None:
    """Enqueued: entry + index, no hash. Claimed: a hash with every field, index cleared."""
    ctx = await open_ctx(app)
    job = new_job("a", data='{"x": 1}', opts='{"timeout":5.0}', rate_key="t1", attempts=4)
    await enqueue(ctx, job)
    assert await held(app, "a") == (False, True)
    [(entry, _)] = await stream(ctx)
    assert await ctx.client.hget(ctx.keys.index, "a") == place(0, entry)
    assert (await job_hash(ctx, "a"))["state"] == "waiting"
    [started] = await claim(ctx)
    assert (started.data, started.attempt, started.attempts, started.opts) == (
        '{"x": 1}', 1, 4, '{"timeout":5.0}')
    assert await held(app, "a") == (True, False)
    fields = await job_hash(ctx, "a")
    assert {k: fields[k] for k in ("name", "data", "max", "enq", "opts", "rk", "state",
                                   "attempt", "prio", "entry", "worker")} == {
        "name": "task", "data": '{"x": 1}', "max": "4", "enq": str(NOW),
        "opts": '{"timeout":5.0}', "rk": "t1", "state": "active", "attempt": "1", "prio": "0",
        "entry": started.entry, "worker": "w1"}


async def test_same_id_while_held_is_not_enqueued_twice(app: App) -> None:
    ctx = await open_ctx(app)
    assert await enqueue(ctx, new_job("a")) == [True]
    assert await enqueue(ctx, new_job("a", data='{"other": 1}')) == [False]
    assert await stream_total(ctx) == 1
    assert (await job_hash(ctx, "a"))["data"] == '{"n": 1}'


async def test_remove_a_held_job(app: App) -> None:
    """remove() deletes its entry and index entry; the id can be enqueued again."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a"))
    assert await ctx.scripts.remove(ctx.keys, "a", NOW) == "waiting"
    assert await held(app, "a") == (False, False)
    assert await stream_total(ctx) == 0
    assert await enqueue(ctx, new_job("a")) == [True]
    assert [j.id for j in await claim(ctx)] == ["a"]


async def test_paused_hand_back_keeps_the_job_held(app: App) -> None:
    """An entry a blocking read delivered to a paused queue goes back to the tail with all
    its fields (enqueue time included), and the index follows it."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a", rate_key="k", opts='{"timeout":1.0}'), now_ms=NOW - 5)
    before = await job_hash(ctx, "a")
    delivered = await deliver(ctx, "w1")
    await ctx.scripts.pause(ctx.keys, True)
    assert await ctx.scripts.claim(ctx.keys, "w1", NOW, 1, delivered) is None
    after = await job_hash(ctx, "a")
    assert after["entry"] != before["entry"]
    assert {**after, "entry": ""} == {**before, "entry": ""}
    assert await pending_total(ctx) == 0
    assert await held(app, "a") == (False, True)
    await ctx.scripts.pause(ctx.keys, False)
    assert [j.id for j in await claim(ctx, "w1", delivered=await deliver(ctx, "w1"))] == ["a"]


async def test_reclaim_requeues_a_held_entry_whose_worker_died(app: App) -> None:
    """Delivered by a blocking read, never claimed, the worker died: the job is requeued,
    still held in an entry, no attempt counted."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a", data='{"keep": true}'))
    await deliver(ctx, "dead-worker")
    reclaimed = await ctx.scripts.reclaim(ctx.keys, "reclaimer", NOW, 0, 100, 10,
                                          ("0-0",) * 10)
    assert (reclaimed.requeued, reclaimed.failed, reclaimed.stalled) == (1, 0, ())
    assert await pending_total(ctx) == 0
    assert await held(app, "a") == (False, True)
    [again] = await claim(ctx)
    assert (again.id, again.data, again.attempt) == ("a", '{"keep": true}', 1)


async def test_a_held_job_over_its_key_limit_is_deferred_with_a_hash(app: App) -> None:
    """Per-key rate limit: the second job of a key waits in DELAYED, which needs a hash."""
    from streamq import RateLimit
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a", rate_key="k"), new_job("b", rate_key="k", data='{"b": 2}'))
    started = await ctx.scripts.claim(ctx.keys, "w1", NOW, 10,
                                      rate_limit_per_key=RateLimit(1, per=60))
    assert isinstance(started, list) and [j.id for j in started] == ["a"]
    assert await held(app, "b") == (True, False)
    fields = await job_hash(ctx, "b")
    assert (fields["state"], fields["data"], fields["rk"], fields["attempt"]) == (
        "delayed", '{"b": 2}', "k", "0")
    assert await stream(ctx) == [(started[0].entry, "a")]


async def test_drain_clears_the_index(app: App) -> None:
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a"), new_job("b"))
    assert await ctx.scripts.drain(ctx.keys, "drainer", 100, False, NOW) == 2
    assert await ctx.client.hgetall(ctx.keys.index) == {}
    assert await enqueue(ctx, new_job("a")) == [True]


async def test_progress_promote_and_log_on_a_held_job(app: App) -> None:
    """Progress and promote say the job is waiting; a log line is kept for it."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a"))
    with pytest.raises(JobStateError, match="waiting"):
        await ctx.scripts.progress(ctx.keys, "a", 50)
    with pytest.raises(JobStateError, match="waiting"):
        await ctx.scripts.promote(ctx.keys, "a")
    with pytest.raises(JobStateError, match="waiting"):
        await ctx.scripts.retry(ctx.keys, "a")
    await ctx.scripts.log(ctx.keys, "a", "queued", 10)
    assert await logs(ctx, "a") == ["queued"]
    assert await held(app, "a") == (False, True), "nothing wrote a partial hash"


async def test_a_held_entry_deleted_while_delivered_is_forgotten(app: App) -> None:
    """XDEL by hand of a delivered entry takes the job with it: claim drops the entry and
    the index entry, so the id is free again."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a"))
    delivered = await deliver(ctx, "w1")
    await ctx.client.xdel(ctx.keys.ready[0], delivered[0][1])
    assert await claim(ctx, delivered=delivered) == []
    assert await held(app, "a") == (False, False)
    assert await pending_total(ctx) == 0
    assert await enqueue(ctx, new_job("a")) == [True]


async def test_get_job_of_a_held_job_whose_entry_is_gone(app: App) -> None:
    """An index entry naming a deleted entry reads as no job, not as a broken one."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a"))
    [(entry, _)] = await stream(ctx)
    await ctx.client.xdel(ctx.keys.ready[0], entry)
    assert await job_hash(ctx, "a") == {}


async def test_a_job_that_starts_between_the_reads_is_found(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """get_job reads a held job in two round trips (the index, then its entry). A job
    claimed and completed between them left no entry to read, and get_job answered None for
    a job that exists: it is read again, from the hash it has now."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a"))
    real_pipeline = ctx.client.pipeline
    pipelines = 0

    def pipeline(*args: Any, **kwargs: Any) -> Any:
        nonlocal pipelines
        pipelines += 1
        pipe = real_pipeline(*args, **kwargs)
        if pipelines == 2:  # the entry's read: the job starts and completes first
            real_execute = pipe.execute

            async def execute(*e_args: Any, **e_kwargs: Any) -> Any:
                [job] = await claim(ctx)
                await ctx.scripts.complete(ctx.keys, "w1", NOW, KEEP, [finished(job)])
                return await real_execute(*e_args, **e_kwargs)

            pipe.execute = execute
        return pipe

    monkeypatch.setattr(ctx.client, "pipeline", pipeline)
    info = await app.queue().get_job("a")
    assert info is not None and info.state.value == "completed"
