"""redis-py connections that pack with hiredis: same bytes as redis-py, same errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
import redis.exceptions as rex
from redis.asyncio.connection import Connection

from streamq.broker.packing import HiredisPacking, use_hiredis_packing


@pytest.mark.parametrize("args", [
    ("SET", "k", "v"),
    ("EVALSHA", "a" * 40, 2, "k1", b"k2", 1.5, 12345678901234, "日本語"),
    ("SCRIPT LOAD", "return 1"),          # multi-word command: split, as redis-py does
    (b"CLIENT SETNAME", b"streamq"),
])
def test_packs_the_same_bytes_as_redis_py(args: tuple[object, ...]) -> None:
    ours = use_hiredis_packing(aioredis.Redis()).connection_pool.make_connection()
    assert isinstance(ours, HiredisPacking)
    plain = Connection()
    assert b"".join(ours.pack_command(*args)) == b"".join(plain.pack_command(*args))


@pytest.mark.parametrize("bad", [True, None])
def test_values_redis_py_refuses_stay_its_data_error(bad: object) -> None:
    ours = use_hiredis_packing(aioredis.Redis()).connection_pool.make_connection()
    with pytest.raises(rex.DataError):
        ours.pack_command("SET", "k", bad)


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = use_hiredis_packing(aioredis.Redis.from_url(redis_url, decode_responses=True))
    yield client
    await client.aclose()


async def test_a_packed_client_talks_to_redis(client: aioredis.Redis, namespace: str) -> None:
    key = f"{namespace}:s"
    await client.xgroup_create(key, "g", id="0", mkstream=True)  # "XGROUP CREATE": two words
    await client.hset(f"{namespace}:h", mapping={"n": 1, "t": "日本語"})
    assert await client.hgetall(f"{namespace}:h") == {"n": "1", "t": "日本語"}
    assert [g["name"] for g in await client.xinfo_groups(key)] == ["g"]
    await client.delete(key, f"{namespace}:h")
