"""One benchmark run: rooms of plain RTP legs driven by load-generator processes, with the
server's CPU, memory, late ticks and the talkers' onset-to-arrival latency measured."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

from bench.onsets import match_latencies
from bench.serverproc import ServerProcess, cpu_seconds, rss_bytes

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
    workers: int = 2
    ptime: int = 20
    room_prefix: str = "bench"


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
    late_ticks_per_second: list[float] = field(default_factory=list)
    packets_sent: int = 0
    packets_received: int = 0
    send_lateness_p99: float = 0.0

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
        }


def _late_ticks(target: Target) -> float:
    """All rooms' late ticks so far, from the cheap room summaries (not a /metrics scrape)."""
    rooms = httpx.get(
        target.url + "/api/v1/rooms",
        timeout=10,
        headers={"Authorization": f"Bearer {target.token}"},
    ).json()
    return float(sum(room["clock"]["late_ticks"] for room in rooms))


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


def _legs(scenario: Scenario) -> list[dict[str, Any]]:
    legs = []
    for room in range(scenario.rooms):
        name = f"{scenario.room_prefix}-{room}"
        probes = scenario.probes_per_room if room < scenario.probe_rooms else 0
        for index in range(scenario.legs_per_room):
            talker = index if index < scenario.talkers_per_room else None
            probe = talker is None and index < scenario.talkers_per_room + probes
            legs.append({"name": f"{name}-{index}", "room": name, "talker": talker, "probe": probe})
    return legs


def run(scenario: Scenario, target: Target, progress: Any = print) -> Result:
    client = httpx.Client(
        base_url=target.url, timeout=30, headers={"Authorization": f"Bearer {target.token}"}
    )
    if target.create_rooms:
        for room in range(scenario.rooms):
            client.post(
                "/api/v1/rooms",
                json={"name": f"{scenario.room_prefix}-{room}", "ptime": scenario.ptime},
            )
    legs = _legs(scenario)
    jobs = [legs[i :: scenario.workers] for i in range(scenario.workers)]
    workers = []
    for part in jobs:
        job = {
            "url": target.url,
            "token": target.token,
            "legs": part,
            "ptime": 20,
            "duration": scenario.duration,
            "exchange": target.exchange,
            "drift_ppm": _drift_ppm(scenario),
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
    start = time.monotonic() + 0.5
    for process in workers:
        assert process.stdin is not None
        process.stdin.write(f"start {start}\n")
        process.stdin.flush()
    progress(f"  sending for {scenario.duration:.0f} s...")
    result = Result(scenario=vars(scenario).copy())
    _measure(scenario, target, start, result, progress)
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
    for entry in heard:
        onsets = [
            t
            for s in sent
            if s["room"] == entry["room"] and s["talker"] == entry["talker"]
            for t in s["times"]
        ]
        result.latencies += match_latencies(
            onsets, [t for t in entry["times"] if t > start + WARMUP]
        )
    if target.create_rooms:
        for room in range(scenario.rooms):
            client.delete(f"/api/v1/rooms/{scenario.room_prefix}-{room}")
    if target.cleanup:
        for room in range(scenario.rooms):
            env = {**os.environ, "LEG_ROOM": f"{scenario.room_prefix}-{room}"}
            subprocess.run(target.cleanup, shell=True, env=env, timeout=60, check=True)
    client.close()
    return result


def _measure(
    scenario: Scenario, target: Target, start: float, result: Result, progress: Any
) -> None:
    """Read the server's CPU, memory and clock over the run, after the warm-up."""
    time.sleep(max(0.0, start + WARMUP - time.monotonic()))
    server = target.server
    pid = server.process.pid if server else target.pid
    window_start = time.monotonic()
    cpu_start = cpu_seconds(pid) if pid else None
    metrics_start = httpx.get(target.url + "/metrics").text if server else ""
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
    if pid and cpu_start is not None:
        result.cpu_cores = (cpu_seconds(pid) - cpu_start) / elapsed
        result.rss_bytes = rss
    if server:
        metrics_end = httpx.get(target.url + "/metrics").text
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
