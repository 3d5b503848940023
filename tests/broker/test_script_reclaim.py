"""reclaim.lua: stalled entries (idle past the lease) are requeued or dead-lettered.

The script takes the lease in ms, so tests use a lease of a few ms and a short sleep.
"""

from __future__ import annotations

import asyncio

from streamq import App
from streamq.broker.scripts import Reclaimed
from tests.broker.helpers import (
    KEEP,
    NOW,
    Ctx,
    claim,
    deliver,
    enqueue,
    events,
    exists,
    finished,
    forget_job,
    job_hash,
    new_job,
    open_ctx,
    pending,
    pending_total,
    start,
    stream,
    stream_total,
    zmembers,
    zscore,
)

LEASE_MS = 5
START = ("0-0",) * 10


async def reclaim(
    ctx: Ctx, *, lease_ms: int = LEASE_MS, count: int = 100, keep: int = KEEP,
    cursors: tuple[str, ...] = START, now_ms: int = NOW,
) -> Reclaimed:
    """One reclaim pass as consumer "reclaimer"."""
    return await ctx.scripts.reclaim(ctx.keys, "reclaimer", now_ms, lease_ms, count, keep,
                                     cursors)


async def go_idle() -> None:
    """Let pending entries go idle for longer than LEASE_MS."""
    await asyncio.sleep(0.03)


async def test_stalled_job_is_requeued_keeping_its_attempt(app: App) -> None:
    """A stalled active job goes back to WAITING with its attempt counted; the next claim is
    attempt 2."""
    ctx = await open_ctx(app)
    job = await start(ctx, new_job("a", priority=3, attempts=3))
    await go_idle()
    result = await reclaim(ctx)
    assert (result.requeued, result.failed, result.stalled) == (1, 0, ("a",))
    assert await pending(ctx, 3) == []
    [(entry, job_id)] = await stream(ctx, 3)
    assert job_id == "a" and entry != job.entry
    fields = await job_hash(ctx, "a")
    assert (fields["state"], fields["entry"], fields["attempt"]) == ("waiting", entry, "1")
    assert "worker" not in fields and "start" not in fields
    [again] = await claim(ctx, "w2")
    assert (again.id, again.attempt, again.entry) == ("a", 2, entry)


async def test_fresh_entries_are_left_alone(app: App) -> None:
    """Entries idle for less than the lease are not touched."""
    ctx = await open_ctx(app)
    job = await start(ctx, new_job("a"))
    result = await reclaim(ctx, lease_ms=60_000)
    assert (result.requeued, result.failed, result.stalled) == (0, 0, ())
    assert await pending(ctx, 0) == [(job.entry, "w1")]
    assert (await job_hash(ctx, "a"))["state"] == "active"


async def test_out_of_attempts_is_dead_lettered(app: App) -> None:
    """A job that stalls on its last attempt goes to FAILED with a 'stalled' error."""
    ctx = await open_ctx(app)
    await start(ctx, new_job("a", attempts=1))
    await go_idle()
    result = await reclaim(ctx, now_ms=NOW + 40)
    assert (result.requeued, result.failed, result.stalled) == (0, 1, ("a",))
    fields = await job_hash(ctx, "a")
    assert fields["state"] == "failed"
    assert fields["error"].startswith("stalled")
    assert fields["end"] == str(NOW + 40)
    assert "entry" not in fields
    assert await zscore(ctx, ctx.keys.failed, "a") == NOW + 40
    assert await pending_total(ctx) == 0
    assert await stream_total(ctx) == 0
    assert {"ev": "failed", "id": "a"} in await events(ctx)


async def test_stall_counts_as_an_attempt(app: App) -> None:
    """Two attempts, two stalls: requeued once, then dead-lettered (no crash loop)."""
    ctx = await open_ctx(app)
    await start(ctx, new_job("a", attempts=2))
    await go_idle()
    assert (await reclaim(ctx)).requeued == 1
    [again] = await claim(ctx, "w2")
    assert again.attempt == 2
    await go_idle()
    result = await reclaim(ctx)
    assert (result.requeued, result.failed) == (0, 1)
    assert (await job_hash(ctx, "a"))["state"] == "failed"


async def test_never_started_entry_is_requeued_without_an_attempt(app: App) -> None:
    """An entry delivered by a blocking read but never claimed goes back, attempt 0, and is
    not reported as stalled."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a", attempts=1))
    [(_, old_entry, _)] = await deliver(ctx, "w1")
    await go_idle()
    result = await reclaim(ctx)
    assert (result.requeued, result.failed, result.stalled) == (1, 0, ())
    [(entry, _)] = await stream(ctx, 0)
    assert entry != old_entry
    fields = await job_hash(ctx, "a")
    assert (fields["state"], fields["attempt"], fields["entry"]) == ("waiting", "0", entry)
    assert await pending_total(ctx) == 0
    [job] = await claim(ctx, "w2")
    assert job.attempt == 1


async def test_entry_of_deleted_job_is_dropped(app: App) -> None:
    """A stalled entry whose job hash is gone is acked and deleted, not requeued."""
    ctx = await open_ctx(app)
    await start(ctx, new_job("a"))
    await forget_job(ctx.client, ctx.keys, "a")
    await go_idle()
    result = await reclaim(ctx)
    assert (result.requeued, result.failed) == (0, 0)
    assert await pending_total(ctx) == 0
    assert await stream_total(ctx) == 0
    assert not await exists(ctx, ctx.keys.job("a"))


async def test_every_priority_is_scanned(app: App) -> None:
    """Stalled entries in several priority streams are all reclaimed in one pass."""
    ctx = await open_ctx(app)
    for prio in (0, 4, 9):
        await start(ctx, new_job(f"p{prio}", priority=prio))
    await go_idle()
    result = await reclaim(ctx)
    assert result.requeued == 3
    assert sorted(result.stalled) == ["p0", "p4", "p9"]
    for prio in (0, 4, 9):
        assert [job_id for _, job_id in await stream(ctx, prio)] == [f"p{prio}"]


async def test_count_and_cursor_resume_the_scan(app: App) -> None:
    """COUNT bounds each stream's batch; the returned cursors continue where it stopped."""
    ctx = await open_ctx(app)
    await enqueue(ctx, *(new_job(f"j{i}") for i in range(3)))
    await claim(ctx, "w1")
    await go_idle()
    first = await reclaim(ctx, count=2)
    assert first.requeued == 2
    assert len(first.cursors) == 10
    assert first.cursors[0] != "0-0"
    assert all(c == "0-0" for c in first.cursors[1:])
    second = await reclaim(ctx, count=2, cursors=first.cursors)
    assert second.requeued == 1
    assert sorted(first.stalled + second.stalled) == ["j0", "j1", "j2"]
    assert second.cursors[0] == "0-0"
    assert await pending_total(ctx) == 0


async def test_keep_failed_trims_dead_letters(app: App) -> None:
    """Dead-lettering a stalled job trims the failed set to keep_failed, oldest first."""
    ctx = await open_ctx(app)
    await ctx.client.zadd(ctx.keys.failed, {"older": NOW - 1000})
    await ctx.client.hset(ctx.keys.job("older"), mapping={"state": "failed"})
    await start(ctx, new_job("a", attempts=1))
    await go_idle()
    assert (await reclaim(ctx, keep=1)).failed == 1
    assert await zmembers(ctx, ctx.keys.failed) == ["a"]
    assert not await exists(ctx, ctx.keys.job("older"))


async def test_keep_failed_never_trims_the_job_it_dead_letters(app: App) -> None:
    """A dead letter of the same ms that ranks above (ties go by id) does not push out the
    job this reclaim just dead-lettered."""
    ctx = await open_ctx(app)
    await ctx.client.zadd(ctx.keys.failed, {"z": NOW})
    await ctx.client.hset(ctx.keys.job("z"), mapping={"state": "failed"})
    await start(ctx, new_job("a", attempts=1))
    await go_idle()
    assert (await reclaim(ctx, keep=1)).failed == 1
    assert (await job_hash(ctx, "a"))["state"] == "failed"


async def test_old_owner_is_locked_out(app: App) -> None:
    """After reclaim, the old owner can neither renew nor complete its entry."""
    ctx = await open_ctx(app)
    job = await start(ctx, new_job("a"))
    await go_idle()
    await reclaim(ctx)
    assert await ctx.scripts.extend(ctx.keys, "w1", [(0, job.entry)]) == [False]
    assert await ctx.scripts.complete(ctx.keys, "w1", NOW, KEEP, [finished(job)]) == [False]
    assert (await job_hash(ctx, "a"))["state"] == "waiting"


async def test_stale_entry_does_not_requeue_a_job_running_elsewhere(app: App) -> None:
    """A leftover pending entry of an earlier incarnation of the job (its hash was lost, the
    id enqueued again and now running under a new entry) is dropped, not treated as a stall
    of the running job (which would run it twice at once)."""
    ctx = await open_ctx(app)
    old = await start(ctx, new_job("a"), consumer="w1")
    await forget_job(ctx.client, ctx.keys, "a")
    assert await ctx.scripts.fail(ctx.keys, "w1", old, NOW, error="e", traceback="",
                                  retry_delay_ms=None, keep=KEEP) == "lease_lost"
    await asyncio.sleep(0.06)
    new = await start(ctx, new_job("a"), consumer="w2")
    result = await reclaim(ctx, lease_ms=40)
    assert (result.requeued, result.failed, result.stalled) == (0, 0, ())
    assert await pending(ctx, 0) == [(new.entry, "w2")]
    assert await stream(ctx, 0) == [(new.entry, "a")]
    fields = await job_hash(ctx, "a")
    assert (fields["state"], fields["entry"], fields["worker"]) == ("active", new.entry, "w2")
