"""Network namespaces for cluster tests: bench/netns.py's harness (see its docstring), the
test skipped (not failed) where this machine cannot make namespaces (not root, no iproute2)."""

from __future__ import annotations

from bench import netns
from bench.netns import IP, Namespace, NetnsUnavailable, stop
from tests.cluster.unavailable import skipped_when_unavailable


class Network(netns.Network):
    """bench.netns.Network, skipping the test where namespaces cannot be made."""

    def __init__(self, subnet: str | None = None) -> None:
        with skipped_when_unavailable():
            super().__init__(subnet)


__all__ = ["IP", "Namespace", "NetnsUnavailable", "Network", "stop"]
