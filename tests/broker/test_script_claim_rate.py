"""claim.lua's rate limits: the tier's token bucket (count capped, RATE_LIMITED with the wait,
refill, burst, shared by consumers, expiry) and per-key buckets (jobs over their key's limit
go to DELAYED, attempt unchanged, spaced one token apart; the defer budget)."""

from __future__ import annotations

import asyncio
from typing import Any

from streamq import App, RateLimit
from streamq.broker.records import ClaimedJob
from streamq.broker.scripts import RateLimited
from tests.broker.helpers import (
    NOW,
    Ctx,
    deliver,
    enqueue,
    exists,
    job_hash,
    new_job,
    open_ctx,
    pending_total,
    stream,
    zscore,
)


async def rclaim(
    ctx: Ctx, *, tier: RateLimit | None = None, key: RateLimit | None = None,
    now_ms: int = NOW, count: int = 10, consumer: str = "w1", budget: int = 1000,
    delivered: list[tuple[int, str, str]] | None = None,
) -> list[ClaimedJob] | RateLimited:
    """Run claim with rate limits; the queue must not be paused."""
    result = await ctx.scripts.claim(ctx.keys, consumer, now_ms, count, delivered,
                                     rate_limit=tier, rate_limit_per_key=key,
                                     defer_budget=budget)
    assert result is not None
    return result


def ids(result: list[ClaimedJob] | RateLimited) -> list[str]:
    assert isinstance(result, list), f"expected jobs, got {result}"
    return [job.id for job in result]


async def bucket(ctx: Ctx, suffix: str = "") -> dict[str, str]:
    fields: Any = await ctx.client.hgetall(ctx.keys.rate + suffix)
    return dict(fields)


async def pttl(ctx: Ctx, suffix: str = "") -> int:
    return int(await ctx.client.pttl(ctx.keys.rate + suffix))


# ------------------------------------------------------------------ the tier's bucket


async def test_tier_limit_caps_the_claim_and_reports_the_wait(app: App) -> None:
    """With 3 tokens per minute, a claim for 10 starts 3; the next one starts nothing and
    says when the next token comes (20 s); the others stay waiting with attempt 0."""
    ctx = await open_ctx(app)
    limit = RateLimit(3, per=60)
    await enqueue(ctx, *[new_job(f"j{i}") for i in range(10)])
    assert ids(await rclaim(ctx, tier=limit)) == ["j0", "j1", "j2"]
    assert await rclaim(ctx, tier=limit, now_ms=NOW + 5_000) == RateLimited(15_000)
    assert await bucket(ctx) == {"t": "0", "ts": str(NOW), "q": "0"}
    assert 0 < await pttl(ctx) <= 60_000
    for i in range(3, 10):
        fields = await job_hash(ctx, f"j{i}")
        assert (fields["state"], fields["attempt"]) == ("waiting", "0")
    assert await pending_total(ctx) == 3


async def test_tokens_refill_per_window_up_to_the_burst(app: App) -> None:
    """Tokens come back at limit/per; an idle bucket holds at most `burst` (= limit)."""
    ctx = await open_ctx(app)
    limit = RateLimit(3, per=60)
    await enqueue(ctx, *[new_job(f"j{i}") for i in range(12)])
    assert len(ids(await rclaim(ctx, tier=limit))) == 3
    assert ids(await rclaim(ctx, tier=limit, now_ms=NOW + 20_000)) == ["j3"]
    assert ids(await rclaim(ctx, tier=limit, now_ms=NOW + 60_000)) == ["j4", "j5"]
    # ten idle minutes fill the bucket to 3, not 30
    assert len(ids(await rclaim(ctx, tier=limit, now_ms=NOW + 660_000))) == 3
    assert isinstance(await rclaim(ctx, tier=limit, now_ms=NOW + 660_000), RateLimited)


async def test_burst_above_and_below_the_limit(app: App) -> None:
    """burst=5 lets 5 start at once at 1/s; burst=2 at 10/s smooths to 2, then one per 100 ms."""
    ctx = await open_ctx(app)
    await enqueue(ctx, *[new_job(f"j{i}") for i in range(10)])
    big = RateLimit(1, per=1, burst=5)
    assert len(ids(await rclaim(ctx, tier=big))) == 5
    assert await rclaim(ctx, tier=big) == RateLimited(1_000)
    assert len(ids(await rclaim(ctx, tier=big, now_ms=NOW + 2_500))) == 2

    ctx2 = await open_ctx(app, "high")
    await enqueue(ctx2, *[new_job(f"k{i}") for i in range(10)])
    small = RateLimit(10, per=1, burst=2)
    assert len(ids(await rclaim(ctx2, tier=small))) == 2
    assert await rclaim(ctx2, tier=small) == RateLimited(100)
    assert len(ids(await rclaim(ctx2, tier=small, now_ms=NOW + 100))) == 1


async def test_consumers_share_the_tier_bucket(app: App) -> None:
    """Two workers together start no more than the limit."""
    ctx = await open_ctx(app)
    limit = RateLimit(3, per=60)
    await enqueue(ctx, *[new_job(f"j{i}") for i in range(10)])
    assert len(ids(await rclaim(ctx, tier=limit, consumer="w1", count=2))) == 2
    assert len(ids(await rclaim(ctx, tier=limit, consumer="w2", count=10))) == 1
    assert isinstance(await rclaim(ctx, tier=limit, consumer="w3"), RateLimited)


async def test_rate_limited_hands_delivered_entries_back(app: App) -> None:
    """Entries a blocking read delivered go back to the stream, not started, attempt 0."""
    ctx = await open_ctx(app)
    limit = RateLimit(1, per=60)
    await enqueue(ctx, new_job("a"))
    assert ids(await rclaim(ctx, tier=limit)) == ["a"]
    await enqueue(ctx, new_job("b"))
    delivered = await deliver(ctx, "w2")
    assert await rclaim(ctx, tier=limit, consumer="w2", delivered=delivered) == RateLimited(
        60_000)
    [entry] = [e for e, job_id in await stream(ctx) if job_id == "b"]
    fields = await job_hash(ctx, "b")
    assert (fields["state"], fields["attempt"], fields["entry"]) == ("waiting", "0", entry)
    assert entry != delivered[0][1]
    assert await pending_total(ctx) == 1  # only "a"


async def test_paused_wins_and_uses_no_token(app: App) -> None:
    """A paused queue answers PAUSED and leaves the bucket alone."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a"))
    await ctx.scripts.pause(ctx.keys, True)
    result = await ctx.scripts.claim(ctx.keys, "w1", NOW, 5, rate_limit=RateLimit(1, per=60))
    assert result is None
    assert not await exists(ctx, ctx.keys.rate)


async def test_untouched_bucket_is_not_written_and_used_one_expires(app: App) -> None:
    """A claim that starts nothing writes no bucket; a used bucket expires once it would be
    full again (a missing bucket is a full one)."""
    ctx = await open_ctx(app)
    limit = RateLimit(1, per=0.05)
    assert await rclaim(ctx, tier=limit) == []
    assert not await exists(ctx, ctx.keys.rate)
    await enqueue(ctx, new_job("a"))
    assert ids(await rclaim(ctx, tier=limit)) == ["a"]
    assert 0 < await pttl(ctx) <= 50
    await asyncio.sleep(0.15)
    assert not await exists(ctx, ctx.keys.rate)


async def test_clock_going_back_neither_refills_nor_breaks(app: App) -> None:
    """A worker whose clock is behind the last refill gets no extra tokens and a wait that
    counts from the bucket's time."""
    ctx = await open_ctx(app)
    limit = RateLimit(1, per=10)
    await enqueue(ctx, new_job("a"), new_job("b"))
    assert ids(await rclaim(ctx, tier=limit, now_ms=NOW + 5_000)) == ["a"]
    assert await rclaim(ctx, tier=limit, now_ms=NOW) == RateLimited(15_000)


# ------------------------------------------------------------------ per-key buckets


async def test_job_over_its_key_limit_goes_to_delayed_without_an_attempt(app: App) -> None:
    """Key A may start 2 per minute: A's 3rd..6th jobs go to DELAYED, spaced 30 s apart,
    attempt 0, while key B's jobs behind them start."""
    ctx = await open_ctx(app)
    key = RateLimit(2, per=60)
    jobs = [new_job(f"a{i}", rate_key="A") for i in range(6)]
    await enqueue(ctx, *jobs, new_job("b0", rate_key="B"), new_job("b1", rate_key="B"))
    assert (await job_hash(ctx, "a0"))["rk"] == "A"
    assert ids(await rclaim(ctx, key=key)) == ["a0", "a1", "b0", "b1"]
    for i, due in ((2, 30_000), (3, 60_000), (4, 90_000), (5, 120_000)):
        fields = await job_hash(ctx, f"a{i}")
        assert (fields["state"], fields["attempt"], fields["due"]) == (
            "delayed", "0", str(NOW + due))
        assert "entry" not in fields
        assert await zscore(ctx, ctx.keys.delayed, f"a{i}") == NOW + due
    assert [job_id for _, job_id in await stream(ctx)] == ["a0", "a1", "b0", "b1"]
    assert (await bucket(ctx, ":A"))["q"] == str(NOW + 120_000)
    assert 179_000 < await pttl(ctx, ":A") <= 180_000  # full once the 4 reserved are paid
    assert 0 < await pttl(ctx, ":B") <= 120_000


async def test_deferred_job_runs_when_its_token_comes(app: App) -> None:
    """Promoted at its due time, the deferred job starts with attempt 1."""
    ctx = await open_ctx(app)
    key = RateLimit(1, per=60)
    await enqueue(ctx, new_job("a0", rate_key="A"), new_job("a1", rate_key="A"))
    assert ids(await rclaim(ctx, key=key)) == ["a0"]
    assert await rclaim(ctx, key=key) == []
    assert await ctx.scripts.promote_due(ctx.keys, NOW + 60_000, 100) == (1, -1)
    started = await rclaim(ctx, key=key, now_ms=NOW + 60_000)
    assert isinstance(started, list)
    [job] = started
    assert (job.id, job.attempt) == ("a1", 1)


async def test_a_deferred_job_keeps_its_token_from_later_jobs_of_its_key(app: App) -> None:
    """A job of the key claimed before the deferred one comes back finds no token: the
    deferred job took it when it was deferred, and starts on it. The later job took the
    token first, and the deferred one was put behind every job of its key again, and again:
    while a tenant enqueued at its limit, its oldest job never ran."""
    ctx = await open_ctx(app)
    key = RateLimit(1, per=1)
    await enqueue(ctx, new_job("old0", rate_key="A"), new_job("old1", rate_key="A"))
    assert ids(await rclaim(ctx, key=key)) == ["old0"]
    assert (await job_hash(ctx, "old1"))["due"] == str(NOW + 1000)
    for k in range(1, 4):
        await enqueue(ctx, new_job(f"fresh{k}", rate_key="A"))
        assert ids(await rclaim(ctx, key=key, now_ms=NOW + 1000 * k)) == []
        await ctx.scripts.promote_due(ctx.keys, NOW + 1000 * k, 100)
        started = ids(await rclaim(ctx, key=key, now_ms=NOW + 1000 * k))
        assert started == ["old1" if k == 1 else f"fresh{k - 1}"]
        assert "rsv" not in await job_hash(ctx, started[0])
    assert (await job_hash(ctx, "fresh3"))["due"] == str(NOW + 4000)


async def test_deferred_jobs_do_not_drift_behind_their_tokens(app: App) -> None:
    """RateLimit(3, per=1, burst=1): deferred jobs are spaced ceil(1000 / 3) = 334 ms apart,
    a little more than a token's 333.3, so the 600th is due 400 ms after 600 tokens have
    refilled. Each reservation holds the tokens up to its due time: C, claimed 66 ms before
    the 600th is due, is deferred behind it. Before, C started on a token refilled in the
    meantime, 66 ms before j600 started on its own: two starts within one token interval of
    a limit whose burst is 1."""
    ctx = await open_ctx(app)
    limit = RateLimit(3, per=1, burst=1)
    await enqueue(ctx, *[new_job(f"j{i}", rate_key="A") for i in range(601)])
    assert ids(await rclaim(ctx, key=limit)) == ["j0"]
    assert (await job_hash(ctx, "j600"))["due"] == str(NOW + 200_400)
    await enqueue(ctx, new_job("C", rate_key="A"))
    assert await rclaim(ctx, key=limit, now_ms=NOW + 200_334) == []
    assert (await job_hash(ctx, "C"))["due"] == str(NOW + 200_734)


async def test_jobs_without_a_key_are_not_key_limited(app: App) -> None:
    """Only jobs with a rate key count against per-key buckets."""
    ctx = await open_ctx(app)
    await enqueue(ctx, *[new_job(f"j{i}") for i in range(4)])
    assert len(ids(await rclaim(ctx, key=RateLimit(1, per=60)))) == 4
    assert not await exists(ctx, ctx.keys.rate + ":")


async def test_tier_and_key_limits_together(app: App) -> None:
    """The tier's 4 tokens go to jobs that may start: 2 of the flooding key, then the other
    key's, not 4 of the flooding key. Deferred jobs use no tier token."""
    ctx = await open_ctx(app)
    await enqueue(ctx, *[new_job(f"a{i}", rate_key="A") for i in range(10)],
                  new_job("b0", rate_key="B"), new_job("b1", rate_key="B"))
    started = await rclaim(ctx, tier=RateLimit(4, per=60), key=RateLimit(2, per=60))
    assert ids(started) == ["a0", "a1", "b0", "b1"]
    assert (await bucket(ctx))["t"] == "0"


async def test_defer_budget_bounds_one_call(app: App) -> None:
    """With a budget of 2, one call defers at most 2 jobs; a call that started nothing and
    ran out of budget says so (RATE_LIMITED, wait 0), and the next call goes on."""
    ctx = await open_ctx(app)
    key = RateLimit(1, per=60)
    await enqueue(ctx, *[new_job(f"a{i}", rate_key="A") for i in range(5)],
                  new_job("b0", rate_key="B"))
    assert ids(await rclaim(ctx, key=key, budget=2)) == ["a0"]
    assert await rclaim(ctx, key=key, budget=2) == RateLimited(0)
    assert ids(await rclaim(ctx, key=key, budget=2)) == ["b0"]
    states = [(await job_hash(ctx, f"a{i}"))["state"] for i in range(5)]
    assert states == ["active", "delayed", "delayed", "delayed", "delayed"]
