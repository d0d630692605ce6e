"""A real Redis for the cluster tests: bench/redisserver.py's, the test skipped (not failed)
where redis-server is not installed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench import redisserver
from bench.redisserver import REDIS, free_port
from tests.cluster.unavailable import skipped_when_unavailable


@contextmanager
def redis_server(directory: Path, host: str = "127.0.0.1") -> Iterator[str]:
    """A running Redis bound to `host`; yields its URL (database 0)."""
    with skipped_when_unavailable(), redisserver.redis_server(directory, host) as url:
        yield url


__all__ = ["REDIS", "free_port", "redis_server"]
