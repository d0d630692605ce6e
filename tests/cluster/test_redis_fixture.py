from __future__ import annotations

import redis.asyncio as aioredis


async def test_the_tests_redis_answers(redis_url: str) -> None:
    client = aioredis.from_url(redis_url)
    try:
        assert await client.ping()
        await client.set("mc:probe", "1")
        assert await client.get("mc:probe") == b"1"
    finally:
        await client.aclose()
