from __future__ import annotations

from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bench import redisserver
from bench.unavailable import Unavailable
from tests.cluster.redisserver import redis_server


async def test_the_tests_redis_answers(redis_url: str) -> None:
    client = aioredis.from_url(redis_url)
    try:
        assert await client.ping()
        await client.set("mc:probe", "1")
        assert await client.get("mc:probe") == b"1"
    finally:
        await client.aclose()


def test_a_machine_without_redis_server_skips_the_test_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The harness (bench/redisserver.py) says what is missing; the tests' wrapper skips."""
    monkeypatch.setattr(redisserver, "REDIS", str(tmp_path / "no-redis-server"))
    with pytest.raises(Unavailable, match="no-redis-server is not installed"):
        with redisserver.redis_server(tmp_path):
            pass
    with pytest.raises(pytest.skip.Exception, match="no-redis-server is not installed"):
        with redis_server(tmp_path):
            pass
