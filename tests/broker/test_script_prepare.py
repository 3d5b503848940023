"""prepare.lua: create streams and groups where missing, idempotently; report lost state."""

from __future__ import annotations

from typing import Any

import pytest

from streamq import App
from streamq.broker.keys import GROUP, QueueKeys
from streamq.broker.scripts import SCHEMA_VERSION
from streamq.errors import QueueFull, QueueStateLost
from tests.broker.helpers import NOW, Ctx, claim, enqueue, new_job, open_ctx


async def groups_of(ctx: Ctx, stream: str) -> list[dict[str, Any]]:
    """XINFO GROUPS of a stream."""
    groups: Any = await ctx.client.xinfo_groups(stream)
    return list(groups)


async def test_first_prepare_creates_every_group(app: App) -> None:
    """On a new queue all 10 groups are created (at id 0) and the meta hash is written."""
    ctx = await open_ctx(app)
    keys = QueueKeys(app.namespace, "fresh")
    assert await ctx.scripts.prepare(keys, NOW) == (10, False)
    for stream in keys.ready:
        [group] = await groups_of(ctx, stream)
        assert (group["name"], group["last-delivered-id"]) == (GROUP, "0-0")
    meta: Any = await ctx.client.hgetall(keys.meta)
    assert meta == {"created": str(NOW), "schema": SCHEMA_VERSION, "prios": ""}


async def test_prepare_is_idempotent(app: App) -> None:
    """Preparing again creates nothing, keeps the creation time, and reports the queue known."""
    ctx = await open_ctx(app)
    keys = QueueKeys(app.namespace, "fresh")
    await ctx.scripts.prepare(keys, NOW)
    await ctx.client.xadd(keys.ready[0], {"id": "x"})
    assert await ctx.scripts.prepare(keys, NOW + 5) == (0, True)
    assert await ctx.scripts.prepare(keys, NOW + 9) == (0, True)
    assert await ctx.client.hget(keys.meta, "created") == str(NOW)
    assert await ctx.client.hget(keys.meta, "prios") == ""
    assert await ctx.client.xlen(keys.ready[0]) == 1
    assert [g["name"] for g in await groups_of(ctx, keys.ready[0])] == [GROUP]


async def test_lost_stream_is_recreated_and_reported(app: App) -> None:
    """When Redis loses a stream (and so its group), prepare recreates it and says so."""
    ctx = await open_ctx(app)
    await ctx.client.delete(ctx.keys.ready[3], ctx.keys.ready[7])
    assert await ctx.scripts.prepare(ctx.keys, NOW) == (2, True)
    assert [g["name"] for g in await groups_of(ctx, ctx.keys.ready[3])] == [GROUP]
    assert [g["name"] for g in await groups_of(ctx, ctx.keys.ready[7])] == [GROUP]


async def test_a_meta_hash_lost_beside_its_streams_records_no_priorities(app: App) -> None:
    """Only a new queue starts with an empty prios field: with the meta hash gone but its
    streams kept, the priorities in use are unknown, and the waiting count reads all ten."""
    ctx = await open_ctx(app)
    await enqueue(ctx, new_job("a", priority=2))
    await ctx.client.delete(ctx.keys.meta)
    assert await ctx.scripts.prepare(ctx.keys, NOW) == (0, False)
    assert not await ctx.client.hexists(ctx.keys.meta, "prios")


async def test_a_queue_lost_while_producers_ran_records_no_priorities(app: App) -> None:
    """Redis lost the queue and a producer enqueued before the next prepare (a job due now
    at priority 4, one delayed at priority 6): prepare finds jobs, so it records no
    priorities, and the waiting count still finds both."""
    ctx = await open_ctx(app)
    await ctx.client.delete(ctx.keys.meta, *ctx.keys.ready)
    await enqueue(ctx, new_job("a", priority=4), new_job("b", priority=6, due_ms=NOW + 10))
    assert await ctx.scripts.prepare(ctx.keys, NOW) == (10, False)
    assert not await ctx.client.hexists(ctx.keys.meta, "prios")
    assert await ctx.scripts.promote_due(ctx.keys, NOW + 20, 100) == (1, -1)
    with pytest.raises(QueueFull) as info:
        await enqueue(ctx, new_job("c"), max_waiting=2)
    assert info.value.waiting == 2


async def test_a_lost_queue_holding_only_waiting_jobs_records_no_priorities(app: App) -> None:
    """The groups are created anew on streams a producer wrote to meanwhile: the entries
    there still make the queue not new, and the waiting count still finds them."""
    ctx = await open_ctx(app)
    await ctx.client.delete(ctx.keys.meta, *ctx.keys.ready)
    await enqueue(ctx, new_job("a", priority=4))
    assert await ctx.scripts.prepare(ctx.keys, NOW) == (10, False)
    assert not await ctx.client.hexists(ctx.keys.meta, "prios")
    with pytest.raises(QueueFull) as info:
        await enqueue(ctx, new_job("b"), max_waiting=1)
    assert info.value.waiting == 1


async def test_a_lost_queue_holding_only_delayed_jobs_records_no_priorities(app: App) -> None:
    ctx = await open_ctx(app)
    await ctx.client.delete(ctx.keys.meta, *ctx.keys.ready)
    await enqueue(ctx, new_job("b", priority=6, due_ms=NOW + 10))
    assert await ctx.scripts.prepare(ctx.keys, NOW) == (10, False)
    assert not await ctx.client.hexists(ctx.keys.meta, "prios")


async def test_jobs_added_while_group_was_missing_are_delivered(app: App) -> None:
    """A claim on a stream without its group reports QueueStateLost; after prepare the group
    starts at id 0, so the job enqueued meanwhile is still claimed."""
    ctx = await open_ctx(app)
    await ctx.client.delete(ctx.keys.ready[0])
    await enqueue(ctx, new_job("a"))
    with pytest.raises(QueueStateLost):
        await claim(ctx)
    assert await ctx.scripts.prepare(ctx.keys, NOW) == (1, True)
    assert [j.id for j in await claim(ctx)] == ["a"]


async def test_lost_meta_is_reported_as_a_new_queue(app: App) -> None:
    """With the meta hash gone too (a full data loss) prepare reports had_meta False."""
    ctx = await open_ctx(app)
    await ctx.client.delete(ctx.keys.meta, *ctx.keys.ready)
    assert await ctx.scripts.prepare(ctx.keys, NOW) == (10, False)
    assert await ctx.client.hget(ctx.keys.meta, "prios") == ""
