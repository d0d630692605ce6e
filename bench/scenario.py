"""One benchmark run: rooms of plain RTP legs driven by load-generator processes, with the
server's CPU, memory, late ticks and the talkers' onset-to-arrival latency measured."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.figures import (
    cpu_split,
    lateness_between,
    lateness_buckets,
    mix_minus_summary,
    percentiles_ms,
)
from bench.loadgen import PHASES
from bench.onsets import lost_onsets, match_latencies
from bench.serverproc import TOKEN, ServerProcess, own_cpu_seconds, rss_bytes, tree_stats

WARMUP = 2.0  # seconds ignored at the start of a run (jitter buffers settle, sockets warm)


def split_cpus() -> tuple[set[int], set[int]] | None:
    """(server CPUs, load-generator CPUs): one core each on a 2-core machine, halves above.

    Pinning keeps the generators' send bursts off the server's cores. It is not the default:
    on the 2-core machine it did not lower late ticks (a pinned server also cannot spread the
    kernel's loopback work), so it stays an option for comparing. None with fewer than 2 CPUs."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    half = len(cpus) // 2
    return set(cpus[:half]), set(cpus[half:])


@dataclass
class Scenario:
    rooms: int
    legs_per_room: int
    talkers_per_room: int
    probes_per_room: int = 1
    probe_rooms: int = 10  # rooms that carry probe listeners (latency is sampled there)
    duration: float = 20.0
    loadgens: int = 2  # load-generator processes the legs are spread over
    phases: int = PHASES  # slots of the packet time the legs send at (1: all in one burst)
    ptime: int = 20
    room_prefix: str = "bench"
    # Talkers and probes spread evenly through each room's legs instead of first: in a room
    # that spans workers they then sit on every shard, so audio crosses the cascade links.
    spread: bool = False
    self_check: bool = True  # talkers in probe rooms listen for their own tone (mix-minus)
    # `bench dispatch`: one more leg, a console in a room of its own ({prefix}-console), that
    # monitors every room of the run when `monitor` says so. Every talker of the run then has
    # a tone of its own and a burst phase of its own, so the console tells them apart.
    console: bool = False
    monitor: bool = True

    @property
    def console_room(self) -> str:
        return f"{self.room_prefix}-console"

    def room_names(self) -> list[str]:
        names = [f"{self.room_prefix}-{room}" for room in range(self.rooms)]
        return names + [self.console_room] if self.console else names


# With a console, the run's talkers' tones: 150 Hz apart, which the probes' Hann-windowed
# 20 ms measurement separates by more than 40 dB (PCMU included).
CONSOLE_TONES = tuple(350.0 + 150.0 * n for n in range(20))


@dataclass
class Target:
    """The server under test: one we started (CPU and memory readable) or any other."""

    url: str
    token: str = ""
    server: ServerProcess | None = None
    exchange: str | None = None  # offer on stdin -> answer on stdout, for non-mediacore servers
    create_rooms: bool = True
    pid: int | None = None  # another server's process: its CPU and memory are read from /proc
    cleanup: str | None = None  # run per room after the run (LEG_ROOM in its environment)
    loadgen_cpus: set[int] | None = None  # pin the load generators here (see pin_processes)


@contextmanager
def started_server(
    *,
    workers: int = 0,
    max_legs_per_shard: int | None = None,
    pin: bool = False,
    progress: Callable[[str], None] = print,
) -> Iterator[Target]:
    """A fresh mediacore server in a temp data dir as the Target, stopped afterwards: the one
    place benchmarks start the server under test, in single-process mode (`workers` 0) or with
    media workers. With `pin`, the server's tree and the load generators get separate CPUs."""
    data = Path(tempfile.mkdtemp(prefix="mediacore-bench-"))
    server = ServerProcess(
        data,
        rtp_ports=4000,
        workers=workers,
        max_legs_per_shard=max_legs_per_shard,
        MEDIACORE_SERVER_LOG_LEVEL="warning",
    )
    try:
        cpus = split_cpus() if pin else None
        if cpus is not None:
            # The workers are running already: each member of the tree is pinned.
            for pid in tree_stats(server.process.pid):
                os.sched_setaffinity(pid, cpus[0])
            progress(f"server on CPU {sorted(cpus[0])}, load generators on {sorted(cpus[1])}")
        yield Target(server.url, TOKEN, server, loadgen_cpus=cpus[1] if cpus else None)
    finally:
        server.stop()


def mode_name(workers: int) -> str:
    """How reports name a server mode: "single-process" or "2 workers"."""
    return "single-process" if workers == 0 else f"{workers} worker" + ("s" if workers > 1 else "")


@dataclass
class Result:
    scenario: dict[str, Any]
    latencies: list[float] = field(default_factory=list)
    cpu_cores: float | None = None
    rss_bytes: int | None = None
    late_ticks: float | None = None
    ticks: float | None = None
    encodes_per_second: float | None = None
    mix_seconds_mean: float | None = None
    late_ticks_per_second: list[float | None] = field(default_factory=list)
    packets_sent: int = 0
    packets_received: int = 0
    send_lateness_p99: float = 0.0
    lateness: dict[str, float] | None = None  # tick lateness histogram over the window
    cpu_split: dict[str, Any] | None = None  # cores of the tree's control process and workers
    loadgen_cores: float | None = None
    machine_busy_cores: float | None = None
    processes: int | None = None
    onsets_expected: int = 0
    onsets_lost: int = 0
    console_onsets: list[int] = field(default_factory=lambda: [0, 0])  # expected, lost
    self_checks: list[dict[str, Any]] = field(default_factory=list)
    latencies_by_path: dict[str, list[float]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        values = np.asarray(self.latencies) * 1000
        stats = {}
        if len(values):
            stats = {
                f"latency_{name}_ms": round(float(np.percentile(values, q)), 2)
                for name, q in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))
            }
        return {
            **self.scenario,
            "legs": self.scenario["rooms"] * self.scenario["legs_per_room"],
            "latency_samples": len(values),
            **stats,
            "cpu_cores": None if self.cpu_cores is None else round(self.cpu_cores, 3),
            "rss_mb": None if self.rss_bytes is None else round(self.rss_bytes / 2**20, 1),
            "late_ticks": self.late_ticks,
            "ticks": self.ticks,
            "encodes_per_second": self.encodes_per_second,
            "late_ticks_per_second": self.late_ticks_per_second,
            "mix_ms_mean": None
            if self.mix_seconds_mean is None
            else round(self.mix_seconds_mean * 1000, 3),
            "packets_sent": self.packets_sent,
            "packets_received": self.packets_received,
            "loadgen_send_lateness_p99_ms": round(self.send_lateness_p99 * 1000, 2),
            "tick_lateness": self.lateness,
            "late_percent": None if self.lateness is None else self.lateness["late_percent"],
            "server_processes": self.processes,
            "loadgen_cores": self.loadgen_cores,
            "machine_busy_cores": self.machine_busy_cores,
            "cpu_split": self.cpu_split,
            "onsets_expected": self.onsets_expected,
            "onsets_lost": self.onsets_lost,
            "console_onsets": {
                "expected": self.console_onsets[0],
                "lost": self.console_onsets[1],
            },
            "mix_minus": mix_minus_summary(self.self_checks),
            "latency_by_path": {
                path: percentiles_ms(values) for path, values in self.latencies_by_path.items()
            },
        }


def _late_ticks(target: Target) -> float | None:
    """All rooms' late ticks so far: from the room summaries in single-process mode, from the
    workers' own counts in worker mode (a summary per room, each a round trip to a worker
    that may be busy, would take seconds for many rooms); None when the server did not answer
    in time (a busy server is what the run measures, not a reason to stop it)."""
    workers = target.server is not None and target.server.workers > 0
    try:
        found = httpx.get(
            target.url + ("/api/v1/workers" if workers else "/api/v1/rooms"),
            timeout=10,
            headers={"Authorization": f"Bearer {target.token}"},
        ).json()
    except httpx.TimeoutException:
        return None
    if workers:
        return float(sum(worker["late_ticks"] for worker in found))
    return float(sum(room["clock"]["late_ticks"] for room in found))


def _scrape(target: Target) -> str | None:
    """/metrics, or None when it takes more than 30 s: in worker mode a scrape asks every
    worker for its legs' counters, which an overloaded worker answers late."""
    try:
        headers = {"Authorization": f"Bearer {target.token}"} if target.token else {}
        return httpx.get(target.url + "/metrics", headers=headers, timeout=30).text
    except httpx.TimeoutException:
        return None


def _metric(text: str, name: str) -> float:
    """Sum of a metric's samples over all label sets."""
    total = 0.0
    for match in re.finditer(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+-]+)$", text, re.MULTILINE):
        total += float(match.group(1))
    return total


def _drift_ppm(scenario: Scenario) -> float:
    """Send-clock drift that moves the senders' phase through one whole mixer tick during the
    measured part of the run, so every wait-for-the-tick is sampled (at least 500 ppm)."""
    measured = max(1.0, scenario.duration - WARMUP)
    return max(500.0, scenario.ptime / 1000 / measured * 1e6)


def roles(legs: int, talkers: int, probes: int, spread: bool) -> dict[int, tuple[str, int]]:
    """{leg index: ("talker", k) or ("probe", k)}: the first talkers then probes, or with
    `spread` evenly through the legs, talkers and probes taking turns."""
    count = min(legs, talkers + probes)
    if not spread:
        positions = list(range(count))
    else:
        positions = sorted({round(i * legs / count) for i in range(count)}) if count else []
    order = [("talker", k) for k in range(talkers)] + [("probe", k) for k in range(probes)]
    if spread:  # alternate, so each part of the room gets talkers and probes both
        order.sort(key=lambda role: role[1] / (talkers if role[0] == "talker" else probes))
    return dict(zip(positions, order, strict=False))


def _legs(scenario: Scenario) -> list[dict[str, Any]]:
    legs = []
    for room in range(scenario.rooms):
        name = f"{scenario.room_prefix}-{room}"
        probing = room < scenario.probe_rooms
        probes = scenario.probes_per_room if probing else 0
        probes = max(0, min(probes, scenario.legs_per_room - scenario.talkers_per_room))
        placed = roles(scenario.legs_per_room, scenario.talkers_per_room, probes, scenario.spread)
        for index in range(scenario.legs_per_room):
            kind, number = placed.get(index, ("listener", 0))
            leg: dict[str, Any] = {
                "name": f"{name}-{index}",
                "room": name,
                "talker": number if kind == "talker" else None,
                "probe": kind == "probe",
                "self_check": kind == "talker" and probing and scenario.self_check,
            }
            if scenario.console and kind == "talker":
                slot = room * scenario.talkers_per_room + number
                leg["tone"] = slot
                leg["offset"] = slot / (scenario.rooms * scenario.talkers_per_room)
            legs.append(leg)
    if scenario.console:
        console = scenario.console_room
        legs.append({"name": f"{console}-0", "room": console, "talker": None, "probe": True})
    return legs


def _monitor_everything(scenario: Scenario, client: httpx.Client) -> None:
    """The console hears every room of the run."""
    room = scenario.console_room
    console = client.get(f"/api/v1/rooms/{room}/participants").json()[0]["id"]
    monitor = [{"room": name} for name in scenario.room_names() if name != room]
    answer = client.patch(f"/api/v1/rooms/{room}/participants/{console}", json={"monitor": monitor})
    answer.raise_for_status()


def run(scenario: Scenario, target: Target, progress: Any = print) -> Result:
    client = httpx.Client(
        base_url=target.url, timeout=30, headers={"Authorization": f"Bearer {target.token}"}
    )
    if target.create_rooms:
        for name in scenario.room_names():
            client.post("/api/v1/rooms", json={"name": name, "ptime": scenario.ptime})
    legs = _legs(scenario)
    jobs = [legs[i :: scenario.loadgens] for i in range(scenario.loadgens)]
    workers = []
    nice = _media_nice(client) if target.server is not None else 0  # a server we started
    for part in jobs:
        job = {
            "url": target.url,
            "token": target.token,
            "legs": part,
            "ptime": 20,
            "duration": scenario.duration,
            "exchange": target.exchange,
            "drift_ppm": _drift_ppm(scenario),
            "phases": scenario.phases,
            "frequencies": CONSOLE_TONES if scenario.console else None,
            "nice": nice,
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.loadgen"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        if target.loadgen_cpus:
            os.sched_setaffinity(process.pid, target.loadgen_cpus)
        assert process.stdin is not None
        process.stdin.write(json.dumps(job) + "\n")
        process.stdin.flush()
        workers.append(process)
    progress(f"  joining {len(legs)} legs in {scenario.rooms} room(s)...")
    for process in workers:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"load generator failed to join its legs: {line!r}")
    placement = _placement(scenario, target, client)
    if scenario.console and scenario.monitor:
        _monitor_everything(scenario, client)
    start = time.monotonic() + 0.5
    for process in workers:
        assert process.stdin is not None
        process.stdin.write(f"start {start}\n")
        process.stdin.flush()
    progress(f"  sending for {scenario.duration:.0f} s...")
    result = Result(scenario=vars(scenario).copy())
    _measure(scenario, target, start, result, [p.pid for p in workers], progress)
    sent: list[dict[str, Any]] = []
    heard: list[dict[str, Any]] = []
    for process in workers:
        output, _ = process.communicate(timeout=scenario.duration + 60)
        report = json.loads(output.strip().splitlines()[-1])
        sent += report["sent_onsets"]
        heard += report["heard_onsets"]
        result.packets_sent += report["packets_sent"]
        result.packets_received += report["packets_received"]
        result.send_lateness_p99 = max(result.send_lateness_p99, report["send_lateness_p99"])
        result.self_checks += report.get("self_checks", [])
    window = (start + WARMUP, start + scenario.duration)
    for entry in heard:
        at_console = scenario.console and entry["room"] == scenario.console_room
        if at_console and not scenario.monitor:
            continue  # a console that monitors nothing hears no talker
        for talker in sent:
            if talker["tone"] != entry["talker"]:
                continue
            if talker["room"] != entry["room"] and not at_console:
                continue
            times = [t for t in entry["times"] if t > start + WARMUP]
            latencies = match_latencies(talker["times"], times)
            result.latencies += latencies
            expected, lost = lost_onsets(talker["times"], entry["times"], window)
            result.onsets_expected += expected
            result.onsets_lost += lost
            if at_console:
                result.latencies_by_path.setdefault("to the console", []).extend(latencies)
                result.console_onsets[0] += expected
                result.console_onsets[1] += lost
            elif placement:
                same = placement.get(talker["name"]) == placement.get(entry["probe"])
                path = "same worker" if same else "across workers"
                result.latencies_by_path.setdefault(path, []).extend(latencies)
    if target.create_rooms:
        for name in scenario.room_names():
            client.delete(f"/api/v1/rooms/{name}")
    if target.cleanup:
        for room in range(scenario.rooms):
            env = {**os.environ, "LEG_ROOM": f"{scenario.room_prefix}-{room}"}
            subprocess.run(target.cleanup, shell=True, env=env, timeout=60, check=True)
    client.close()
    return result


def _cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += own_cpu_seconds(pid)
        except OSError:  # finished already
            pass
    return total


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of every CPU so far, from /proc/stat (steal counts as busy)."""
    line = Path("/proc/stat").read_text().split("\n", 1)[0]
    fields = [int(v) for v in line.split()[1:9]]  # guest time is in user time already
    idle = fields[3] + fields[4]
    return float(sum(fields) - idle), float(sum(fields))


def _media_nice(client: httpx.Client) -> int:
    """The niceness of the server's media workers (0 with none, or when it does not say).

    The load generators stand for phones on machines of their own. Sharing this one's cores,
    they take the workers' niceness: below it, the workers' ticks would look better than they
    are only because the phones were starved (their sends and receive times late); above it,
    the reverse."""
    answer = client.get("/api/v1/workers")
    if answer.status_code != 200:
        return 0
    found = [w.get("nice") for w in answer.json() if isinstance(w.get("nice"), int)]
    return min(found, default=0)


def _placement(scenario: Scenario, target: Target, client: httpx.Client) -> dict[str, int]:
    """{leg name: worker id} of the probe rooms' legs, when the server runs media workers."""
    if target.server is None or not target.server.workers:
        return {}
    found = {}
    for room in range(min(scenario.rooms, scenario.probe_rooms)):
        roster = client.get(f"/api/v1/rooms/{scenario.room_prefix}-{room}/participants").json()
        found.update({entry["name"]: entry["worker"] for entry in roster})
    return found


def _measure(
    scenario: Scenario,
    target: Target,
    start: float,
    result: Result,
    loadgens: list[int],
    progress: Any,
) -> None:
    """Read the server's CPU, memory and clock over the run, after the warm-up, and beside
    them the load generators' CPU and the whole machine's busy cores (is it saturated?)."""
    time.sleep(max(0.0, start + WARMUP - time.monotonic()))
    server = target.server
    pid = server.process.pid if server else target.pid
    window_start = time.monotonic()
    loadgen_start, machine_start = _cpu_of(loadgens), machine_busy()
    stats_start = tree_stats(pid) if pid else None
    metrics_start = _scrape(target) if server else None
    rss = 0
    end = start + scenario.duration - 0.5
    next_report = time.monotonic() + 5
    while time.monotonic() < end:
        time.sleep(min(1.0, max(0.0, end - time.monotonic())))
        if pid:
            rss = max(rss, rss_bytes(pid))
        if server:
            result.late_ticks_per_second.append(_late_ticks(target))
        if time.monotonic() > next_report:
            progress(f"  {end - time.monotonic():.0f} s left")
            next_report += 5
    elapsed = time.monotonic() - window_start
    result.loadgen_cores = round((_cpu_of(loadgens) - loadgen_start) / elapsed, 3)
    busy, total = (b - a for a, b in zip(machine_start, machine_busy(), strict=True))
    result.machine_busy_cores = round(busy / max(1.0, total) * (os.cpu_count() or 1), 3)
    if pid and stats_start is not None:
        stats_end = tree_stats(pid)
        result.cpu_split = cpu_split(stats_start, stats_end, pid, elapsed)
        result.cpu_cores = result.cpu_split["total"]
        result.rss_bytes = rss
        result.processes = len(stats_end)
    metrics_end = _scrape(target) if server else None
    if metrics_start is not None and metrics_end is not None:
        # The run's own rooms: the server's default room ticks beside them, idle.
        prefix = scenario.room_prefix
        result.lateness = lateness_between(
            lateness_buckets(metrics_start, prefix=prefix),
            lateness_buckets(metrics_end, prefix=prefix),
        )
        delta = {
            name: _metric(metrics_end, name) - _metric(metrics_start, name)
            for name in (
                "mediacore_late_ticks_total",
                "mediacore_ticks_total",
                "mediacore_encodes_total",
                "mediacore_mix_seconds_sum",
                "mediacore_mix_seconds_count",
            )
        }
        result.late_ticks = delta["mediacore_late_ticks_total"]
        result.ticks = delta["mediacore_ticks_total"]
        result.encodes_per_second = round(delta["mediacore_encodes_total"] / elapsed, 1)
        if delta["mediacore_mix_seconds_count"]:
            result.mix_seconds_mean = (
                delta["mediacore_mix_seconds_sum"] / delta["mediacore_mix_seconds_count"]
            )
