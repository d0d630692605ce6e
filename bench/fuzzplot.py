"""The `bench fuzz` figure: edges covered against inputs for every parser, crashes and hangs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def fuzz_plot(report: dict[str, Any], title: str, path: Path) -> None:
    """Left: coverage curves (edges, log inputs); right: crashes and hangs per parser."""
    parsers = report["parsers"]
    figure, (curves, failures) = plt.subplots(1, 2, figsize=(13, 4.8), width_ratios=[2, 1])
    colours = plt.get_cmap("tab20")(np.linspace(0, 1, max(1, len(parsers))))
    for colour, (name, entry) in zip(colours, parsers.items(), strict=True):
        curve = entry["coverage_curve"]
        if not curve:
            continue
        inputs = [point[0] for point in curve] + [entry["inputs"]]
        edges = [point[1] for point in curve] + [curve[-1][1]]
        curves.step(inputs, edges, where="post", color=colour, label=name)
        for crash in entry["distinct_crashes"]:
            at = crash["at_input"]
            curves.plot(at, np.interp(at, inputs, edges), "x", color="#c0392b")
    curves.set_xscale("log")
    curves.set_xlabel("inputs (log)")
    curves.set_ylabel("edges covered (libFuzzer cov)")
    curves.legend(fontsize=7, ncol=2)
    names = list(parsers)
    positions = np.arange(len(names))
    crashes = [parsers[name]["crashes"] for name in names]
    hangs = [parsers[name]["hangs"] for name in names]
    failures.barh(positions - 0.2, crashes, 0.4, color="#c0392b", label="crashes")
    failures.barh(positions + 0.2, hangs, 0.4, color="#e67e22", label="hangs (> 1 s)")
    failures.set_yticks(positions, [f"{n} ({parsers[n]['inputs']:,})" for n in names])
    failures.invert_yaxis()
    failures.set_xlabel("count")
    failures.set_xlim(0, max(1, *crashes, *hangs) * 1.2)
    failures.legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
