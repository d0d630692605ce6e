"""Cluster nodes for the e2e tests and the cluster benchmark: `mediacore serve` processes
(bench/serverproc.py's harness) on their own addresses (127.0.0.x loopback addresses, or a
network namespace's address with its `ip netns exec` prefix), joined through one Redis."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench.serverproc import ServerProcess


def start_node(
    directory: Path,
    redis_url: str,
    name: str,
    address: str,
    *,
    workers: int = 0,
    config: str = "",
    tls: bool = False,
    launcher: Sequence[str] = (),
) -> ServerProcess:
    """Node `name` listening (HTTP, SIP, RTP) on `address` only; HTTPS with `tls`; run under
    `launcher` (a namespace's prefix) when given."""
    return ServerProcess(
        directory / name,
        host=address,
        workers=workers,
        tls=tls,
        config=config,
        ready_timeout=60.0,
        launcher=launcher,
        MEDIACORE_CLUSTER_REDIS=redis_url,
        MEDIACORE_CLUSTER_NODE=name,
        MEDIACORE_CLUSTER_ADVERTISE=address,
    )
