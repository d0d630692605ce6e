from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.redisserver import redis_server


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A fresh Redis of the test's own on loopback."""
    with redis_server(tmp_path) as url:
        yield url
