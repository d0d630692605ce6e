"""The PNG of `bench wall`: per scenario, latency over time, its CDF, and the output frames'
lateness against their ticks with the server's CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def wall_plot(report: dict[str, Any], title: str, path: Path) -> None:
    scenarios = report["scenarios"]
    target_p99 = report["targets"]["latency_p99_ms"]
    rows = max(1, len(scenarios))
    figure, axes = plt.subplots(rows, 3, figsize=(16, 4.2 * rows), squeeze=False)
    for row, result in zip(axes, scenarios, strict=False):
        series, cdf, frames = row
        points = result["series"]["latency"]
        lat = result["latency"]["latency_ms"]
        name = result["scenario"]
        if points:
            t, ms, source = (np.array(column) for column in zip(*points, strict=True))
            series.scatter(t, ms, c=source, cmap="tab20", s=3)
        shape = result["latency"]["cdf_ms"]
        if shape:
            cdf.plot([v for _, v in shape], [q / 100 for q, _ in shape], color="#3b6ea5")
        for axis in (series,):
            axis.axhline(
                target_p99,
                color="#c0392b",
                linestyle="--",
                linewidth=1,
                label=f"target p99 {target_p99:.0f} ms",
            )
        series.set_xlabel("seconds")
        series.set_ylabel("source -> output latency (ms)")
        series.set_title(
            f"{name}: latency p50 {lat['p50']} p95 {lat['p95']} p99 {lat['p99']} ms", fontsize=9
        )
        series.legend(fontsize=7, loc="upper left")
        series.grid(alpha=0.3)
        cdf.axvline(target_p99, color="#c0392b", linestyle="--", linewidth=1)
        cdf.axhline(0.99, color="#999999", linewidth=0.5)
        cdf.set_xlabel("source -> output latency (ms)")
        cdf.set_ylabel("fraction of source frames")
        shown = result["latency"]["shown_percent"]
        cdf.set_title(
            f"CDF; {result['latency']['unreadable']} unreadable stamps, "
            f"{shown} % of source frames shown",
            fontsize=9,
        )
        cdf.grid(alpha=0.3)
        lateness = result["series"]["lateness"]
        if lateness:
            t_late, late_ms = zip(*lateness, strict=True)
            frames.plot(
                t_late, late_ms, ".", markersize=2, color="#e67e22", label="output frame lateness"
            )
        period = 1000 / result["fps"]
        frames.axhline(
            period,
            color="#c0392b",
            linestyle="--",
            linewidth=1,
            label=f"one frame period ({period:.0f} ms)",
        )
        frames.set_xlabel("seconds")
        frames.set_ylabel("arrival against its tick (ms)", color="#e67e22")
        output = result["output"]
        frames.set_title(
            f"{output['fps']} fps out, {output['on_time_percent']} % on time, "
            f"{output['missing_frames']} missing",
            fontsize=9,
        )
        frames.legend(fontsize=7, loc="upper left")
        frames.grid(alpha=0.3)
        cpu_axis(frames, result["series"]["server"])
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def cpu_axis(axis: Any, series: list[dict[str, Any]]) -> None:
    """The server's cores (and other processes', where sampled) while measuring, on a second
    y axis of `axis`, from a `WallSampler`'s samples."""
    cpu = axis.twinx()
    samples = [s for s in series if s["phase"] == "measuring"]
    if samples:
        t0 = samples[0]["t"]
        times = [s["t"] - t0 for s in samples]
        cpu.plot(times, [s["cores"] for s in samples], color="#3b6ea5", label="server")
        if "other_cores" in samples[0]:
            others = [s["other_cores"] for s in samples]
            cpu.plot(times, others, color="#7f8c8d", linestyle=":", label="other processes")
        cpu.legend(fontsize=7, loc="upper right")
    cpu.set_ylabel("CPU (cores)", color="#3b6ea5")
    cpu.set_ylim(bottom=0)
