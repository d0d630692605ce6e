"""The PNG of `bench dispatch`: server CPU without and with the console monitoring, and the
latency of every talker's bursts at the console (matplotlib without a display)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def dispatch_plot(
    report: dict[str, Any], latencies_ms: list[float], title: str, path: Path
) -> None:
    figure, (cpu, latency) = plt.subplots(1, 2, figsize=(12, 4.5))
    phases = report["phases"]
    names = list(phases)
    cores = [phases[name]["cpu_cores"] or 0.0 for name in names]
    cpu.bar(names, cores, color=["#3b6ea5", "#e67e22"])
    for x, y in enumerate(cores):
        cpu.text(x, y, f"{y:.3f}", ha="center", va="bottom", fontsize=8)
    cpu.set_ylabel("server CPU, cores (whole process tree)")
    cpu.set_title(f"monitoring adds {report['extra_cpu_cores']} cores", fontsize=9)
    cpu.grid(alpha=0.3, axis="y")
    if latencies_ms:
        latency.hist(latencies_ms, bins=40, color="#27ae60")
    target = report["targets"]["console_latency_p99_ms"]
    latency.axvline(target, color="#c0392b", linestyle="--", label=f"p99 target {target:g} ms")
    p99 = report["console_latency_ms"].get("p99_ms")
    if p99 is not None:
        latency.axvline(p99, color="#333333", linestyle=":", label=f"p99 {p99:g} ms")
    latency.set_xlabel("talker onset to console arrival, ms")
    latency.set_ylabel("bursts")
    latency.legend(fontsize=8)
    latency.grid(alpha=0.3)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
