"""complete.lua: recording results, ownership (LEASE_LOST), keep_completed retention."""

from __future__ import annotations

import json

from streamq import App
from tests.broker.helpers import (
    KEEP,
    NOW,
    claim,
    deliver,
    enqueue,
    events,
    exists,
    finished,
    forget_job,
    job_hash,
    logs,
    new_job,
    open_ctx,
    pending,
    pending_total,
    start,
    start_then_reclaim,
    stream,
    stream_total,
    zmembers,
    zscore,
)


async def test_complete_records_the_result(app: App) -> None:
    """The entry leaves the stream and the PEL; the hash holds state, result and end (and
    the id of the entry it ran from, now deleted: inert)."""
    ctx = await open_ctx(app)
    job = await start(ctx, new_job("a", priority=6))
    assert await ctx.scripts.complete(
        ctx.keys, "w1", NOW + 50, KEEP, [finished(job, '{"sent": true}')]
    ) == [True]
    fields = await job_hash(ctx, "a")
    assert (fields["state"], fields["result"], fields["end"]) == (
        "completed", '{"sent": true}', str(NOW + 50),
    )
    assert fields["entry"] == job.entry
    assert await zscore(ctx, ctx.keys.completed, "a") == NOW + 50
    assert await pending(ctx, 6) == []
    assert await stream_total(ctx) == 0
    assert {"ev": "completed", "ids": '["a"]'} in await events(ctx)


async def test_batch_of_jobs(app: App) -> None:
    """One call completes many jobs; each gets its own result."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a"), new_job("b", priority=1), new_job("c", priority=9))
    jobs = await claim(ctx, "w1")
    done = [finished(job, f'"{job.id}"') for job in jobs]
    assert await ctx.scripts.complete(ctx.keys, "w1", NOW, KEEP, done) == [True] * 3
    for job_id in ("a", "b", "c"):
        assert (await job_hash(ctx, job_id))["result"] == f'"{job_id}"'
    assert await pending_total(ctx) == 0
    assert sorted(await zmembers(ctx, ctx.keys.completed)) == ["a", "b", "c"]
    [event] = await events(ctx)  # one event for the batch
    assert event["ev"] == "completed"
    assert sorted(json.loads(event["ids"])) == ["a", "b", "c"]


async def test_other_consumer_gets_lease_lost(app: App) -> None:
    """A consumer that does not own the entry cannot complete it: nothing changes."""
    ctx = await open_ctx(app)
    job = await start(ctx, new_job("a"), consumer="w1")
    before = await job_hash(ctx, "a")
    assert await ctx.scripts.complete(ctx.keys, "w2", NOW, KEEP, [finished(job)]) == [False]
    assert await job_hash(ctx, "a") == before
    assert await pending(ctx, 0) == [(job.entry, "w1")]
    assert await zmembers(ctx, ctx.keys.completed) == []
    assert await events(ctx) == []


async def test_mixed_batch_completes_only_owned_jobs(app: App) -> None:
    """In one batch, owned entries complete and the others report lease lost."""
    ctx = await open_ctx(app)
    mine = await start(ctx, new_job("mine"), consumer="w1")
    theirs = await start(ctx, new_job("theirs"), consumer="w2")
    reply = await ctx.scripts.complete(
        ctx.keys, "w1", NOW, KEEP, [finished(mine), finished(theirs)]
    )
    assert reply == [True, False]
    assert (await job_hash(ctx, "theirs"))["state"] == "active"
    assert await pending(ctx, 0) == [(theirs.entry, "w2")]


async def test_old_owner_cannot_complete_after_reclaim(app: App) -> None:
    """Once reclaimed and claimed by w2, w1's completion is refused and w2's job is intact."""
    ctx = await open_ctx(app)
    old = await start_then_reclaim(ctx, "w1")
    [new] = await claim(ctx, "w2")
    assert await ctx.scripts.complete(ctx.keys, "w1", NOW, KEEP, [finished(old)]) == [False]
    fields = await job_hash(ctx, "a")
    assert (fields["state"], fields["worker"], fields["attempt"]) == ("active", "w2", "2")
    assert await pending(ctx, 0) == [(new.entry, "w2")]
    assert await ctx.scripts.complete(ctx.keys, "w2", NOW, KEEP, [finished(new)]) == [True]


async def test_a_stale_run_cannot_complete_its_rerun_on_the_same_worker(app: App) -> None:
    """Reclaimed and claimed again by the same worker, the job runs from a new entry: the
    first run's completion (old entry) is refused, the second run's goes through."""
    ctx = await open_ctx(app)
    old = await start_then_reclaim(ctx, "w1")
    [new] = await claim(ctx, "w1")
    assert await ctx.scripts.complete(ctx.keys, "w1", NOW, KEEP, [finished(old, "1")]) == [
        False,
    ]
    fields = await job_hash(ctx, "a")
    assert (fields["state"], fields["entry"], fields["attempt"]) == ("active", new.entry, "2")
    assert await ctx.scripts.complete(ctx.keys, "w1", NOW, KEEP, [finished(new, "2")]) == [True]
    assert (await job_hash(ctx, "a"))["result"] == "2"


async def test_the_same_job_twice_in_a_batch_completes_once(app: App) -> None:
    """A batch naming one run twice completes it once, with the first result, in one event."""
    ctx = await open_ctx(app)
    job = await start(ctx, new_job("a"))
    reply = await ctx.scripts.complete(
        ctx.keys, "w1", NOW, KEEP, [finished(job, "1"), finished(job, "2")])
    assert reply == [True, False]
    assert (await job_hash(ctx, "a"))["result"] == "1"
    assert await zmembers(ctx, ctx.keys.completed) == ["a"]
    assert {"ev": "completed", "ids": '["a"]'} in await events(ctx)


async def test_completing_twice_is_refused(app: App) -> None:
    """A second completion of the same entry reports lease lost and keeps the first result."""
    ctx = await open_ctx(app)
    job = await start(ctx, new_job("a"))
    assert await ctx.scripts.complete(ctx.keys, "w1", NOW, KEEP, [finished(job, "1")]) == [True]
    assert await ctx.scripts.complete(ctx.keys, "w1", NOW + 9, KEEP, [finished(job, "2")]) == [
        False,
    ]
    fields = await job_hash(ctx, "a")
    assert (fields["result"], fields["end"]) == ("1", str(NOW))


async def test_keep_zero_deletes_the_job(app: App) -> None:
    """keep_completed = 0 deletes the hash and the log at once."""
    ctx = await open_ctx(app)
    job = await start(ctx, new_job("a"))
    await ctx.scripts.log(ctx.keys, "a", "line", 100)
    assert await ctx.scripts.complete(ctx.keys, "w1", NOW, 0, [finished(job)]) == [True]
    assert not await exists(ctx, ctx.keys.job("a"))
    assert not await exists(ctx, ctx.keys.logs("a"))
    assert await zmembers(ctx, ctx.keys.completed) == []
    assert await pending_total(ctx) == 0
    assert {"ev": "completed", "ids": '["a"]'} in await events(ctx)


async def test_keep_trims_the_oldest(app: App) -> None:
    """Beyond keep_completed, the oldest completed jobs are deleted with their logs."""
    ctx = await open_ctx(app)
    for i, job_id in enumerate(("old", "mid", "new")):
        job = await start(ctx, new_job(job_id))
        await ctx.scripts.log(ctx.keys, job_id, "x", 100)
        assert await ctx.scripts.complete(ctx.keys, "w1", NOW + i, 2, [finished(job)]) == [True]
    assert await zmembers(ctx, ctx.keys.completed) == ["mid", "new"]
    assert not await exists(ctx, ctx.keys.job("old"))
    assert not await exists(ctx, ctx.keys.logs("old"))
    assert (await job_hash(ctx, "mid"))["state"] == "completed"
    assert await logs(ctx, "new") == ["x"]


async def test_a_batch_trims_the_oldest_but_none_of_its_own(app: App) -> None:
    """A batch that takes the set past keep_completed deletes the oldest jobs in one call,
    but none of its own, even when it is larger than keep_completed: its jobs were deleted
    before a Job.result() waiter, woken by the batch's event, could read them (JobNotFound
    for a completed job)."""
    ctx = await open_ctx(app)
    for i, job_id in enumerate(("old1", "old2")):
        job = await start(ctx, new_job(job_id))
        await ctx.scripts.log(ctx.keys, job_id, "x", 100)
        assert await ctx.scripts.complete(ctx.keys, "w1", NOW + i, 3, [finished(job)]) == [True]
    await enqueue(ctx, new_job("a"), new_job("b"), new_job("c"), new_job("d"))
    done = [finished(job) for job in await claim(ctx, "w1")]
    assert await ctx.scripts.complete(ctx.keys, "w1", NOW + 10, 3, done) == [True] * 4
    assert sorted(await zmembers(ctx, ctx.keys.completed)) == ["a", "b", "c", "d"]
    for job_id in ("old1", "old2"):
        assert not await exists(ctx, ctx.keys.job(job_id))
        assert not await exists(ctx, ctx.keys.logs(job_id))
    for job_id in "abcd":
        assert (await job_hash(ctx, job_id))["state"] == "completed"
    job = await start(ctx, new_job("e"))
    assert await ctx.scripts.complete(ctx.keys, "w1", NOW + 11, 3, [finished(job)]) == [True]
    assert await zmembers(ctx, ctx.keys.completed) == ["c", "d", "e"]


async def test_a_batch_keeps_its_own_jobs_beside_others_finished_in_the_same_ms(
    app: App,
) -> None:
    """Another worker's job completed in the same millisecond ties with the batch's on
    score, and ties are ranked by id: trimming by rank deleted one of the batch's own. Only
    jobs finished before the batch are trimmed; the next batch trims the rest."""
    ctx = await open_ctx(app)
    other = await start(ctx, new_job("z"), consumer="w2")
    assert await ctx.scripts.complete(ctx.keys, "w2", NOW, 2, [finished(other)]) == [True]
    await enqueue(ctx, new_job("a"), new_job("b"))
    done = [finished(job) for job in await claim(ctx, "w1")]
    assert await ctx.scripts.complete(ctx.keys, "w1", NOW, 2, done) == [True, True]
    assert sorted(await zmembers(ctx, ctx.keys.completed)) == ["a", "b", "z"]
    later = await start(ctx, new_job("c"))
    assert await ctx.scripts.complete(ctx.keys, "w1", NOW + 1, 2, [finished(later)]) == [True]
    assert await zmembers(ctx, ctx.keys.completed) == ["z", "c"]
    assert not await exists(ctx, ctx.keys.job("a"))


async def test_vanished_job_is_not_recreated(app: App) -> None:
    """If the job hash vanished while running, completion reports lease lost and writes no
    partial hash (a phantom completed job with no name or data)."""
    ctx = await open_ctx(app)
    job = await start(ctx, new_job("a"))
    await forget_job(ctx.client, ctx.keys, "a")
    assert await ctx.scripts.complete(ctx.keys, "w1", NOW, KEEP, [finished(job)]) == [False]
    assert not await exists(ctx, ctx.keys.job("a"))
    assert await zmembers(ctx, ctx.keys.completed) == []


async def test_stale_entry_does_not_complete_a_recreated_job(app: App) -> None:
    """A run whose job hash was lost and whose id was enqueued again cannot complete the new
    job with its old result: the new job stays waiting and is claimed normally."""
    ctx = await open_ctx(app)
    old = await start(ctx, new_job("a"), consumer="w1")
    await forget_job(ctx.client, ctx.keys, "a")
    await enqueue(ctx, new_job("a"))
    assert await ctx.scripts.complete(ctx.keys, "w1", NOW, KEEP, [finished(old)]) == [False]
    assert (await job_hash(ctx, "a"))["state"] == "waiting"
    [new] = await claim(ctx, "w2")
    assert (new.id, new.attempt) == ("a", 1)


async def test_jobs_finishing_out_of_order_leave_only_unfinished_entries(app: App) -> None:
    """Entries leave the stream as their jobs complete, in any order (the oldest ones with
    one XTRIM, the rest one by one): entries of running jobs and of jobs not yet delivered
    stay, and the waiting count stays exact."""
    ctx = await open_ctx(app)
    await enqueue(ctx, *(new_job(f"j{i}") for i in range(5)))
    running = {job.id: job for job in await claim(ctx, "w1", count=4)}
    assert len(running) == 4

    async def complete(*ids: str) -> None:
        done = [finished(running[i]) for i in ids]
        assert await ctx.scripts.complete(ctx.keys, "w1", NOW, KEEP, done) == [True] * len(ids)

    await complete("j2")
    assert [job_id for _, job_id in await stream(ctx)] == ["j0", "j1", "j3", "j4"]
    await complete("j0", "j3")
    assert [job_id for _, job_id in await stream(ctx)] == ["j1", "j4"]
    assert (await ctx.app.queue().counts())["waiting"] == 1
    await complete("j1")
    assert [job_id for _, job_id in await stream(ctx)] == ["j4"]
    assert [job.id for job in await claim(ctx, "w2")] == ["j4"]
    assert await pending_total(ctx) == 1


async def test_entries_delivered_to_another_worker_stay(app: App) -> None:
    """An older entry a blocking read delivered to another worker (pending there, not yet
    claimed) outlives the completion of newer jobs, and still starts."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("held"))
    delivered = await deliver(ctx, "w2")
    await enqueue(ctx, new_job("a"), new_job("b"))
    jobs = await claim(ctx, "w1")
    assert [job.id for job in jobs] == ["a", "b"]
    assert await ctx.scripts.complete(
        ctx.keys, "w1", NOW, KEEP, [finished(job) for job in jobs]) == [True, True]
    assert [job_id for _, job_id in await stream(ctx)] == ["held"]
    [job] = await claim(ctx, "w2", delivered=delivered)
    assert job.id == "held"


async def test_a_completed_job_keeps_an_inert_entry_id(app: App) -> None:
    """A completed job keeps the id of its (deleted) entry: a resent complete is refused and
    remove deletes the job without touching any stream."""
    ctx = await open_ctx(app)
    job = await start(ctx, new_job("a"))
    assert await ctx.scripts.complete(ctx.keys, "w1", NOW, KEEP, [finished(job)]) == [True]
    assert await ctx.scripts.complete(ctx.keys, "w1", NOW, KEEP, [finished(job)]) == [False]
    await enqueue(ctx, new_job("b"))
    await ctx.app.queue().remove("a")
    assert not await exists(ctx, ctx.keys.job("a"))
    assert [job_id for _, job_id in await stream(ctx)] == ["b"]
