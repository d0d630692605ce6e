"""The cluster benchmark's figures from its raw readings, pure so they are tested without a
cluster: rooms, legs and CPU per node; the extra latency of a talker heard on another node;
when a tone came back after a node was killed; the failover gaps against their target."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

PERCENTILES = (50, 95, 99)
FAILOVER_TARGET_S = 5.0  # from kill -9 to audio at the phone again
RESUMED_GAP_S = 0.2  # a tone arriving after this long without it is the tone back


def placement(
    nodes: Sequence[Mapping[str, Any]],
    directory: Mapping[str, str],
    cores: Mapping[str, float | None],
) -> list[dict[str, Any]]:
    """One row per node: its state, rooms and legs as `GET /api/v1/nodes` tells them, the rooms
    the directory (`GET /api/v1/rooms`, {room: owner}) places on it, and its CPU in cores
    (whole process tree), by node name."""
    rows = []
    for node in sorted(nodes, key=lambda entry: str(entry["name"])):
        name = str(node["name"])
        owned = sorted(room for room, owner in directory.items() if owner == name)
        rows.append(
            {
                "node": name,
                "state": node.get("state"),
                "rooms": node.get("rooms"),
                "legs": node.get("legs"),
                "directory_rooms": owned,
                "cpu_cores": cores.get(name),
            }
        )
    return rows


def percentiles_ms(values: Sequence[float]) -> dict[str, float | None]:
    """p50, p95, p99 in ms of latencies in seconds (None without samples)."""
    array = np.asarray(values, dtype=np.float64) * 1000
    return {
        f"p{q}": round(float(np.percentile(array, q)), 2) if len(array) else None
        for q in PERCENTILES
    }


def extra_latency(
    same: Sequence[float], cross: Sequence[float], tick_ms: float, rtt_ms: float | None
) -> dict[str, Any]:
    """A talker's tone heard on its own node (`same`) and on another node (`cross`), onset to
    arrival in seconds: each distribution's p50/p95/p99, the extra (cross minus same) at each,
    and each against the target of one tick plus half the round trip between the nodes. Met
    only when every percentile was measured and is within it."""
    ours, theirs = percentiles_ms(same), percentiles_ms(cross)
    target = round(tick_ms + (rtt_ms or 0.0) / 2, 3)
    extra: dict[str, float | None] = {}
    met: dict[str, bool] = {}
    for key in ours:
        a, b = ours[key], theirs[key]
        extra[key] = None if a is None or b is None else round(b - a, 2)
        value = extra[key]
        met[key] = value is not None and value <= target
    return {
        "samples": {"same_node": len(same), "cross_node": len(cross)},
        "same_node_ms": ours,
        "cross_node_ms": theirs,
        "extra_ms": extra,
        "target_ms": target,
        "target": f"extra <= one tick ({tick_ms:g} ms) + network RTT/2 "
        f"({'unmeasured' if rtt_ms is None else f'{rtt_ms / 2:.3f} ms'})",
        "met": met,
        "passed": bool(same) and bool(cross) and all(met.values()),
    }


def tone_back(times: Sequence[float], loud: Sequence[bool], killed_at: float) -> float | None:
    """Seconds from `killed_at` to the first packet carrying the tone again: the first loud
    arrival after the kill that follows RESUMED_GAP_S or more without one (packets already on
    their way when the node died arrive within milliseconds and do not count). None when the
    tone never came back, or was not heard before the kill."""
    heard = [t for t, is_loud in zip(times, loud, strict=True) if is_loud]
    if not any(t <= killed_at for t in heard):
        return None
    for previous, current in zip(heard, heard[1:], strict=False):
        if current > killed_at and current - previous >= RESUMED_GAP_S:
            return round(current - killed_at, 3)
    return None


def failover_summary(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Every run's gap (kill -9 to the tone at the phone again; None: never), the largest, and
    whether every run came back within FAILOVER_TARGET_S."""
    gaps = [run.get("gap_s") for run in runs]
    measured = [gap for gap in gaps if gap is not None]
    return {
        "runs": len(runs),
        "gaps_s": gaps,
        "max_s": max(measured) if measured else None,
        "target_s": FAILOVER_TARGET_S,
        "passed": bool(runs) and len(measured) == len(gaps) and max(measured) <= FAILOVER_TARGET_S,
    }
