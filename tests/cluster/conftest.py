from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.netns import Network
from tests.cluster.redisserver import redis_server


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A fresh Redis of the test's own on loopback."""
    with redis_server(tmp_path) as url:
        yield url


@pytest.fixture
def network() -> Iterator[Network]:
    """A bridge with namespaces for nodes (`network.add(name)`, tests/cluster/netns.py), torn
    down after the test; skips unless root with iproute2."""
    with Network() as net:
        yield net
