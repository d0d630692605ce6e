"""PNG plots of the media-workers benchmarks: modes side by side, the failover gaps, and the CPU
of Janus AudioBridge against mediacore's modes (matplotlib without a display)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

COLOURS = ("#3b6ea5", "#e67e22", "#27ae60", "#8e44ad", "#c0392b")
PHASES = {"one_room": "one room", "many_rooms": "many rooms", "idle": "idle"}


def _bars(
    axis: Axes,
    table: list[dict[str, Any]],
    phases: list[str],
    figure: str,
    target: float | None,
    label: str,
    scale: float = 1.0,
) -> None:
    """Grouped bars, one group per phase, one bar per mode: the mean over the repeats with
    the min-max range as an error bar, and the value written above."""
    modes = list(dict.fromkeys(row["mode"] for row in table))
    width = 0.8 / max(1, len(modes))
    for index, mode in enumerate(modes):
        means, low, high = [], [], []
        for phase in phases:
            row = next((r for r in table if r["phase"] == phase and r["mode"] == mode), None)
            values = [v * scale for v in (row[figure]["values"] if row else []) if v is not None]
            mean = float(np.mean(values)) if values else 0.0
            means.append(mean)
            low.append(mean - min(values) if values else 0.0)
            high.append(max(values) - mean if values else 0.0)
        positions = np.arange(len(phases)) + (index - (len(modes) - 1) / 2) * width
        axis.bar(positions, means, width, color=COLOURS[index % len(COLOURS)], label=mode,
                 yerr=[low, high], capsize=3)  # fmt: skip
        for x, y in zip(positions, means, strict=True):
            axis.text(x, y, f"{y:.3g}", ha="center", va="bottom", fontsize=7)
    if target is not None:
        axis.axhline(target, color="#c0392b", linestyle="--", linewidth=1,
                     label=f"target {target:g}")  # fmt: skip
    axis.set_xticks(np.arange(len(phases)), [PHASES[p] for p in phases])
    axis.set_ylabel(label)
    axis.legend(fontsize=7)
    axis.grid(alpha=0.3, axis="y")


def workers_plot(report: dict[str, Any], title: str, path: Path) -> None:
    """Late ticks, latency p99, server CPU under load, and idle CPU, by mode."""
    table, targets = report["table"], report["targets"]
    loaded = [p for p in ("one_room", "many_rooms") if any(r["phase"] == p for r in table)]
    figure, axes = plt.subplots(2, 2, figsize=(12, 8))
    _bars(axes[0][0], table, loaded, "late_percent", targets["late_percent"],
          "ticks more than 5 ms late (%)")  # fmt: skip
    _bars(axes[0][1], table, loaded, "latency_p99_ms", targets["latency_p99_ms"],
          "latency p99 (ms)")  # fmt: skip
    _bars(axes[1][0], table, loaded, "cpu_cores", None, "server CPU, whole process tree (cores)")
    if any(r["phase"] == "idle" for r in table):
        _bars(axes[1][1], table, ["idle"], "cpu_percent", targets["idle_cpu_percent"],
              "idle server CPU, whole tree (% of a core)")  # fmt: skip
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def failover_plot(report: dict[str, Any], title: str, path: Path) -> None:
    """Per run: the gaps from the kill (back in GET /workers, a new leg joined, it heard a
    tone) against 5 s; and the calm room's ticks by lateness bucket after the kill."""
    results, targets = report["runs"], report["targets"]
    figure, (gaps, ticks) = plt.subplots(1, 2, figsize=(12, 4.5))
    names = [("back_s", "worker back with its rooms"), ("joined_s", "new legs joined"),
             ("heard_s", "new leg heard a tone")]  # fmt: skip
    positions = np.arange(len(results))
    width = 0.8 / len(names)
    for index, (key, label) in enumerate(names):
        values = [r.get(key) for r in results]
        x = positions + (index - 1) * width
        gaps.bar(x, [v or 0.0 for v in values], width, color=COLOURS[index], label=label)
        for xi, value in zip(x, values, strict=True):
            text = "never" if value is None else f"{value:.2f}"
            gaps.text(xi, value or 0.0, text, ha="center", va="bottom", fontsize=7)
    gaps.axhline(targets["back_s"], color="#c0392b", linestyle="--", label="target 5 s")
    gaps.set_xticks(positions, [f"run {i + 1}" for i in range(len(results))])
    gaps.set_ylabel("seconds after SIGKILL")
    gaps.legend(fontsize=7)
    gaps.grid(alpha=0.3, axis="y")
    bands = ["<= 5 ms", "5-20 ms", "> 20 ms"]
    series: list[tuple[int, str, dict[str, float], str | None]] = []
    for index, result in enumerate(results):
        calm = result["calm"]
        series.append((index, "after the kill", calm["lateness"], None))
        if "before_kill" in calm:
            series.append((index, "before", calm["before_kill"]["lateness"], "//"))
    width = 0.8 / max(1, len(series))
    for position, (index, when, late, hatch) in enumerate(series):
        counts = [late["ticks"] - late["over_5ms"], late["over_5ms"] - late["over_20ms"],
                  late["over_20ms"]]  # fmt: skip
        x = np.arange(len(bands)) + (position - (len(series) - 1) / 2) * width
        ticks.bar(x, counts, width, color=COLOURS[index % len(COLOURS)], hatch=hatch,
                  edgecolor="white" if hatch else None,
                  label=f"run {index + 1}, {when}")  # fmt: skip
        for xi, count in zip(x, counts, strict=True):
            ticks.text(xi, count, f"{count:.0f}", ha="center", va="bottom", fontsize=6)
    ticks.set_yscale("symlog")
    ticks.set_xticks(np.arange(len(bands)), bands)
    ticks.set_xlabel("how late the other worker's room's ticks ran, after and before the kill")
    ticks.set_ylabel("ticks (other worker's room)")
    ticks.legend(fontsize=7)
    ticks.grid(alpha=0.3, axis="y")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def janus_modes_plot(report: dict[str, Any], title: str, path: Path) -> None:
    """Server CPU (whole process tree) and latency p99 per room size: Janus AudioBridge and
    each mediacore mode measured in the same run."""
    rows = report["rows"]
    servers = list(report["servers"])
    sizes = sorted({row["legs"] for row in rows})
    figure, (cpu, latency) = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / max(1, len(servers))
    for index, server in enumerate(servers):
        x = np.arange(len(sizes)) + (index - (len(servers) - 1) / 2) * width
        for axis, key in ((cpu, "cpu_cores"), (latency, "latency_p99_ms")):
            values = [
                next((r[key] or 0.0 for r in rows if r["server"] == server and r["legs"] == n),
                     0.0)
                for n in sizes
            ]  # fmt: skip
            axis.bar(x, values, width, color=COLOURS[index % len(COLOURS)], label=server)
            for xi, value in zip(x, values, strict=True):
                axis.text(xi, value, f"{value:.3g}", ha="center", va="bottom", fontsize=7)
    for axis, label in ((cpu, "server CPU, whole process tree (cores)"),
                        (latency, "latency p99 (ms)")):  # fmt: skip
        axis.set_xticks(np.arange(len(sizes)), [f"{n} legs" for n in sizes])
        axis.set_ylabel(label)
        axis.legend(fontsize=7)
        axis.grid(alpha=0.3, axis="y")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
