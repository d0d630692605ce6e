"""The PNG of `bench cluster`: rooms, legs and CPU per node; the talker's latency heard on its
own node and on another, with the extra against its target; the failover gaps against 5 s."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

from bench.workersplot import COLOURS  # noqa: E402


def cluster_plot(report: dict[str, Any], title: str, path: Path) -> None:
    figure, (place, latency, gaps) = plt.subplots(1, 3, figsize=(16, 4.8))
    _placement(place, report.get("placement"))
    _latency(latency, report.get("span"))
    _failover(gaps, report.get("failover"))
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _missing(axis: Axes, text: str) -> None:
    axis.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=9)
    axis.set_axis_off()


def _placement(axis: Axes, placement: dict[str, Any] | None) -> None:
    """Rooms and legs per node (bars), each node's CPU in cores (line, right axis)."""
    if not placement:
        _missing(axis, "placement not run")
        return
    rows = placement["nodes"]
    x = np.arange(len(rows))
    for offset, key, colour in ((-0.2, "rooms", COLOURS[0]), (0.2, "legs", COLOURS[1])):
        values = [row[key] or 0 for row in rows]
        axis.bar(x + offset, values, 0.4, color=colour, label=key)
        for xi, value in zip(x + offset, values, strict=True):
            axis.text(xi, value, str(value), ha="center", va="bottom", fontsize=7)
    axis.set_yscale("symlog")
    axis.set_ylim(0, max([1, *(row["legs"] or 0 for row in rows)]) * 6)  # room for the legend
    axis.set_xticks(x, [row["node"] for row in rows])
    axis.set_ylabel("rooms, legs (GET /api/v1/nodes)")
    cpu = axis.twinx()
    cores = [row["cpu_cores"] or 0.0 for row in rows]
    cpu.plot(x, cores, "o-", color=COLOURS[2], label="CPU (cores, whole tree)")
    cpu.set_ylim(0, max([*cores, 0.1]) * 1.3)
    cpu.set_ylabel("CPU, whole process tree (cores)")
    handles = axis.get_legend_handles_labels()
    extra = cpu.get_legend_handles_labels()
    axis.legend(handles[0] + extra[0], handles[1] + extra[1], fontsize=7, loc="upper left")
    axis.set_title(
        f"placement: {placement['rooms']} rooms x {placement['legs_per_room']} legs", fontsize=9
    )
    axis.grid(alpha=0.3, axis="y")


def _latency(axis: Axes, span: dict[str, Any] | None) -> None:
    """The distributions (CDF) of onset-to-arrival latency on the talker's node and on the
    other, the extra at p50/p95/p99 against its target in the title."""
    if not span:
        _missing(axis, "cross-node latency not run")
        return
    if not span.get("measured", True):
        _missing(axis, f"cross-node latency not measured:\n{span['reason'][:120]}")
        return
    series = (("same_node", "listener on the talker's node"), ("cross_node", "on another node"))
    for index, (key, label) in enumerate(series):
        values = np.sort(np.asarray(span["latencies_ms"][key], dtype=np.float64))
        if len(values):
            share = np.arange(1, len(values) + 1) / len(values) * 100
            axis.step(values, share, where="post", color=COLOURS[index], label=label)
    for q in (50, 95, 99):
        axis.axhline(q, color="grey", linewidth=0.5, linestyle=":")
    extra = span["extra_ms"]
    axis.set_xlabel("tone onset to arrival (ms)")
    axis.set_ylabel("bursts heard within (%)")
    axis.set_title(
        f"extra p50 {extra['p50']} p95 {extra['p95']} p99 {extra['p99']} ms, "
        f"target <= {span['target_ms']} ms",
        fontsize=9,
    )
    axis.legend(fontsize=7, loc="lower right")
    axis.grid(alpha=0.3)


def _failover(axis: Axes, failover: dict[str, Any] | None) -> None:
    """Each run's gap from kill -9 to the tone at the phone again, against the target."""
    if not failover:
        _missing(axis, "failover not run")
        return
    results, summary = failover["results"], failover["summary"]
    x = np.arange(len(results))
    gaps = [r["gap_s"] for r in results]
    axis.bar(x, [g or 0.0 for g in gaps], 0.6, color=COLOURS[3], label="tone back at the phone")
    for xi, gap in zip(x.tolist(), gaps, strict=True):
        axis.text(xi, gap or 0.0, "never" if gap is None else f"{gap:.2f}", ha="center",
                  va="bottom", fontsize=7)  # fmt: skip
    axis.axhline(summary["target_s"], color="#c0392b", linestyle="--",
                 label=f"target {summary['target_s']:g} s")  # fmt: skip
    axis.set_xticks(x, [f"kill {r['killed']}" for r in results])
    axis.set_ylabel("seconds after kill -9")
    axis.set_title("failover gap through Kamailio (SIP re-INVITE)", fontsize=9)
    axis.legend(fontsize=7)
    axis.grid(alpha=0.3, axis="y")
