"""Figures from a benchmark run's raw readings: tick lateness from two /metrics scrapes, CPU
by member of the server's process tree, latency percentiles, and the talkers' mix-minus checks.
Pure functions, so the report shaping is tested without starting a server."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from bench.serverproc import ProcessStat, tree_cpu_seconds


def percentiles_ms(values: list[float]) -> dict[str, float | int]:
    """p50, p99 and max in ms of latencies in seconds, and how many there were."""
    array = np.asarray(values) * 1000
    if not len(array):
        return {"samples": 0}
    return {
        "samples": len(array),
        "p50_ms": round(float(np.percentile(array, 50)), 2),
        "p99_ms": round(float(np.percentile(array, 99)), 2),
        "max_ms": round(float(array.max()), 2),
    }


def mix_minus_summary(checks: list[dict[str, Any]]) -> dict[str, Any]:
    """The talkers' own-tone checks put together: exact when no talker heard its own tone."""
    levels = [c["own_tone_max_dbfs"] for c in checks if c["own_tone_max_dbfs"] is not None]
    heard = sum(c["own_tone_packets"] for c in checks)
    return {
        "talkers_checked": len(checks),
        "packets_checked": sum(c["packets"] for c in checks),
        "own_tone_packets": heard,
        "own_tone_max_dbfs": max(levels) if levels else None,
        "exact": bool(checks) and heard == 0 and all(c["packets"] > 0 for c in checks),
        "talkers_hearing_themselves": [
            {key: c.get(key) for key in ("room", "name", "own_tone_packets", "own_tone_at_s")}
            for c in checks
            if c["own_tone_packets"]
        ],
    }


_BUCKET = re.compile(
    r"^mediacore_tick_lateness_seconds_bucket{([^}]*)} ([0-9.e+-]+)$", re.MULTILINE
)
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def lateness_buckets(
    metrics: str, room: str | None = None, prefix: str | None = None
) -> dict[str, float]:
    """The tick lateness histogram of /metrics summed over rooms (only `room`, or only the rooms
    named `prefix`-something, when given; a room spanning workers counts every shard's ticks):
    cumulative count per upper bound, "+Inf" the total."""
    buckets: dict[str, float] = {}
    for labels, count in _BUCKET.findall(metrics):
        found = dict(_LABEL.findall(labels))
        name = found.get("room", "")
        if room is not None and name != room:
            continue
        if prefix is not None and not name.startswith(f"{prefix}-"):
            continue
        bound = found["le"]
        buckets[bound] = buckets.get(bound, 0.0) + float(count)
    return buckets


def lateness_between(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Ticks run between two scrapes, how many ran more than 5 ms and 20 ms late, and the
    share more than 5 ms late in %. Rooms that vanished in between must not be in `after`."""

    def delta(bound: str) -> float:
        return after.get(bound, 0.0) - before.get(bound, 0.0)

    ticks = delta("+Inf")
    over_5 = ticks - delta("0.005")
    over_20 = ticks - delta("0.02")
    return {
        "ticks": ticks,
        "over_5ms": over_5,
        "over_20ms": over_20,
        "over_50ms": ticks - delta("0.05"),
        "late_percent": round(over_5 / ticks * 100, 4) if ticks else 0.0,
    }


def cpu_split(
    before: dict[int, ProcessStat], after: dict[int, ProcessStat], root: int, elapsed: float
) -> dict[str, Any]:
    """Cores a process tree used between two readings (`total`), and where: the root (the
    control process), each other member by pid (media workers; one that started in between
    counts from zero), and `exited`, members that ended in between and were reaped (their
    time moved into their parent's cutime/cstime, less what they had used before)."""

    def own(stats: dict[int, ProcessStat], pid: int) -> float:
        stat = stats.get(pid)
        return stat.own_seconds if stat else 0.0

    reaped = sum(b.reaped_seconds for b in after.values())
    reaped -= sum(before[pid].reaped_seconds for pid in after if pid in before)
    gone = sum(stat.own_seconds + stat.reaped_seconds for pid, stat in before.items()
               if pid not in after)  # fmt: skip
    return {
        "total": round((tree_cpu_seconds(after) - tree_cpu_seconds(before)) / elapsed, 3),
        "control": round((own(after, root) - own(before, root)) / elapsed, 3),
        "workers": {
            str(pid): round((own(after, pid) - own(before, pid)) / elapsed, 3)
            for pid in sorted(after)
            if pid != root
        },
        "exited": round(max(0.0, reaped - gone) / elapsed, 3),
    }


def janus_comparison(
    janus: list[dict[str, Any]], modes: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    """Capacity rows of Janus and of each mediacore mode (by mode name) from one run, side by
    side: per room size each server's CPU (whole process tree), latency and RSS, and the CPU
    ratio mediacore / Janus per mode (below 1: mediacore uses less)."""
    keep = ("legs", "cpu_cores", "latency_p50_ms", "latency_p99_ms", "rss_mb", "late_percent")
    servers = {"janus": janus} | {f"mediacore {mode}": rows for mode, rows in modes.items()}
    rows = [
        {"server": server, **{key: row.get(key) for key in keep}}
        for server, found in servers.items()
        for row in found
    ]
    theirs = {row["legs"]: row.get("cpu_cores") for row in janus}
    ratios = []
    for mode, found in modes.items():
        for row in found:
            ours, janus_cores = row.get("cpu_cores"), theirs.get(row["legs"])
            ratios.append(
                {
                    "legs": row["legs"],
                    "mode": mode,
                    "mediacore_cores": ours,
                    "janus_cores": janus_cores,
                    "ratio": round(ours / janus_cores, 3)
                    if ours is not None and janus_cores
                    else None,
                }
            )
    return {"servers": list(servers), "rows": rows, "ratios": ratios}
