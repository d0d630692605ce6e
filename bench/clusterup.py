"""The cluster `bench cluster` measures: nodes in network namespaces of their own, Redis and
Kamailio on the bridge in the root namespace, where the load generators and phones live too.

    with started_cluster(folder, nodes=3, workers=1, progress=print) as cluster:
        cluster.nodes["n1"].client.get("/api/v1/nodes")
        cluster.kill("n2"); cluster.restart("n2")

Everything is torn down on leaving, failed run or not: nodes, Kamailio, Redis, namespaces and
bridge. Needs root, iproute2, redis-server and kamailio (Unavailable says which is missing)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from bench.clusternodes import start_node
from bench.kamailio import KAMAILIO, Kamailio, kamailio
from bench.netns import Namespace, Network
from bench.redisserver import REDIS, redis_server
from bench.serverproc import ServerProcess
from bench.unavailable import missing
from sip.peer import Peer

Progress = Callable[[str], None]

USER, PASSWORD = "bench", "bench-cluster-password"  # the phones' SIP account on every node
NEEDS = ((REDIS, "Debian's redis-server"), (KAMAILIO, "Debian's kamailio, kamailio-redis-modules"))
UP_TIMEOUT = 30.0  # seconds for every node to list every other as up


def unavailable() -> str | None:
    """Why `bench cluster` cannot run here (None: it can)."""
    return missing(NEEDS, root=True)


def node_config(proxy: str) -> str:
    """Every node's TOML: warnings only in its log, the phones' account, Kamailio as the proxy
    its calls come through."""
    return (
        '[server]\nlog_level = "warning"\n\n'
        f'[sip]\nproxies = "{proxy}"\n\n'
        f'[[sip.users]]\nuser = "{USER}"\npassword = "{PASSWORD}"\nrole = "commander"\n'
    )


@dataclass
class Cluster:
    folder: Path
    network: Network
    redis_url: str
    redis: redis.Redis
    kamailio: Kamailio
    workers: int
    namespaces: dict[str, Namespace] = field(default_factory=dict)
    nodes: dict[str, ServerProcess] = field(default_factory=dict)
    _starts: int = 0

    @property
    def gateway(self) -> str:
        """The root namespace's address on the bridge: load generators and phones bind here."""
        return self.network.gateway

    @property
    def proxy(self) -> Peer:
        return Peer("udp", self.kamailio.host, self.kamailio.port)

    def add(self, name: str) -> None:
        """A namespace for node `name` (not started yet)."""
        self.namespaces[name] = self.network.add(name)

    def start(self, name: str) -> ServerProcess:
        """Start node `name` in its namespace (again, after a kill: a new data dir beside)."""
        self._starts += 1
        namespace = self.namespaces[name]
        folder = self.folder / f"{self._starts:02d}"
        server = start_node(
            folder, self.redis_url, name, namespace.address, workers=self.workers,
            config=node_config(self.kamailio.host), launcher=namespace.prefix,
        )  # fmt: skip
        self.nodes[name] = server
        return server

    def kill(self, name: str) -> None:
        """`kill -9` of node `name`'s control process (its media workers die with it)."""
        server = self.nodes[name]
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait()
        server.stop()  # closes its client and log; the process is gone already

    def api(self, but: str = "") -> ServerProcess:
        """A live node's API (not `but`'s)."""
        return next(s for n, s in self.nodes.items() if n != but and s.process.poll() is None)

    def listed(self) -> dict[str, dict[str, Any]]:
        """`GET /api/v1/nodes` as a live node tells it, by name."""
        response = self.api().client.get("/api/v1/nodes")
        response.raise_for_status()
        return {node["name"]: node for node in response.json()}

    def wait_up(self, names: list[str], timeout: float = UP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            listed = self.listed()
            if all(listed.get(name, {}).get("state") == "up" for name in names):
                return
            time.sleep(0.2)
        raise RuntimeError(f"nodes {names} not all up: {self.listed()}")

    def directory(self) -> dict[str, str]:
        """{room: owner node} as `GET /api/v1/rooms` lists them."""
        response = self.api().client.get("/api/v1/rooms")
        response.raise_for_status()
        return {room["name"]: room["node"] for room in response.json()}


@contextlib.contextmanager
def started_cluster(
    folder: Path, *, nodes: int, workers: int, progress: Progress
) -> Iterator[Cluster]:
    """`nodes` nodes (n1, n2, ...) with `workers` media workers each, started at once."""
    with contextlib.ExitStack() as stack:
        network = stack.enter_context(Network())
        url = stack.enter_context(redis_server(folder, host=network.gateway))
        client = redis.Redis.from_url(url, decode_responses=True)
        stack.callback(client.close)
        # Requests pre-routed through Kamailio are taken from the nodes' addresses only.
        node_net = f"{network.address(8)}/29" if nodes <= 5 else f"{network.address(0)}/24"
        proxy = stack.enter_context(kamailio(folder, url, network.gateway, node_net=node_net))
        # A node dies with the thread that started it (PR_SET_PDEATHSIG, so that no node
        # outlives a killed bench): the threads that start them at once live as long as they.
        pool = ThreadPoolExecutor(nodes)
        stack.callback(pool.shutdown)
        cluster = Cluster(folder, network, url, client, proxy, workers)
        stack.callback(_stop_nodes, cluster)
        names = [f"n{number}" for number in range(1, nodes + 1)]
        for name in names:
            cluster.add(name)
        progress(f"  starting {nodes} nodes ({workers} media worker(s) each) in namespaces")
        for future in [pool.submit(cluster.start, name) for name in names]:
            future.result()  # the first failure raises; the started ones stop on leaving
        cluster.wait_up(names)
        progress(
            f"  cluster up: {', '.join(f'{n} {cluster.namespaces[n].address}' for n in names)}, "
            f"Redis and Kamailio {proxy.address} on the bridge"
        )
        yield cluster


def _stop_nodes(cluster: Cluster) -> None:
    for server in cluster.nodes.values():
        if server.process.poll() is None:
            server.stop()
