"""Cluster nodes for the e2e tests: `mediacore serve` processes (tests/e2e/server.py's harness)
on their own loopback addresses (127.0.0.2, .3, ...), joined through the test's Redis."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.server import ServerProcess


def start_node(
    directory: Path,
    redis_url: str,
    name: str,
    address: str,
    *,
    workers: int = 0,
    config: str = "",
    tls: bool = False,
) -> ServerProcess:
    """Node `name` listening (HTTP, SIP, RTP) on `address` only; HTTPS with `tls`."""
    return ServerProcess(
        directory / name,
        host=address,
        workers=workers,
        tls=tls,
        config=config,
        ready_timeout=60.0,
        MEDIACORE_CLUSTER_REDIS=redis_url,
        MEDIACORE_CLUSTER_NODE=name,
        MEDIACORE_CLUSTER_ADVERTISE=address,
    )
