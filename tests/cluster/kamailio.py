"""Kamailio for the cluster tests: bench/kamailio.py's (the shipped kamailio.cfg in the
foreground, see its docstring), the test skipped (not failed) where kamailio is not installed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench import kamailio as harness
from bench.kamailio import CONFIG, KAMAILIO, Kamailio, options
from tests.cluster.unavailable import skipped_when_unavailable


@contextmanager
def kamailio(
    directory: Path,
    redis_url: str,
    host: str = "127.0.0.1",
    node_net: str = "127.0.0.0/8",
    tls: bool = False,
    flood_per_2s: int | None = None,
) -> Iterator[Kamailio]:
    """Kamailio listening on `host` (and on TLS when `tls`), reading the cluster's Redis at
    `redis_url`; requests pre-routed through it are taken from `node_net` only; `flood_per_2s`
    its flood limit (bench/kamailio.py)."""
    with (
        skipped_when_unavailable(),
        harness.kamailio(directory, redis_url, host, node_net, tls, flood_per_2s) as k,
    ):
        yield k


__all__ = ["CONFIG", "KAMAILIO", "Kamailio", "kamailio", "options"]
