"""`bench cluster`: rooms and legs over three nodes, a talker heard across nodes, a node killed.

One cluster (bench/clusterup.py: every node a `mediacore serve` in a network namespace of its
own, Redis and Kamailio on the bridge) and three parts, each bounded in count and time:

1. placement: `rooms` rooms opened through n1's API (`room_interval` seconds apart: the
   directory places each by the nodes' last heartbeats), `legs` plain PCMU legs in each joined
   through n1's API too (bench/loadgen.py processes, 50 packets/s per leg, `talkers` tone
   bursts per room and silence from the others); over `seconds` of that load, the rooms and
   legs per node as `GET /api/v1/nodes` and the room directory tell them, and each node's CPU
   (its whole process tree: control process and media workers).
2. span (`span_seconds`, 0 skips; bench/clusterspan.py): one room owned by n1 growing a shard
   on n2 (`POST /api/v1/rooms/{room}/shards`), a talker and a listener on n1 and a listener on
   n2, each leg added through its own node's API: the extra latency of the talker heard on the
   other node (p50/p95/p99) against one tick plus half the round trip between the nodes.
3. failover (`failovers` runs, 0 skips; bench/clusterfailover.py): two SIP phones call a room
   through Kamailio, its node is killed (`kill -9`), and the time until the listening phone
   hears the talking one again is measured (target 5 s); the node is started again between
   runs.

The JSON report has each part's figures; the PNG (bench/clusterplot.py) shows them."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import clusterfailover, clusterspan
from bench.clusterstats import placement
from bench.clusterup import Cluster, started_cluster
from bench.figures import cpu_split
from bench.loadprocs import start_legs, stop_load
from bench.serverproc import tree_stats

Progress = Callable[[str], None]

SETTLE = 1.5  # seconds of load before the window: legs counted in the heartbeats, jitter settled


@dataclass
class ClusterBenchmark:
    nodes: int = 3
    workers: int = 1  # media workers per node (a room spanning nodes needs at least one)
    rooms: int = 6  # placement: rooms opened through n1
    legs: int = 20  # in each room
    talkers: int = 2  # in each room
    room_interval: float = 1.0  # seconds between opening two rooms (0: all at once)
    seconds: float = 10.0  # placement window under load
    span_seconds: float = 20.0  # cross-node talker run (0 skips)
    span_legs: int = 10  # silence legs on each node in the spanning room, besides the probes
    span_talkers: int = 3  # on n1, each its own tone: more bursts timed per second
    failovers: int = 3  # kill -9 runs (0 skips)
    folder: str = ""  # where the nodes' data and logs go (default: a temporary folder)


def run(benchmark: ClusterBenchmark, progress: Progress) -> dict[str, Any]:
    if benchmark.nodes < 2:
        raise ValueError("bench cluster needs at least 2 nodes")
    folder = Path(benchmark.folder or tempfile.mkdtemp(prefix="mediacore-bench-cluster-"))
    folder.mkdir(parents=True, exist_ok=True)
    progress(f"bench cluster: {benchmark.nodes} nodes, data and logs in {folder}")
    report: dict[str, Any] = {}
    began = time.monotonic()
    with started_cluster(
        folder, nodes=benchmark.nodes, workers=benchmark.workers, progress=progress
    ) as cluster:
        report["nodes"] = {name: {"address": ns.address} for name, ns in cluster.namespaces.items()}
        if benchmark.rooms and benchmark.legs:
            report["placement"] = _placement(benchmark, cluster, progress)
        if benchmark.span_seconds > 0:
            report["span"] = clusterspan.run(cluster, benchmark, progress)
        if benchmark.failovers > 0:
            report["failover"] = clusterfailover.run(cluster, benchmark.failovers, progress)
    report["seconds"] = round(time.monotonic() - began, 1)
    report["passed"] = _passed(report)
    return report


def _passed(report: dict[str, Any]) -> bool:
    """Every part that ran met its target (a part that could not run is no pass)."""
    verdicts = [
        report[part]["passed"] for part in ("span", "failover") if part in report
    ]  # placement has no target: it shows where things went
    return bool(verdicts) and all(verdicts)


def _placement(benchmark: ClusterBenchmark, cluster: Cluster, progress: Progress) -> dict[str, Any]:
    entry = cluster.nodes["n1"]
    names = [f"place-{number}" for number in range(benchmark.rooms)]
    progress(
        f"placement: {benchmark.rooms} rooms of {benchmark.legs} legs ({benchmark.talkers} "
        f"talkers each) through n1, opened {benchmark.room_interval:g} s apart, "
        f"{benchmark.seconds:.0f} s"
    )
    for name in names:
        response = entry.client.post("/api/v1/rooms", json={"name": name})
        response.raise_for_status()
        # The directory places a room by the nodes' last heartbeats (every 0.5 s): rooms
        # opened faster than that all see the same loads and go to the same node.
        time.sleep(benchmark.room_interval)
    specs = [
        {"name": f"{room}-{index}", "room": room, "probe": False,
         "talker": index if index < benchmark.talkers else None}
        for room in names
        for index in range(benchmark.legs)
    ]  # fmt: skip
    duration = SETTLE + benchmark.seconds + 30.0  # stopped before: the margin covers joining
    load = start_legs(
        entry.url, specs, ptime=20, duration=duration, progress=progress, host=cluster.gateway
    )
    try:
        time.sleep(SETTLE)
        pids = {name: server.process.pid for name, server in cluster.nodes.items()}
        began, before = time.monotonic(), {name: tree_stats(pid) for name, pid in pids.items()}
        time.sleep(benchmark.seconds)
        elapsed = time.monotonic() - began
        cores: dict[str, float | None] = {}
        split = {}
        for name, pid in pids.items():
            split[name] = cpu_split(before[name], tree_stats(pid), pid, elapsed)
            cores[name] = split[name]["total"]
        listed = list(cluster.listed().values())
        directory = {room: node for room, node in cluster.directory().items() if room in names}
    finally:
        stop_load(load)
    rows = placement(listed, directory, cores)
    for row in rows:
        progress(
            f"  {row['node']}: {row['rooms']} rooms, {row['legs']} legs, "
            f"{row['cpu_cores']} cores ({len(row['directory_rooms'])} of the bench's rooms)"
        )
    for name in names:
        entry.client.delete(f"/api/v1/rooms/{name}")
    return {
        "rooms": benchmark.rooms,
        "legs_per_room": benchmark.legs,
        "window_s": round(elapsed, 2),
        "nodes": rows,
        "cpu_split": split,
    }
