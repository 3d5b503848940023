"""remove.lua and drain.lua give back the rate-limit token a deferred job holds: deleting a
tenant's deferred backlog does not leave its bucket in debt for the backlog's length. Only
a key's latest reservation goes back (drain deletes latest first), so the key's limit is
never exceeded."""

from __future__ import annotations

from typing import Any

from streamq import App, RateLimit
from tests.broker.helpers import NOW, Ctx, enqueue, job_hash, new_job, open_ctx

from .test_script_claim_rate import ids, rclaim

PER_MINUTE = RateLimit(1, per=60)
MINUTE = 60_000


async def key_bucket(ctx: Ctx, key: str = "A") -> dict[str, str]:
    fields: Any = await ctx.client.hgetall(f"{ctx.keys.rate}:{key}")
    return dict(fields)


async def defer_backlog(ctx: Ctx, deferred: int, key: str = "A") -> None:
    """One job of `key` starts at NOW; the next `deferred` wait a minute apart."""
    await enqueue(ctx, *[new_job(f"{key}{i}", rate_key=key) for i in range(deferred + 1)])
    assert ids(await rclaim(ctx, key=PER_MINUTE)) == [f"{key}0"]
    assert (await key_bucket(ctx, key))["q"] == str(NOW + deferred * MINUTE)


async def due_of_next_job(ctx: Ctx, job_id: str, now_ms: int = NOW) -> int:
    """Enqueue one more job of key A and claim: it is deferred; its due time."""
    await enqueue(ctx, new_job(job_id, rate_key="A"))
    assert await rclaim(ctx, key=PER_MINUTE, now_ms=now_ms) == []
    return int((await job_hash(ctx, job_id))["due"])


async def test_a_deferred_job_records_the_token_it_holds(app: App) -> None:
    """`rsv` is the token's size, the job's due time and the key's last due before it."""
    ctx = await open_ctx(app)
    await defer_backlog(ctx, 2)
    assert (await job_hash(ctx, "A1"))["rsv"] == f"{MINUTE}:{NOW + MINUTE}:0"
    assert (await job_hash(ctx, "A2"))["rsv"] == f"{MINUTE}:{NOW + 2 * MINUTE}:{NOW + MINUTE}"


async def test_removing_the_latest_deferred_job_gives_its_token_back(app: App) -> None:
    """A3 took the token of minute 3; removed, the next job of A gets that minute, not the
    fourth. Before, the bucket stayed in debt and the next job waited a minute more for
    each deferred job removed."""
    ctx = await open_ctx(app)
    await defer_backlog(ctx, 3)
    assert await ctx.scripts.remove(ctx.keys, "A3", NOW) == "delayed"
    assert await key_bucket(ctx) == {"t": str(-2 * MINUTE), "ts": str(NOW),
                                     "q": str(NOW + 2 * MINUTE)}
    assert await due_of_next_job(ctx, "A4") == NOW + 3 * MINUTE


async def test_removing_an_earlier_deferred_job_keeps_its_slot_unused(app: App) -> None:
    """A1 is not the key's latest reservation: giving its token back would let the next job
    of A start beside A3 (two starts in one minute of a 1-a-minute limit). Its minute stays
    unused, and the next job comes after A3."""
    ctx = await open_ctx(app)
    await defer_backlog(ctx, 3)
    before = await key_bucket(ctx)
    assert await ctx.scripts.remove(ctx.keys, "A1", NOW) == "delayed"
    assert await key_bucket(ctx) == before
    assert await due_of_next_job(ctx, "A4") == NOW + 4 * MINUTE


async def test_draining_a_deferred_backlog_frees_the_keys_bucket(app: App) -> None:
    """After a drain of A's 50 deferred jobs, A's bucket is as after its first job: its next
    job starts as soon as the limit allows (a minute later), not 50 minutes later. Key B's
    bucket, drained in the same call, is freed too."""
    ctx = await open_ctx(app)
    await defer_backlog(ctx, 50)
    await defer_backlog(ctx, 3, key="B")
    assert await ctx.scripts.drain(ctx.keys, "drainer:1", 20, True, NOW) == 20
    while await ctx.scripts.drain(ctx.keys, "drainer:1", 20, True, NOW):
        pass
    for key in ("A", "B"):
        assert await key_bucket(ctx, key) == {"t": "0", "ts": str(NOW), "q": "0"}
    await enqueue(ctx, new_job("A-after", rate_key="A"))
    assert ids(await rclaim(ctx, key=PER_MINUTE, now_ms=NOW + MINUTE)) == ["A-after"]


async def test_a_job_promoted_by_hand_gives_its_token_back_when_drained(app: App) -> None:
    """A1, promoted by hand, waits in the stream holding the token of minute 1; drain deletes
    it before A2 and A3 (streams first), and gives the three tokens back latest first. Given
    back as deleted, A1's was not the latest then, and minute 1 stayed spent."""
    ctx = await open_ctx(app)
    await defer_backlog(ctx, 3)
    await ctx.scripts.promote(ctx.keys, "A1")
    while await ctx.scripts.drain(ctx.keys, "drainer:1", 100, True, NOW):
        pass
    assert await key_bucket(ctx) == {"t": "0", "ts": str(NOW), "q": "0"}
    assert await due_of_next_job(ctx, "A4") == NOW + MINUTE


async def test_no_token_goes_back_once_a_job_started_on_a_fresh_one(app: App) -> None:
    """B started at minute 2 on a fresh token, A1's reservation (minute 1) long past. A
    remover whose clock is 90 s behind the worker's still sees A1 due: its token must not go
    back, or E would start beside B, two starts in one minute of a 1-a-minute limit."""
    ctx = await open_ctx(app)
    await defer_backlog(ctx, 1)
    await enqueue(ctx, new_job("B", rate_key="A"))
    assert ids(await rclaim(ctx, key=PER_MINUTE, now_ms=NOW + 2 * MINUTE)) == ["B"]
    assert await ctx.scripts.remove(ctx.keys, "A1", NOW + MINUTE // 2) == "delayed"
    assert await due_of_next_job(ctx, "E", NOW + 2 * MINUTE) == NOW + 3 * MINUTE


async def test_a_deferred_job_whose_time_came_keeps_its_token_spent(app: App) -> None:
    """Drained at A1's due time (promoted, waiting in the stream with its token), A1's minute
    is spent, as if it had run; A2's token goes back. The next job of A gets minute 2."""
    ctx = await open_ctx(app)
    await defer_backlog(ctx, 2)
    assert await ctx.scripts.promote_due(ctx.keys, NOW + MINUTE, 100) == (1, NOW + 2 * MINUTE)
    assert (await job_hash(ctx, "A1"))["state"] == "waiting"
    while await ctx.scripts.drain(ctx.keys, "drainer:1", 100, True, NOW + MINUTE):
        pass
    assert await key_bucket(ctx) == {"t": str(-MINUTE), "ts": str(NOW), "q": str(NOW + MINUTE)}
    assert await due_of_next_job(ctx, "A3", NOW + MINUTE) == NOW + 2 * MINUTE


async def test_a_reservation_whose_time_passed_is_not_given_back(app: App) -> None:
    """A1's minute passed long ago and the bucket refilled to its burst past it (one job
    started at minute 10 on it). Giving A1's token back would let another job start at
    minute 10.5, two in one minute."""
    ctx = await open_ctx(app)
    await defer_backlog(ctx, 1)
    await enqueue(ctx, new_job("Y", rate_key="A"))
    assert ids(await rclaim(ctx, key=PER_MINUTE, now_ms=NOW + 10 * MINUTE)) == ["Y"]
    half_past = NOW + 10 * MINUTE + MINUTE // 2
    assert await due_of_next_job(ctx, "Z", half_past) == NOW + 11 * MINUTE
    assert await ctx.scripts.remove(ctx.keys, "Z", half_past) == "delayed"
    assert await ctx.scripts.remove(ctx.keys, "A1", half_past) == "delayed"
    assert await due_of_next_job(ctx, "W", half_past) == NOW + 11 * MINUTE


async def test_a_job_deferred_before_this_format_is_removed_without_a_refund(app: App) -> None:
    """Jobs deferred by an earlier version hold `rsv` = "1": removing one changes nothing."""
    ctx = await open_ctx(app)
    await defer_backlog(ctx, 1)
    await ctx.client.hset(ctx.keys.job("A1"), "rsv", "1")
    before = await key_bucket(ctx)
    assert await ctx.scripts.remove(ctx.keys, "A1", NOW) == "delayed"
    assert await key_bucket(ctx) == before
