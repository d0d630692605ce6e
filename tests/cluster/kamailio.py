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
    directory: Path, redis_url: str, host: str = "127.0.0.1", node_net: str = "127.0.0.0/8"
) -> Iterator[Kamailio]:
    """Kamailio listening on `host`, reading the cluster's Redis at `redis_url`; requests
    pre-routed through it are taken from `node_net` only."""
    with skipped_when_unavailable(), harness.kamailio(directory, redis_url, host, node_net) as k:
        yield k


__all__ = ["CONFIG", "KAMAILIO", "Kamailio", "kamailio", "options"]
