"""Cluster nodes for the e2e tests: bench/clusternodes.py's `mediacore serve` processes on their
own loopback addresses (127.0.0.2, .3, ...), joined through the test's Redis."""

from bench.clusternodes import start_node

__all__ = ["start_node"]
