"""claim.lua: priority order, count limit, pause, delivered entries, vanished jobs."""

from __future__ import annotations

from streamq import App
from tests.broker.helpers import (
    NOW,
    claim,
    deliver,
    enqueue,
    forget_job,
    job_hash,
    new_job,
    open_ctx,
    pending,
    pending_total,
    stream,
    stream_total,
)


async def test_claim_starts_a_job(app: App) -> None:
    """Claim returns every field a worker needs, counts the attempt and marks it active."""
    ctx = await open_ctx(app)
    opts = '{"timeout":5.0}'
    await enqueue(ctx, new_job("a", name="send", data='{"to": 1}', priority=3, attempts=4,
                               opts=opts))
    [entry] = await stream(ctx, 3)
    [job] = await claim(ctx, "w1", now_ms=NOW + 7)
    assert job == (
        "a", 3, entry[0], "send", '{"to": 1}', 1, 4, opts,
    )
    fields = await job_hash(ctx, "a")
    assert (fields["state"], fields["attempt"], fields["start"], fields["worker"]) == (
        "active", "1", str(NOW + 7), "w1",
    )
    assert await pending(ctx, 3) == [(entry[0], "w1")]


async def test_missing_opts_come_back_empty(app: App) -> None:
    """A job without opts is claimed with opts ''."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a"))
    [job] = await claim(ctx)
    assert job.opts == ""


async def test_priority_zero_before_nine(app: App) -> None:
    """Lower priority numbers are claimed first, whatever the enqueue order."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("p9", priority=9), new_job("p5", priority=5))
    await enqueue(ctx, new_job("p0", priority=0))
    [first] = await claim(ctx, count=1)
    assert first.id == "p0"
    rest = await claim(ctx, count=5)
    assert [(j.id, j.priority) for j in rest] == [("p5", 5), ("p9", 9)]


async def test_count_limits_the_claim(app: App) -> None:
    """At most ``count`` jobs start; the rest stay waiting, in FIFO order."""
    ctx = await open_ctx(app)
    jobs = [new_job(f"j{i}") for i in range(5)]
    await enqueue(ctx, *jobs)
    claimed = await claim(ctx, count=3)
    assert [j.id for j in claimed] == ["j0", "j1", "j2"]
    assert await pending_total(ctx) == 3
    assert [(await job_hash(ctx, f"j{i}"))["state"] for i in range(5)] == [
        "active", "active", "active", "waiting", "waiting",
    ]
    assert [j.id for j in await claim(ctx, "w2", count=10)] == ["j3", "j4"]
    assert await claim(ctx, "w3") == []


async def test_count_spans_priorities(app: App) -> None:
    """A claim fills its count across streams, highest priority first."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a", priority=1), new_job("b", priority=2),
                  new_job("c", priority=2))
    assert [j.id for j in await claim(ctx, count=2)] == ["a", "b"]


async def test_paused_returns_none_and_starts_nothing(app: App) -> None:
    """On a paused queue claim returns None and no job starts."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a"))
    await ctx.scripts.pause(ctx.keys, True)
    assert await ctx.scripts.claim(ctx.keys, "w1", NOW, 5) is None
    assert (await job_hash(ctx, "a"))["state"] == "waiting"
    assert await pending_total(ctx) == 0
    await ctx.scripts.pause(ctx.keys, False)
    assert [j.id for j in await claim(ctx)] == ["a"]


async def test_paused_hands_delivered_entries_back(app: App) -> None:
    """Entries a blocking read delivered to a paused consumer go back to the stream."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a"), new_job("b"))
    delivered = await deliver(ctx, "w1")
    assert len(delivered) == 2 and await pending_total(ctx) == 2
    await ctx.scripts.pause(ctx.keys, True)
    assert await ctx.scripts.claim(ctx.keys, "w1", NOW, 5, delivered) is None
    assert await pending_total(ctx) == 0
    entries = await stream(ctx, 0)
    assert [job_id for _, job_id in entries] == ["a", "b"]
    old = {entry for _, entry, _ in delivered}
    assert not old & {entry for entry, _ in entries}
    for entry, job_id in entries:
        fields = await job_hash(ctx, job_id)
        assert (fields["state"], fields["entry"], fields["attempt"]) == ("waiting", entry, "0")
    await ctx.scripts.pause(ctx.keys, False)
    assert [(j.id, j.attempt) for j in await claim(ctx, "w2")] == [("a", 1), ("b", 1)]


async def test_delivered_entries_are_started(app: App) -> None:
    """Entries already delivered by a blocking read are started by claim, keeping their ids."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a", priority=2))
    delivered = await deliver(ctx, "w1", priority=2)
    [job] = await claim(ctx, "w1", count=1, delivered=delivered)
    assert (job.id, job.entry, job.priority, job.attempt) == ("a", delivered[0][1], 2, 1)
    assert await pending(ctx, 2) == [(delivered[0][1], "w1")]


async def test_delivered_beyond_count_are_handed_back(app: App) -> None:
    """With 3 delivered entries and 1 free slot, 1 starts and 2 go back to the stream."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a"), new_job("b"), new_job("c"))
    delivered = await deliver(ctx, "w1")
    claimed = await claim(ctx, "w1", count=1, delivered=delivered)
    assert [j.id for j in claimed] == ["a"]
    assert await pending(ctx, 0) == [(delivered[0][1], "w1")]
    assert await stream_total(ctx) == 3
    for job_id in ("b", "c"):
        fields = await job_hash(ctx, job_id)
        assert (fields["state"], fields["attempt"]) == ("waiting", "0")
        assert fields["entry"] not in {entry for _, entry, _ in delivered}
    assert [j.id for j in await claim(ctx, "w2")] == ["b", "c"]


async def test_a_resent_claim_reports_the_jobs_it_started_again(app: App) -> None:
    """A claim run twice with the same delivered entries (its reply was lost and redis-py's
    cluster client resent it) reports the jobs the first run started again, at the same
    attempt, their entries still pending: the second run dropped those entries, leaving
    the jobs ACTIVE with nothing for reclaim to find. A held job and one with a hash."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("held"), new_job("hashed", due_ms=NOW + 1000))
    await ctx.scripts.promote(ctx.keys, "hashed")  # an id-only entry, the job in its hash
    delivered = await deliver(ctx, "w1")
    first = await claim(ctx, "w1", count=2, delivered=delivered)
    assert [(j.id, j.attempt) for j in first] == [("held", 1), ("hashed", 1)]
    assert await claim(ctx, "w1", count=2, delivered=delivered) == first
    assert sorted(await pending(ctx, 0)) == sorted((e, "w1") for _, e, _ in delivered)
    for job in first:
        fields = await job_hash(ctx, job.id)
        assert (fields["state"], fields["attempt"], fields["entry"]) == (
            "active", "1", job.entry)


async def test_entry_of_deleted_job_is_dropped(app: App) -> None:
    """An entry whose job hash is gone is acked and deleted; claim moves on without error."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("gone"), new_job("kept"))
    await forget_job(ctx.client, ctx.keys, "gone")
    assert [j.id for j in await claim(ctx, count=1)] == ["kept"]
    assert [job_id for _, job_id in await stream(ctx, 0)] == ["kept"]
    assert await pending_total(ctx) == 1


async def test_delivered_entry_of_deleted_job_is_dropped(app: App) -> None:
    """The same holds for an entry a blocking read delivered before the job was deleted."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("gone"))
    delivered = await deliver(ctx, "w1")
    await forget_job(ctx.client, ctx.keys, "gone")
    assert await claim(ctx, "w1", delivered=delivered) == []
    assert await pending_total(ctx) == 0
    assert await stream_total(ctx) == 0


async def test_attempt_increments_on_each_claim(app: App) -> None:
    """Each start counts one attempt."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a", attempts=5))
    [job] = await claim(ctx)
    assert job.attempt == 1
    assert await ctx.scripts.release(ctx.keys, "w1", [(job.id, job.priority, job.entry)]) == [
        True,
    ]
    await ctx.client.hset(ctx.keys.job("a"), "attempt", 3)
    [again] = await claim(ctx)
    assert again.attempt == 4
    assert (await job_hash(ctx, "a"))["attempt"] == "4"


async def test_stale_delivered_entry_of_a_recreated_job_is_dropped(app: App) -> None:
    """If a delivered job was removed and re-enqueued under the same id before claim, the
    old entry is dropped and the job starts from its new entry (which claim then owns)."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a"))
    delivered = await deliver(ctx, "w1")
    await ctx.scripts.remove(ctx.keys, "a", NOW)
    await enqueue(ctx, new_job("a"))
    [(fresh, _)] = await stream(ctx, 0)
    [job] = await claim(ctx, "w1", delivered=delivered)
    assert (job.id, job.entry, job.attempt) == ("a", fresh, 1)
    assert await pending(ctx, 0) == [(fresh, "w1")]
    assert (await job_hash(ctx, "a"))["entry"] == fresh


async def test_paused_hand_back_skips_a_stale_entry(app: App) -> None:
    """A delivered entry that is no longer its job's current one (the hash was lost and the
    id enqueued again) is dropped, not handed back over the new life's entry."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a"))
    delivered = await deliver(ctx, "w1")
    await forget_job(ctx.client, ctx.keys, "a")
    await enqueue(ctx, new_job("a"))
    new_entry = (await job_hash(ctx, "a"))["entry"]
    await ctx.scripts.pause(ctx.keys, True)
    assert await ctx.scripts.claim(ctx.keys, "w1", NOW, 1, delivered) is None
    assert (await job_hash(ctx, "a"))["entry"] == new_entry
    assert [entry for entry, _ in await stream(ctx)] == [new_entry]
