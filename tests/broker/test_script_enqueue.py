"""enqueue.lua: dedup by id, batches, backpressure (QUEUE_FULL), waiting vs delayed, opts."""

from __future__ import annotations

import pytest

from streamq import App
from streamq.broker.records import NewJob
from streamq.errors import QueueFull
from tests.broker.helpers import (
    NOW,
    claim,
    enqueue,
    exists,
    finished,
    job_hash,
    new_job,
    open_ctx,
    pending_total,
    stream,
    stream_total,
    zmembers,
    zscore,
)


async def test_waiting_job_is_written_with_all_fields(app: App) -> None:
    """A job due now gets a hash in state waiting and one entry in its priority's stream."""
    ctx = await open_ctx(app)
    job = new_job("a", name="send", data='{"x": 1}', priority=4, attempts=5)
    assert await enqueue(ctx, job) == [True]
    entries = await stream(ctx, 4)
    assert [job_id for _, job_id in entries] == ["a"]
    assert await job_hash(ctx, "a") == {
        "name": "send", "data": '{"x": 1}', "prio": "4", "attempt": "0", "max": "5",
        "enq": str(NOW), "state": "waiting", "entry": entries[0][0],
    }
    assert await stream_total(ctx) == 1
    assert await zmembers(ctx, ctx.keys.delayed) == []


async def test_delayed_job_goes_to_the_delayed_set(app: App) -> None:
    """A job due later is DELAYED: scored by its due time, no stream entry."""
    ctx = await open_ctx(app)
    assert await enqueue(ctx, new_job("d", priority=2, due_ms=NOW + 5000)) == [True]
    fields = await job_hash(ctx, "d")
    assert fields["state"] == "delayed"
    assert fields["due"] == str(NOW + 5000)
    assert "entry" not in fields
    assert await zscore(ctx, ctx.keys.delayed, "d") == NOW + 5000
    assert await stream_total(ctx) == 0


async def test_due_in_the_past_or_now_is_waiting(app: App) -> None:
    """due <= now (including exactly now) means ready at once."""
    ctx = await open_ctx(app)
    assert await enqueue(ctx, new_job("past", due_ms=NOW - 1), new_job("now", due_ms=NOW)) == [
        True, True,
    ]
    assert [job_id for _, job_id in await stream(ctx, 0)] == ["past", "now"]
    assert await zmembers(ctx, ctx.keys.delayed) == []


async def test_same_job_twice_makes_one_job(app: App) -> None:
    """Re-sending the same NewJob (a redis-py retry) returns False and changes nothing."""
    ctx = await open_ctx(app)
    job = new_job("dup")
    assert await enqueue(ctx, job) == [True]
    before = await job_hash(ctx, "dup")
    assert await enqueue(ctx, job, now_ms=NOW + 10) == [False]
    assert await enqueue(ctx, job._replace(data='{"n": 2}', priority=3)) == [False]
    assert await job_hash(ctx, "dup") == before
    assert await stream_total(ctx) == 1


async def test_dedup_holds_while_the_job_runs_and_after_it_is_delayed(app: App) -> None:
    """The same id is the same job in any live state, not only while waiting."""
    ctx = await open_ctx(app)
    assert await enqueue(ctx, new_job("late", due_ms=NOW + 1000)) == [True]
    assert await enqueue(ctx, new_job("late")) == [False]
    assert await job_hash(ctx, "late") != {} and await stream_total(ctx) == 0
    assert await enqueue(ctx, new_job("run")) == [True]
    await claim(ctx)
    assert await enqueue(ctx, new_job("run")) == [False]
    assert (await job_hash(ctx, "run"))["state"] == "active"
    assert await stream_total(ctx) == 1


async def test_duplicate_ids_inside_one_batch(app: App) -> None:
    """Within one batch the first occurrence of an id wins; later ones report False."""
    ctx = await open_ctx(app)
    first, again = new_job("x", data='"first"'), new_job("x", data='"second"')
    other = new_job("y")
    assert await enqueue(ctx, first, other, again) == [True, True, False]
    assert (await job_hash(ctx, "x"))["data"] == '"first"'
    assert [job_id for _, job_id in await stream(ctx, 0)] == ["x", "y"]


async def test_queue_full_writes_nothing(app: App) -> None:
    """A batch that would exceed max_waiting raises QueueFull and leaves no trace."""
    ctx = await open_ctx(app)
    assert await enqueue(ctx, new_job("a"), new_job("b", due_ms=NOW + 1), max_waiting=3) == [
        True, True,
    ]
    with pytest.raises(QueueFull) as info:
        await enqueue(ctx, new_job("c"), new_job("d", due_ms=NOW + 5), max_waiting=3)
    assert (info.value.waiting, info.value.max_waiting, info.value.tier) == (2, 3, "standard")
    for job_id in ("c", "d"):
        assert not await exists(ctx, ctx.keys.job(job_id))
    assert await stream_total(ctx) == 1
    assert await zmembers(ctx, ctx.keys.delayed) == ["b"]
    assert await enqueue(ctx, new_job("c"), max_waiting=3) == [True]


async def test_running_jobs_do_not_count_towards_max_waiting(app: App) -> None:
    """max_waiting bounds waiting + delayed: claimed (pending) entries are not counted."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a"), new_job("b"), max_waiting=2)
    with pytest.raises(QueueFull):
        await enqueue(ctx, new_job("c"), max_waiting=2)
    assert len(await claim(ctx, count=1)) == 1
    assert await pending_total(ctx) == 1
    assert await enqueue(ctx, new_job("c"), max_waiting=2) == [True]
    with pytest.raises(QueueFull) as info:  # b and c wait; a runs and is not counted
        await enqueue(ctx, new_job("d"), max_waiting=2)
    assert info.value.waiting == 2


async def test_existing_ids_pass_a_full_queue(app: App) -> None:
    """Re-sending an existing id adds nothing, so it is not refused by backpressure."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a"), max_waiting=1)
    assert await enqueue(ctx, new_job("a"), max_waiting=1) == [False]


async def test_max_waiting_zero_is_unbounded(app: App) -> None:
    """max_waiting = 0 never refuses."""
    ctx = await open_ctx(app)
    assert await enqueue(ctx, *(new_job() for _ in range(50)), max_waiting=0) == [True] * 50
    assert await stream_total(ctx) == 50


async def test_the_queue_records_the_priorities_its_jobs_are_created_with(app: App) -> None:
    """The meta hash's prios names each priority a job was created with (delayed ones too),
    in order of first use; a call that creates nothing writes nothing."""
    ctx = await open_ctx(app)
    assert await ctx.client.hget(ctx.keys.meta, "prios") == ""
    await enqueue(ctx, new_job("a", priority=5), new_job("b"),
                  new_job("c", priority=7, due_ms=NOW + 1000), new_job("d", priority=5))
    assert await ctx.client.hget(ctx.keys.meta, "prios") == "507"
    assert await enqueue(ctx, new_job("a", priority=9), max_waiting=10) == [False]
    assert await ctx.client.hget(ctx.keys.meta, "prios") == "507"


async def test_max_waiting_counts_jobs_in_every_stream_they_reach(app: App) -> None:
    """Only the streams of recorded priorities are counted, and a job keeps its priority:
    one created delayed at priority 8 counts once promoted into its stream."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a", priority=3), new_job("b", priority=8, due_ms=NOW + 10),
                  max_waiting=2)
    assert await ctx.scripts.promote_due(ctx.keys, NOW + 20, 100) == (1, -1)
    assert [job_id for _, job_id in await stream(ctx, 8)] == ["b"]
    with pytest.raises(QueueFull) as info:
        await enqueue(ctx, new_job("c"), max_waiting=2)
    assert info.value.waiting == 2


async def test_a_queue_without_recorded_priorities_counts_every_stream(app: App) -> None:
    """A queue made before the prios field (none in its meta hash) counts all ten streams
    and is not given a partial field."""
    ctx = await open_ctx(app)
    await ctx.client.hdel(ctx.keys.meta, "prios")
    await enqueue(ctx, new_job("a", priority=6), max_waiting=1)
    with pytest.raises(QueueFull) as info:
        await enqueue(ctx, new_job("b"), max_waiting=1)
    assert info.value.waiting == 1
    assert not await ctx.client.hexists(ctx.keys.meta, "prios")


async def test_opts_stored_only_when_given(app: App) -> None:
    """Non-empty opts are stored on the hash; empty opts leave no field."""
    ctx = await open_ctx(app)
    opts = '{"timeout":30.0,"backoff":{"kind":"fixed","delay":2.0}}'
    assert await enqueue(ctx, new_job("with", opts=opts), new_job("without")) == [True, True]
    assert (await job_hash(ctx, "with"))["opts"] == opts
    assert "opts" not in await job_hash(ctx, "without")


async def test_id_is_reusable_once_the_job_is_gone(app: App) -> None:
    """A finished job still kept blocks its id (same job); once deleted, the id is new."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a"))
    [job] = await claim(ctx)
    await ctx.scripts.complete(ctx.keys, "w1", NOW, 10, [finished(job)])
    assert await enqueue(ctx, new_job("a")) == [False]
    assert (await job_hash(ctx, "a"))["state"] == "completed"
    await ctx.scripts.remove(ctx.keys, "a", NOW)
    assert await enqueue(ctx, new_job("a")) == [True]
    assert (await job_hash(ctx, "a"))["state"] == "waiting"


async def test_a_resent_bulk_call_with_streamq_ids_adds_nothing(app: App) -> None:
    """Ids streamq made are looked up through the first one only: a resent call (same ids)
    finds it and adds none of them, while new ids in a new call are all added."""
    ctx = await open_ctx(app)
    jobs = [new_job()._replace(made_id=True) for _ in range(600)]
    assert await enqueue(ctx, *jobs) == [True] * 600
    assert await enqueue(ctx, *jobs, resent=True) == [False] * 600
    assert await stream_total(ctx) == 600
    assert len(await ctx.client.hgetall(ctx.keys.index)) == 600
    more = [new_job()._replace(made_id=True) for _ in range(3)]
    assert await enqueue(ctx, *more) == [True] * 3
    assert [j.id for j in await claim(ctx, count=1000)] == [j.id for j in jobs + more]


async def test_a_resent_call_whose_first_job_is_gone_leaves_the_others_alone(
    app: App,
) -> None:
    """A resend finds the call's first job gone when it has finished and been deleted since
    (retention). The others are then each looked up: the running one is left alone (it was
    made again beside its hash, in two places, and ran twice), the waiting one too, and only
    the deleted one is made again (an id that left no trace cannot be told from a new one)."""
    ctx = await open_ctx(app)
    jobs = [new_job()._replace(made_id=True) for _ in range(3)]
    assert await enqueue(ctx, *jobs) == [True] * 3
    first, running = await claim(ctx, "w1", count=2)
    assert await ctx.scripts.complete(ctx.keys, "w1", NOW, 0, [finished(first)]) == [True]
    assert not await exists(ctx, ctx.keys.job(first.id))
    assert await enqueue(ctx, *jobs, resent=True) == [True, False, False]
    assert not await ctx.client.hexists(ctx.keys.index, running.id)
    fields = await job_hash(ctx, running.id)
    assert (fields["state"], fields["entry"], fields["worker"]) == (
        "active", running.entry, "w1")
    assert [job_id for _, job_id in await stream(ctx, 0)] == [
        running.id, jobs[2].id, first.id]


async def test_caller_ids_are_each_looked_up_beside_streamq_ids(app: App) -> None:
    """A caller's job_id is checked on its own even in a batch of streamq ids."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("taken"))
    batch = [new_job()._replace(made_id=True), new_job("taken"), new_job("free"),
             new_job()._replace(made_id=True)]
    assert await enqueue(ctx, *batch) == [True, False, True, True]
    assert await stream_total(ctx) == 4


def _mixed_batch() -> list[NewJob]:
    """Jobs that differ in every way a run can: made and caller ids, names, priorities, due
    times (a made id delayed first), options and rate keys, with alike jobs side by side."""
    made = [new_job(name="a", due_ms=NOW + 500)._replace(made_id=True)]
    made += [new_job(name="a")._replace(made_id=True) for _ in range(3)]
    made += [new_job(name="b", priority=7, opts='{"timeout":5.0}')._replace(made_id=True)]
    made += [new_job(name="b", priority=7, rate_key="k1")._replace(made_id=True)]
    made += [new_job(name="c", due_ms=NOW + 900)._replace(made_id=True) for _ in range(2)]
    given = [new_job("given-1", name="a"), new_job("given-2", name="a", due_ms=NOW + 500)]
    return made[:3] + given[:1] + made[3:6] + given[1:] + made[6:]


async def test_a_mixed_batch_writes_every_job_as_its_own(app: App) -> None:
    """Jobs sent as runs of alike jobs each keep their own name, priority, due time, attempts,
    options and rate key, held or delayed as their due time says."""
    ctx = await open_ctx(app)
    batch = _mixed_batch()
    assert await enqueue(ctx, *batch) == [True] * len(batch)
    for job in batch:
        fields = await job_hash(ctx, job.id)
        assert (fields["name"], fields["data"], fields["prio"], fields["max"]) == (
            job.name, job.data, str(job.priority), str(job.attempts))
        assert fields["state"] == ("delayed" if job.due_ms > NOW else "waiting")
        assert fields.get("opts", "") == job.opts and fields.get("rk", "") == job.rate_key
    delayed = sorted(job.id for job in batch if job.due_ms > NOW)
    assert sorted(await zmembers(ctx, ctx.keys.delayed)) == delayed
    assert [job_id for _, job_id in await stream(ctx, 7)] == [
        job.id for job in batch if job.priority == 7]


async def test_a_resent_mixed_batch_adds_nothing(app: App) -> None:
    """Resending a mixed batch whose first streamq id is delayed finds every job."""
    ctx = await open_ctx(app)
    batch = _mixed_batch()
    await enqueue(ctx, *batch)
    assert await enqueue(ctx, *batch, now_ms=NOW + 1, resent=True) == [False] * len(batch)
    assert await stream_total(ctx) == len([job for job in batch if job.due_ms <= NOW])
    assert len(await zmembers(ctx, ctx.keys.delayed)) == len(
        [job for job in batch if job.due_ms > NOW])


async def test_a_caller_id_twice_in_different_runs_is_one_job(app: App) -> None:
    """The same caller id in two runs (different names) is still deduplicated in the batch."""
    ctx = await open_ctx(app)
    first, other = new_job("x", name="a"), new_job(name="b")._replace(made_id=True)
    again = new_job("x", name="c", due_ms=NOW + 10)
    assert await enqueue(ctx, first, other, again) == [True, True, False]
    assert (await job_hash(ctx, "x"))["name"] == "a"
    assert await zmembers(ctx, ctx.keys.delayed) == []
