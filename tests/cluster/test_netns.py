"""The network-namespace harness: each namespace has its own address, reachable from the root
namespace and from the others, and nothing of it is left after close, failed test or not."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request

import pytest

from tests.cluster.netns import Namespace, Network

pytestmark = pytest.mark.slow


def serve_http(namespace: Namespace, port: int) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", namespace.address]
    return namespace.popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def fetch(url: str, timeout: float = 5.0) -> int:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return int(response.status)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_namespaces_have_their_own_addresses_and_reach_each_other(network: Network) -> None:
    a, b = network.add("a"), network.add("b")
    assert (a.address, b.address) == (network.address(11), network.address(12))
    assert f"inet {a.address}/24" in a.run("ip", "-4", "addr")
    assert "inet 127.0.0.1/8" in a.run("ip", "-4", "addr", "show", "lo")  # loopback is up
    serve_http(a, 8080)  # the same port in two namespaces: no clash
    serve_http(b, 8080)
    assert fetch(f"http://{a.address}:8080/") == 200  # from the root namespace
    reply = b.run(
        sys.executable, "-c",
        f"import urllib.request; print(urllib.request.urlopen('http://{a.address}:8080/').status)",
    )  # fmt: skip
    assert reply.strip() == "200"


def gone(names: list[str], bridge: str) -> bool:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    return not any(name in listed for name in names) and bridge not in links


def test_close_stops_the_processes_and_removes_namespaces_and_bridge() -> None:
    with Network() as net:
        namespace = net.add("a")
        server = serve_http(namespace, 8080)
    assert server.poll() is not None
    assert gone([namespace.name], net.bridge)


def test_a_failing_test_still_tears_everything_down() -> None:
    names: list[str] = []
    with pytest.raises(RuntimeError), Network() as net:
        names.append(net.add("x").name)
        raise RuntimeError("the test failed")
    assert names and gone(names, net.bridge)
