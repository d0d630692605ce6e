"""The PNG of `bench conference`: glass-to-glass over time, frames on time per receiver,
encodes per second against participants and viewers, layout switch times, server CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bench.wallplot import cpu_axis  # noqa: E402


def conference_plot(report: dict[str, Any], title: str, path: Path) -> None:
    figure, axes = plt.subplots(2, 2, figsize=(14, 8.5))
    (glass, frames), (encodes, switch) = axes
    targets = report["targets"]

    points = report["series"]["glass_to_glass"]
    for name in sorted({p[2] for p in points}):
        mine = [(t, ms) for t, ms, who in points if who == name]
        glass.plot(*zip(*mine, strict=True), ".", markersize=2, label=name)
    glass.axhline(targets["glass_to_glass_p99_ms"], color="#c0392b", linestyle="--", linewidth=1)
    g = report["glass_to_glass_ms"]
    glass.set_title(
        f"glass-to-glass p50 {g['p50']} p99 {g['p99']} ms (target p99 "
        f"{targets['glass_to_glass_p99_ms']:.0f})",
        fontsize=9,
    )
    glass.set_xlabel("seconds")
    glass.set_ylabel("camera frame -> composed picture (ms)")
    glass.grid(alpha=0.3)
    if points:
        glass.legend(fontsize=7, loc="upper left")
    cpu_axis(glass, report["series"]["server"])

    receivers = report["receivers"]
    names = [r["name"] for r in receivers]
    shares = [r["frames"]["on_time_percent"] for r in receivers]
    colours = ["#2e86c1" if r["probe"] else "#85c1e9" for r in receivers]
    frames.bar(range(len(names)), shares, color=colours)
    frames.set_xticks(range(len(names)), names, rotation=60, fontsize=7)
    frames.axhline(targets["frames_on_time_percent"], color="#c0392b", linestyle="--", linewidth=1)
    frames.set_ylim(0, 105)
    frames.set_ylabel("frames on time (%)")
    frames.set_title(
        f"{report['frames_on_time_percent']} % on time over the participants (dark: probes); "
        f"late audio ticks {report['late_audio_ticks_percent']} %",
        fontsize=9,
    )
    frames.grid(alpha=0.3, axis="y")

    steps = report["steps"]
    cameras = [r for r in steps if not r["viewers"]]
    viewers = [r for r in steps if r["viewers"]]
    encodes.plot([r["participants"] for r in cameras], [r["encodes_per_second"] for r in cameras],
                 "o-", label="participants (no pure viewers)")  # fmt: skip
    if viewers:
        last = viewers[0]["participants"]
        encodes.plot([last + r["viewers"] for r in viewers],
                     [r["encodes_per_second"] for r in viewers], "s--",
                     label=f"{last} participants + pure viewers")  # fmt: skip
    fps = report["picture"]["fps"]
    everyone = [*cameras, *viewers]
    encodes.plot([r["participants"] + r["viewers"] for r in everyone],
                 [r["variants"] * fps for r in everyone], ":", color="#7f8c8d",
                 label="variants x fps (every variant at the full rate)")  # fmt: skip
    encodes.set_xlabel("receivers (participants, then + pure viewers)")
    encodes.set_ylabel("encodes per second")
    encodes.set_title("encodes per second against receivers", fontsize=9)
    encodes.legend(fontsize=7)
    encodes.grid(alpha=0.3)

    rows = report["switches"]["per_probe"]
    asked = report["switches"]["asked"]
    width = 0.8 / max(1, len(rows))
    for i, row in enumerate(rows):
        values = [v if v is not None else 0 for v in row["switch_ms"]]
        xs = [k + i * width for k in range(len(values))]
        switch.bar(xs, values, width=width, label=row["receiver"])
    switch.axhline(targets["layout_switch_ms"], color="#c0392b", linestyle="--", linewidth=1)
    switch.set_xticks(range(len(asked)), [f"-> {kind}" for kind in asked], fontsize=7)
    switch.set_ylabel("PATCH -> first picture in the new layout (ms)")
    switch.set_title(f"layout switches, max {report['switches']['max_ms']} ms", fontsize=9)
    if rows:
        switch.legend(fontsize=7)
    switch.grid(alpha=0.3, axis="y")

    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
