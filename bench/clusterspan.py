"""`bench cluster`, part 2: the extra latency of a talker heard on another node.

A room owned by n1 grows a shard on n2 (`POST /api/v1/rooms/{room}/shards {"node": "n2"}`).
One load generator process joins `span_talkers` talkers (each its own tone, bursts every
0.5 s at staggered phases) and a probe listener through n1's API and another probe listener
through n2's (each node serves leg-adding requests for a room it hosts a shard
of), plus `span_legs` silence legs on each node; all send 50 packets/s from one start time.
The talkers' tone bursts are timed from onset sent to onset heard at each probe (bench.onsets,
the other benchmarks' measurement): the extra of the n2 probe over the n1 probe at p50, p95 and
p99 is judged against one tick plus half the round trip between the nodes' namespaces
(bench/netrtt.py, run inside n1 towards n2).

Where the cluster cannot span rooms (the shards route missing or refusing), the part reports
why and is not passed."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any, Protocol

from bench.clusterstats import extra_latency
from bench.clusterup import Cluster
from bench.loadgen import TALKER_FREQUENCIES
from bench.loadprocs import collect_load, start_legs
from bench.onsets import lost_onsets, match_latencies
from bench.scenario import WARMUP

Progress = Callable[[str], None]

ROOM = "span"
TICK_MS = 20.0  # the room's packet time: one mixer tick
OWNER, GUEST = "n1", "n2"


class SpanSettings(Protocol):
    span_seconds: float
    span_legs: int
    span_talkers: int


def run(cluster: Cluster, benchmark: SpanSettings, progress: Progress) -> dict[str, Any]:
    owner = cluster.nodes[OWNER]
    progress(
        f"span: room {ROOM!r} on {OWNER} with a shard on {GUEST}; {benchmark.span_talkers} "
        f"talkers on {OWNER}, "
        f"listeners on both, {benchmark.span_legs} more legs on each, "
        f"{benchmark.span_seconds:.0f} s"
    )
    created = owner.client.post("/api/v1/rooms", json={"name": ROOM, "node": OWNER, "ptime": 20})
    created.raise_for_status()
    try:
        grown = owner.client.post(f"/api/v1/rooms/{ROOM}/shards", json={"node": GUEST})
        if grown.status_code != 201:
            reason = (
                f"POST /api/v1/rooms/{ROOM}/shards answered {grown.status_code}: {grown.text[:200]}"
            )
            progress(f"  -> not measured: {reason}")
            return {"measured": False, "reason": reason, "passed": False}
        rtt = round_trip_ms(cluster, OWNER, GUEST)
        result = _measure(cluster, benchmark, progress)
        result["network_rtt_ms"] = rtt
        same, cross = result.pop("same"), result.pop("cross")
        result |= extra_latency(same, cross, TICK_MS, rtt["median_ms"] if rtt else None)
        result["latencies_ms"] = {
            "same_node": [round(v * 1000, 2) for v in same],
            "cross_node": [round(v * 1000, 2) for v in cross],
        }
    finally:
        owner.client.delete(f"/api/v1/rooms/{ROOM}")
    extra, target = result["extra_ms"], result["target_ms"]
    progress(
        f"  -> heard on {OWNER} p50 {result['same_node_ms']['p50']} ms, on {GUEST} p50 "
        f"{result['cross_node_ms']['p50']} ms; extra p50 {extra['p50']} p95 {extra['p95']} "
        f"p99 {extra['p99']} ms (target <= {target} ms): "
        f"{'met' if result['passed'] else 'NOT MET'}"
    )
    return result


def _measure(cluster: Cluster, benchmark: SpanSettings, progress: Progress) -> dict[str, Any]:
    owner, guest = cluster.nodes[OWNER], cluster.nodes[GUEST]
    talkers = max(1, min(benchmark.span_talkers, len(TALKER_FREQUENCIES)))
    specs: list[dict[str, Any]] = [
        {"name": f"span-talker-{k}", "room": ROOM, "talker": k, "probe": False, "url": owner.url}
        for k in range(talkers)
    ]
    specs += [
        {"name": "span-ear-1", "room": ROOM, "talker": None, "probe": True, "url": owner.url},
        {"name": "span-ear-2", "room": ROOM, "talker": None, "probe": True, "url": guest.url},
    ]
    for node, server in ((OWNER, owner), (GUEST, guest)):
        specs += [
            {"name": f"span-{node}-{i}", "room": ROOM, "talker": None, "probe": False,
             "url": server.url}
            for i in range(benchmark.span_legs)
        ]  # fmt: skip
    load = start_legs(
        owner.url, specs, ptime=20, duration=benchmark.span_seconds, progress=progress,
        host=cluster.gateway,
    )  # fmt: skip
    start = time.monotonic()
    try:
        summary = owner.client.get(f"/api/v1/rooms/{ROOM}").json()
        roster = owner.client.get(f"/api/v1/rooms/{ROOM}/participants").json()
    finally:
        reports = collect_load(load, timeout=benchmark.span_seconds + 60)
    sent = {o["tone"]: o["times"] for r in reports for o in r["sent_onsets"]}
    window = (start + WARMUP, start + benchmark.span_seconds)
    latencies: dict[str, list[float]] = {"span-ear-1": [], "span-ear-2": []}
    onsets = {probe: {"expected": 0, "lost": 0} for probe in latencies}
    for report in reports:
        for entry in report["heard_onsets"]:
            probe, times = entry["probe"], [t for t in entry["times"] if t > window[0]]
            talker = sent.get(entry["talker"], [])
            latencies[probe] += match_latencies(talker, times)
            expected, lost = lost_onsets(talker, entry["times"], window)
            onsets[probe]["expected"] += expected
            onsets[probe]["lost"] += lost
    return {
        "shards": summary.get("shards"),
        "legs_by_node": _by_node(roster),
        # Where each listener is, as the roster says (the talker's node and the other).
        "probes": {
            name: next((e.get("node") for e in roster if e.get("name") == name), None)
            for name in latencies
        },
        "talkers": talkers,
        "tones_hz": list(TALKER_FREQUENCIES[:talkers]),
        "onsets_sent": sum(len(times) for times in sent.values()),
        "onsets": onsets,
        "same": latencies["span-ear-1"],
        "cross": latencies["span-ear-2"],
    }


def _by_node(roster: list[dict[str, Any]]) -> dict[str, int]:
    """How many of the room's legs each node carries, as the roster says (its `node` field;
    "?" where the roster does not name one)."""
    counts: dict[str, int] = {}
    for entry in roster:
        node = str(entry.get("node") or "?")
        counts[node] = counts.get(node, 0) + 1
    return counts


def round_trip_ms(cluster: Cluster, source: str, target: str) -> dict[str, Any] | None:
    """The round trip from node `source`'s namespace to node `target`'s API port (TCP
    connects, bench/netrtt.py); None when it could not be measured."""
    server = cluster.nodes[target]
    address = cluster.namespaces[target].address
    try:
        output = cluster.namespaces[source].run(
            sys.executable, "-m", "bench.netrtt", address, str(server.http_port), "20"
        )
        found: dict[str, Any] = json.loads(output)
    except (OSError, ValueError, subprocess.SubprocessError) as error:
        return {"error": str(error), "median_ms": None}
    found["p90_ms"] = round(statistics.quantiles(found["rtt_ms"], n=10)[-1], 4)
    return found
