"""`bench workers`: the media-workers issue's targets, single-process mode and worker mode side
by side in one report.

For each mode in `modes` (0: rooms in the server process, the old mode; N: N media worker
processes), a fresh server, started through scenario.started_server, runs three phases:

1. idle: nothing joined, only the default room; the CPU of the whole server process tree
   (control and workers, from /proc) over `idle_seconds`, with nothing asking the server
   anything meanwhile. Target: at most 2 % of a core.
2. one room: `legs` PCMU legs from bench.loadgen processes, each sending 50 packets/s (tone
   bursts for the `talkers`, silence packets for the others), talkers and probes spread through
   the room so that a room spanning two workers has both on each shard. Targets: at most 0.1 %
   of ticks more than 5 ms late, latency p99 <= 40 ms, no tone onset lost, no talker hearing
   its own tone (mix-minus exact).
3. many rooms: ROOMSxLEGS rooms, 2 talkers each, the same load generator. Targets: at most
   0.1 % late ticks, latency p99 <= 40 ms.

`repeat` runs all modes that many times, alternating, so each figure comes with its spread."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench import scenario as runs
from bench.figures import cpu_split
from bench.loadgen import PHASES
from bench.serverproc import rss_bytes, tree_stats

Progress = Callable[[str], None]

TARGETS = {
    "late_percent": 0.1,  # of ticks more than 5 ms late, at most
    "latency_p99_ms": 40.0,
    "onsets_lost": 0,
    "idle_cpu_percent": 2.0,  # of one core, whole process tree
}
SETTLE = 3.0  # seconds between the server's start and the idle window (workers importing)


@dataclass
class WorkersBenchmark:
    modes: list[int] = field(default_factory=lambda: [0, 2])
    legs: int = 500
    talkers: int = 4
    probes: int = 8
    rooms: str = "50x10"  # ROOMSxLEGS, '' skips
    seconds: float = 20.0
    idle_seconds: float = 20.0  # 0 skips
    max_legs_per_shard: int = 250
    loadgens: int = 2
    phases: int = PHASES
    repeat: int = 1
    pin: bool = False


def run(benchmark: WorkersBenchmark, progress: Progress) -> dict[str, Any]:
    measured = []
    for repeat in range(benchmark.repeat):
        for workers in benchmark.modes:
            mode = runs.mode_name(workers)
            progress(f"bench workers: {mode} (run {repeat + 1} of {benchmark.repeat})")
            row: dict[str, Any] = {"repeat": repeat, "workers": workers, "mode": mode}
            with runs.started_server(
                workers=workers,
                max_legs_per_shard=benchmark.max_legs_per_shard if workers else None,
                pin=benchmark.pin,
                progress=progress,
            ) as target:
                if benchmark.idle_seconds > 0:
                    row["idle"] = idle(target, benchmark.idle_seconds, progress)
                if benchmark.legs:
                    row["one_room"] = _one_room(benchmark, target, workers, progress)
                if benchmark.rooms:
                    row["many_rooms"] = _many_rooms(benchmark, target, progress)
            measured.append(row)
    table = side_by_side(measured)
    return {"targets": TARGETS, "runs": measured, "table": table, "verdicts": verdicts(table)}


def idle(target: runs.Target, seconds: float, progress: Progress) -> dict[str, Any]:
    """CPU and RSS of the idle server's whole process tree over `seconds`."""
    assert target.server is not None
    pid = target.server.process.pid
    time.sleep(SETTLE)
    progress(f"  idle: {seconds:.0f} s, the default room only")
    began, before = time.monotonic(), tree_stats(pid)
    time.sleep(seconds)
    after, elapsed = tree_stats(pid), time.monotonic() - began
    split = cpu_split(before, after, pid, elapsed)
    result = {
        "seconds": round(elapsed, 2),
        "cpu_percent": round(split["total"] * 100, 2),
        "cpu_split": split,
        "processes": len(after),
        "rss_mb": round(rss_bytes(pid) / 2**20, 1),
    }
    progress(f"  -> idle {result['cpu_percent']} % of a core, {result['rss_mb']} MB")
    return result


def _one_room(
    benchmark: WorkersBenchmark, target: runs.Target, workers: int, progress: Progress
) -> dict[str, Any]:
    progress(
        f"  one room: {benchmark.legs} PCMU legs, {benchmark.talkers} talkers, "
        f"{benchmark.probes} probes, {benchmark.seconds:.0f} s"
    )
    scenario = runs.Scenario(
        rooms=1,
        legs_per_room=benchmark.legs,
        talkers_per_room=benchmark.talkers,
        probes_per_room=benchmark.probes,
        duration=benchmark.seconds,
        loadgens=benchmark.loadgens,
        phases=benchmark.phases,
        room_prefix=f"workers{workers}-one",
        spread=True,
    )
    summary = runs.run(scenario, target, progress).summary()
    _say(summary, progress)
    return summary


def _many_rooms(
    benchmark: WorkersBenchmark, target: runs.Target, progress: Progress
) -> dict[str, Any]:
    count, legs = (int(x) for x in benchmark.rooms.split("x"))
    progress(f"  many rooms: {count} rooms of {legs} legs, 2 talkers each")
    scenario = runs.Scenario(
        rooms=count,
        legs_per_room=legs,
        talkers_per_room=2,
        duration=benchmark.seconds,
        loadgens=benchmark.loadgens,
        phases=benchmark.phases,
        room_prefix="many",
    )
    summary = runs.run(scenario, target, progress).summary()
    _say(summary, progress)
    return summary


def _say(summary: dict[str, Any], progress: Progress) -> None:
    lateness = summary["tick_lateness"] or {}
    progress(
        f"  -> late {summary['late_percent']} % of {lateness.get('ticks')} "
        f"ticks (>20 ms: {lateness.get('over_20ms')}), latency p50 "
        f"{summary.get('latency_p50_ms')} p99 {summary.get('latency_p99_ms')} ms, onsets lost "
        f"{summary['onsets_lost']} of {summary['onsets_expected']}, own tone heard "
        f"{summary['mix_minus']['own_tone_packets']} packets, server {summary['cpu_cores']} "
        f"cores {summary['rss_mb']} MB ({summary['server_processes']} processes); load "
        f"generators {summary['loadgen_cores']} cores, machine busy "
        f"{summary['machine_busy_cores']} of {os.cpu_count()} cores"
    )


# Figures the side-by-side table shows, per phase: (name in the table, how to read it).
FIGURES: dict[str, list[tuple[str, Callable[[dict[str, Any]], Any]]]] = {
    "idle": [
        ("cpu_percent", lambda r: r["cpu_percent"]),
        ("rss_mb", lambda r: r["rss_mb"]),
    ],
    "one_room": [
        ("late_percent", lambda r: r["late_percent"]),
        ("ticks_over_20ms", lambda r: (r["tick_lateness"] or {}).get("over_20ms")),
        ("latency_p50_ms", lambda r: r.get("latency_p50_ms")),
        ("latency_p99_ms", lambda r: r.get("latency_p99_ms")),
        ("onsets_lost", lambda r: r["onsets_lost"]),
        # None (not met) when no talker could check: an unchecked mix-minus is not exact.
        ("own_tone_packets", lambda r: _checked(r["mix_minus"])),
        ("cpu_cores", lambda r: r["cpu_cores"]),
        ("rss_mb", lambda r: r["rss_mb"]),
        ("loadgen_cores", lambda r: r["loadgen_cores"]),
        ("machine_busy_cores", lambda r: r["machine_busy_cores"]),
    ],
    "many_rooms": [
        ("late_percent", lambda r: r["late_percent"]),
        ("ticks_over_20ms", lambda r: (r["tick_lateness"] or {}).get("over_20ms")),
        ("latency_p50_ms", lambda r: r.get("latency_p50_ms")),
        ("latency_p99_ms", lambda r: r.get("latency_p99_ms")),
        ("onsets_lost", lambda r: r["onsets_lost"]),
        ("cpu_cores", lambda r: r["cpu_cores"]),
        ("rss_mb", lambda r: r["rss_mb"]),
        ("loadgen_cores", lambda r: r["loadgen_cores"]),
        ("machine_busy_cores", lambda r: r["machine_busy_cores"]),
    ],
}


def _checked(mix_minus: dict[str, Any]) -> int | None:
    return int(mix_minus["own_tone_packets"]) if mix_minus["talkers_checked"] else None


def side_by_side(measured: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per phase and mode: each figure's values over the repeats, and min and max."""
    rows: list[dict[str, Any]] = []
    for phase, figures in FIGURES.items():
        modes = list(dict.fromkeys(row["mode"] for row in measured if phase in row))
        for mode in modes:
            results = [row[phase] for row in measured if row["mode"] == mode and phase in row]
            entry: dict[str, Any] = {"phase": phase, "mode": mode, "runs": len(results)}
            for name, read in figures:
                values = [read(result) for result in results]
                numbers = [v for v in values if v is not None]
                entry[name] = {
                    "values": values,
                    "min": min(numbers) if numbers else None,
                    "max": max(numbers) if numbers else None,
                }
            rows.append(entry)
    return rows


def verdicts(table: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target against each phase and mode, judged on the worst run (met only if every
    run met it)."""
    checks = {
        "idle": [("cpu_percent", TARGETS["idle_cpu_percent"])],
        "one_room": [
            ("late_percent", TARGETS["late_percent"]),
            ("latency_p99_ms", TARGETS["latency_p99_ms"]),
            ("onsets_lost", TARGETS["onsets_lost"]),
            ("own_tone_packets", 0),
        ],
        "many_rooms": [
            ("late_percent", TARGETS["late_percent"]),
            ("latency_p99_ms", TARGETS["latency_p99_ms"]),
        ],
    }
    found = []
    for row in table:
        for name, limit in checks[row["phase"]]:
            worst = row[name]["max"]
            found.append(
                {
                    "phase": row["phase"],
                    "mode": row["mode"],
                    "figure": name,
                    "target": f"<= {limit}",
                    "worst": worst,
                    "met": worst is not None and worst <= limit,
                }
            )
    return found
