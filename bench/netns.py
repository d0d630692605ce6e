"""Network namespaces for cluster tests and benchmarks: each node on a host of its own, with its
own address.

    with Network() as net:
        n1 = net.add("n1")                      # namespace with address net.address(11)
        server = ServerProcess(..., host=n1.address, launcher=n1.prefix)
        n1.run("ip", "addr")                    # any command inside the namespace
        proc = n1.popen(["python", "-m", ...])  # stopped when the network closes

The root namespace holds the bridge and its address (`net.gateway`, .1 of the subnet): the
test itself, Redis, Kamailio and the phones live there and reach every node across the bridge;
the nodes reach them at `net.gateway`. Each run picks a random /24 in 10.77.0.0/16 and random
names, so two runs at once do not meet. Everything is torn down on close, failed run or not:
processes started with popen, the namespaces, their veth pairs and the bridge.

Needs root and iproute2; `Network()` raises NetnsUnavailable (an Unavailable) saying why
otherwise (tests/cluster/netns.py turns that into a skip)."""

from __future__ import annotations

import ipaddress
import os
import secrets
import shutil
import signal
import subprocess
from collections.abc import Sequence
from typing import Any

from bench.unavailable import Unavailable

IP = "ip"
STOP_GRACE = 10.0  # seconds a process has to end after SIGTERM before it is killed


class NetnsUnavailable(Unavailable):
    """This machine cannot make namespaces (not root, no iproute2, no kernel support)."""


def _ip(*args: str) -> None:
    result = subprocess.run([IP, *args], capture_output=True, text=True, timeout=10)
    if result.returncode != 0:
        raise NetnsUnavailable(f"ip {' '.join(args)}: {result.stderr.strip()}")


def stop(process: subprocess.Popen[Any], grace: float = STOP_GRACE) -> None:
    """SIGTERM `process`, SIGKILL it after `grace` seconds; waits for it either way."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Namespace:
    """One network namespace joined to the network's bridge: a host of the test cluster."""

    def __init__(self, network: Network, name: str, address: str) -> None:
        self.network = network
        self.name = name  # the namespace's name for `ip netns`
        self.address = address  # its one address on the bridge
        self._processes: list[subprocess.Popen[Any]] = []

    @property
    def prefix(self) -> list[str]:
        """The argv prefix that runs a command inside this namespace."""
        return [IP, "netns", "exec", self.name]

    def run(self, *argv: str, check: bool = True, timeout: float = 30.0) -> str:
        """Run `argv` here to its end; returns its stdout. Raises CalledProcessError (check)."""
        result = subprocess.run(
            [*self.prefix, *argv], capture_output=True, text=True, timeout=timeout, check=check
        )
        return result.stdout

    def popen(self, argv: Sequence[str], **options: Any) -> subprocess.Popen[Any]:
        """Start `argv` here (options as for subprocess.Popen); it is stopped when the network
        closes, if the caller has not stopped it before."""
        process = subprocess.Popen([*self.prefix, *argv], **options)
        self._processes.append(process)
        return process

    def close(self) -> None:
        for process in reversed(self._processes):
            stop(process)
        self._processes.clear()


class Network:
    """A bridge in the root namespace and the namespaces joined to it by veth pairs."""

    def __init__(self, subnet: str | None = None) -> None:
        """`subnet` ("10.77.5.0/24"): the bridge's network; default a random free /24."""
        if os.geteuid() != 0:
            raise NetnsUnavailable("network namespaces need root")
        if shutil.which(IP) is None:
            raise NetnsUnavailable("network namespaces need iproute2's `ip`")
        self.tag = secrets.token_hex(3)  # keeps names short: interface names have 15 bytes
        self.network = ipaddress.ip_network(subnet or _free_subnet())
        self.bridge = f"mcbr{self.tag}"
        self.gateway = self.address(1)
        self.namespaces: list[Namespace] = []
        try:
            _ip("link", "add", self.bridge, "type", "bridge")
            _ip("addr", "add", f"{self.gateway}/{self.network.prefixlen}", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
        except NetnsUnavailable as error:
            self.close()
            raise NetnsUnavailable(f"cannot make a bridge here: {error}") from error

    def address(self, host: int) -> str:
        """The subnet's address number `host` (1 is the bridge's)."""
        return str(self.network.network_address + host)

    def add_address(self, host: int) -> str:
        """Give the root namespace another address on the bridge (`address(host)`), e.g. a
        second client that must not look like the first; it goes with the bridge."""
        address = self.address(host)
        _ip("addr", "add", f"{address}/{self.network.prefixlen}", "dev", self.bridge)
        return address

    def add(self, name: str, address: str | None = None) -> Namespace:
        """A new namespace (`name` is a label: the real name gets this network's tag) with
        `address` (default: the next free one from .11 up), loopback up."""
        number = len(self.namespaces) + 1
        address = address or self.address(10 + number)
        namespace = Namespace(self, f"mc-{self.tag}-{name}", address)
        self.namespaces.append(namespace)  # torn down on close, even when set-up fails below
        outside, inside = f"mcv{self.tag}{number}", f"mcp{self.tag}{number}"
        _ip("netns", "add", namespace.name)
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        _ip("link", "set", outside, "master", self.bridge, "up")
        _ip("link", "set", inside, "netns", namespace.name)
        inner = ["netns", "exec", namespace.name, IP]
        _ip(*inner, "link", "set", "lo", "up")
        _ip(*inner, "addr", "add", f"{address}/{self.network.prefixlen}", "dev", inside)
        _ip(*inner, "link", "set", inside, "up")
        return namespace

    def close(self) -> None:
        """Stop every process started in a namespace, then remove namespaces and bridge
        (deleting a namespace deletes its veth pair); errors are ignored: a half-made network
        is torn down as far as it got."""
        for namespace in reversed(self.namespaces):
            namespace.close()
        for namespace in reversed(self.namespaces):
            subprocess.run([IP, "netns", "del", namespace.name], capture_output=True)
        self.namespaces.clear()
        subprocess.run([IP, "link", "del", self.bridge], capture_output=True)

    def __enter__(self) -> Network:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _free_subnet() -> str:
    """A /24 in 10.77.0.0/16 that no interface of the root namespace uses yet."""
    used = subprocess.run([IP, "-4", "-o", "addr"], capture_output=True, text=True).stdout
    for _ in range(50):
        candidate = f"10.77.{secrets.randbelow(254) + 1}."
        if candidate not in used:
            return candidate + "0/24"
    raise NetnsUnavailable("no free 10.77.x.0/24 subnet")
