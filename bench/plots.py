"""PNG plots for the benchmark reports (matplotlib without a display)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def latency_plot(
    latencies_ms: list[float], title: str, targets: dict[str, float], path: Path
) -> None:
    figure, (histogram, series) = plt.subplots(1, 2, figsize=(11, 4))
    histogram.hist(latencies_ms, bins=40, color="#3b6ea5")
    for name, value in targets.items():
        histogram.axvline(value, color="#c0392b", linestyle="--", label=f"target {name} {value} ms")
    for name, q in (("p50", 50), ("p99", 99)):
        histogram.axvline(
            float(np.percentile(latencies_ms, q)),
            color="#27ae60",
            label=f"measured {name} {np.percentile(latencies_ms, q):.1f} ms",
        )
    histogram.set_xlabel("server-added latency (ms)")
    histogram.set_ylabel("tone onsets")
    histogram.legend(fontsize=8)
    series.plot(latencies_ms, ".", markersize=3, color="#3b6ea5")
    series.set_xlabel("onset number")
    series.set_ylabel("latency (ms)")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def capacity_plot(rows: list[dict[str, Any]], title: str, path: Path) -> None:
    legs = [row["legs"] for row in rows]
    figure, axes = plt.subplots(2, 2, figsize=(11, 7))
    panels = [
        (axes[0][0], "cpu_cores", "server CPU (cores)", 1.0),
        (axes[0][1], "rss_mb", "server RSS (MB)", 400.0),
        (axes[1][0], None, "latency (ms)", 60.0),
        (axes[1][1], "encodes_per_second", "encodes per second", None),
    ]
    for axis, key, label, target in panels:
        if key is None:
            axis.plot(legs, [row.get("latency_p50_ms") for row in rows], "o-", label="p50")
            axis.plot(legs, [row.get("latency_p99_ms") for row in rows], "s-", label="p99")
            axis.legend(fontsize=8)
        else:
            axis.plot(legs, [row.get(key) for row in rows], "o-")
        if target is not None:
            axis.axhline(target, color="#c0392b", linestyle="--", linewidth=1)
        axis.set_xlabel("legs in the room")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def sip_plot(report: dict[str, Any], title: str, path: Path) -> None:
    """Per phase: set-up latency p50/p99 against the target, and CPU and calls over time."""
    phases = report["phases"]
    figure, (latency, load) = plt.subplots(1, 2, figsize=(12, 4))
    names = list(phases)
    positions = np.arange(len(names))
    for offset, key, colour in (
        (-0.2, "setup_ms_p50", "#3b6ea5"),
        (0.2, "setup_ms_p99", "#e67e22"),
    ):
        values = [phases[name][key] or 0.0 for name in names]
        latency.bar(positions + offset, values, 0.4, color=colour, label=key.rsplit("_", 1)[1])
    latency.axhline(50, color="#c0392b", linestyle="--", label="target p99 50 ms")
    latency.set_xticks(positions, names)
    latency.set_ylabel("set-up to 200 (ms)")
    latency.legend(fontsize=8)
    offset = 0.0
    for name in names:
        samples = phases[name]["samples"]
        times = [offset + s["t"] for s in samples]
        load.plot(times, [s["cores"] for s in samples], color="#3b6ea5")
        load.axvline(offset, color="#999999", linewidth=0.5)
        load.text(offset, 0.02, name, fontsize=7, rotation=90, va="bottom")
        offset = times[-1] if times else offset
    load.set_xlabel("seconds")
    load.set_ylabel("server CPU (cores)", color="#3b6ea5")
    calls = load.twinx()
    offset = 0.0
    for name in names:
        samples = phases[name]["samples"]
        times = [offset + s["t"] for s in samples]
        calls.plot(times, [s["participants"] for s in samples], color="#27ae60")
        offset = times[-1] if times else offset
    calls.set_ylabel("calls in the room", color="#27ae60")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def radio_plot(report: dict[str, Any], title: str, path: Path) -> None:
    """Key-up latency (histogram with its CDF, and against the send phase in the mixer tick)
    and the API floor request round trips (CDF), each with its target."""
    keyup, grant = report["keyup"], report["grant"]
    figure, (histogram, phases, grants) = plt.subplots(1, 3, figsize=(15, 4))
    latencies = keyup["latencies_ms"]
    if latencies:
        histogram.hist(latencies, bins=40, color="#3b6ea5")
        cdf = histogram.twinx()
        cdf.plot(np.sort(latencies), np.linspace(0, 1, len(latencies)), color="#27ae60")
        cdf.set_ylim(0, 1.02)
        cdf.set_ylabel("fraction of key-ups", color="#27ae60")
        for name in ("p50", "p99"):
            histogram.axvline(
                keyup[f"{name}_ms"],
                color="#27ae60",
                linestyle=":",
                label=f"measured {name} {keyup[f'{name}_ms']:.1f} ms",
            )
    target = keyup["target_p99_ms"]
    histogram.axvline(target, color="#c0392b", linestyle="--", label=f"target p99 {target:.0f} ms")
    histogram.set_xlabel("SQU=1 sent at A to PTT audio at B (ms)")
    histogram.set_ylabel("key-ups")
    histogram.set_title(f"radio key-up, {keyup['samples']} samples, {keyup['missed']} missed")
    histogram.legend(fontsize=8, loc="upper left")
    if keyup.get("send_phase_ms"):
        phases.plot(keyup["send_phase_ms"], latencies, ".", color="#3b6ea5")
    phases.axhline(target, color="#c0392b", linestyle="--", linewidth=1)
    phases.set_xlabel("send phase in the 20 ms tick (0: a tick's audio reaches B)")
    phases.set_ylabel("key-up latency (ms)")
    phases.set_title("key-up latency against the mixer tick")
    phases.grid(alpha=0.3)
    for key, label, colour in (
        ("latencies_ms", "request (granted)", "#3b6ea5"),
        ("release_latencies_ms", "release", "#e67e22"),
    ):
        values = grant[key]
        if values:
            grants.plot(np.sort(values), np.linspace(0, 1, len(values)), color=colour, label=label)
    target = grant["target_p99_ms"]
    grants.axvline(target, color="#c0392b", linestyle="--", label=f"target p99 {target:.0f} ms")
    grants.axhline(0.99, color="#999999", linewidth=0.5)
    grants.set_xscale("log")
    grants.set_xlabel("POST /rooms/{room}/floor round trip (ms)")
    grants.set_ylabel("fraction of requests")
    grants.set_title(f"API floor, {grant['samples']} requests, {grant['not_granted']} not granted")
    grants.legend(fontsize=8, loc="lower right")
    grants.grid(alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def record_plot(report: dict[str, Any], title: str, path: Path) -> None:
    """Server CPU over time through the phases (baseline, recording, stopping, verify), and
    the extra CPU of recording as a bar against its target."""
    colours = {"baseline": "#3b6ea5", "recording": "#e67e22", "stopping": "#8e44ad",
               "verify": "#27ae60"}  # fmt: skip
    figure, (series, bar) = plt.subplots(
        1, 2, figsize=(13, 4), gridspec_kw={"width_ratios": [3, 1]}
    )
    samples = report.get("samples") or []
    times = [s["t"] for s in samples]
    series.plot(times, [s["cores"] for s in samples], color="#999999", linewidth=0.8)
    for phase, colour in colours.items():
        inside = [s for s in samples if s["phase"] == phase]
        if inside:
            series.plot([s["t"] for s in inside], [s["cores"] for s in inside], ".-",
                        color=colour, label=phase)  # fmt: skip
    base = report["baseline"]["cores"]
    series.axhline(base, color="#3b6ea5", linestyle=":", linewidth=1, label="baseline mean")
    target = report["targets"]["extra_cpu_percent"]
    series.axhline(base + target / 100, color="#c0392b", linestyle="--", linewidth=1,
                   label=f"baseline + {target:.0f} % of a core")  # fmt: skip
    series.set_xlabel("seconds")
    series.set_ylabel("server CPU (cores)")
    series.legend(fontsize=8, loc="upper left")
    series.grid(alpha=0.3)
    stop = report["stop"]
    series.set_title(
        f"stop (twins) {stop['call_s']:.1f} s, verify {report['verify']['seconds']:.1f} s",
        fontsize=9,
    )
    extra = report["extra_cpu_percent"]
    bar.bar(["extra CPU\nwhile recording"], [extra],
            color="#27ae60" if extra <= target else "#c0392b")  # fmt: skip
    bar.axhline(target, color="#c0392b", linestyle="--", label=f"target {target:.0f} %")
    bar.axhline(0, color="#999999", linewidth=0.5)
    bar.set_ylim(min(0.0, extra * 1.2), max(target, extra) * 1.3)
    bar.set_ylabel("% of one core")
    bar.legend(fontsize=8)
    frames, throughput = report["frames"], report["throughput"]
    rate = throughput["audio_bytes_per_s"] or 0
    bar.set_title(
        f"{frames['dropped_frames']} dropped frames, {rate / 1e6:.2f} MB/s of audio", fontsize=9
    )
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def webrtc_plot(report: dict[str, Any], title: str, path: Path) -> None:
    """Against the number of peers: latency p50/p99 (arrival at the probe, and delivered by
    aiortc) with the target and the loopback baseline, CPU (server, clients, the machine), and
    the server's RSS."""
    runs = report["runs"]
    peers = [row["peers"] for row in runs]
    figure, (latency, cpu, memory) = plt.subplots(1, 3, figsize=(15, 4.5))
    for stage, style in (("arrival", "-"), ("delivered", ":")):
        for name, marker in (("p50", "o"), ("p99", "s")):
            values = [row[stage][f"{name}_ms"] for row in runs]
            latency.plot(peers, values, marker + style, label=f"{stage} {name}")
    target = report["targets"]["latency_p99_ms"]
    latency.axhline(target, color="#c0392b", linestyle="--", label=f"target p99 {target:.0f} ms")
    baseline = report.get("baseline")
    if baseline and baseline["arrival"]["p99_ms"] is not None:
        for stage, style in (("arrival", "-"), ("delivered", ":")):
            value = baseline[stage]["p99_ms"]
            latency.axhline(value, color="#999999", linewidth=1, linestyle=style,
                            label=f"no server, {stage} p99 {value:.0f} ms")  # fmt: skip
    latency.set_xlabel("WebRTC peers in the room")
    latency.set_ylabel("tone onset, talker -> probe (ms)")
    latency.legend(fontsize=7)
    latency.grid(alpha=0.3)
    for key, label in (("server_cores", "server"), ("clients_cores", "aiortc clients"),
                       ("machine_busy_cores", "machine busy (every process)"),
                       ("machine_steal_cores", "steal")):  # fmt: skip
        cpu.plot(peers, [row[key] for row in runs], "o-", label=label)
    cpu.axhline(report["machine"]["cpus"] or 0, color="#c0392b", linestyle="--", linewidth=1,
                label="CPUs")  # fmt: skip
    cpu.set_xlabel("WebRTC peers in the room")
    cpu.set_ylabel("CPU (cores)")
    cpu.legend(fontsize=7)
    cpu.grid(alpha=0.3)
    memory.plot(peers, [row["server_rss_mb_max"] for row in runs], "o-", color="#3b6ea5",
                label="server RSS")  # fmt: skip
    memory.set_xlabel("WebRTC peers in the room")
    memory.set_ylabel("server RSS, peak (MB)", color="#3b6ea5")
    memory.grid(alpha=0.3)
    ticks = memory.twinx()
    ticks.plot(peers, [row["late_ticks"] for row in runs], "s--", color="#e67e22",
               label="late ticks")  # fmt: skip
    ticks.set_ylabel("late ticks (> 5 ms) while bursting", color="#e67e22")
    ticks.set_ylim(bottom=0)
    handles = memory.get_legend_handles_labels()[0] + ticks.get_legend_handles_labels()[0]
    memory.legend(handles=handles, fontsize=7, loc="lower right")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def attack_plot(report: dict[str, Any], title: str, path: Path) -> None:
    """Left: the phones' calls and registrations, ok and failed; right: over time, the server's
    CPU and the late ticks per sample, the attack shaded."""
    phones = report["phones"]
    figure, (outcome, timeline) = plt.subplots(1, 2, figsize=(12, 4), width_ratios=[1, 2])
    names = list(phones)
    positions = np.arange(len(names))
    outcome.bar(
        positions - 0.2,
        [phones[n]["successful"] for n in names],
        0.4,
        color="#27ae60",
        label="succeeded",
    )
    outcome.bar(
        positions + 0.2, [phones[n]["failed"] for n in names], 0.4, color="#c0392b", label="failed"
    )
    outcome.set_xticks(positions, names, fontsize=8)
    outcome.set_ylabel("legitimate phones' calls / registrations")
    outcome.legend(fontsize=8)
    samples = [s for s in report["samples"] if "ticks" in s]
    times = [s["t"] for s in samples]
    timeline.plot(times, [s["cores"] for s in samples], color="#3b6ea5", label="server CPU")
    attack = [s["t"] for s in samples if s["phase"] == "attack"]
    if attack:
        timeline.axvspan(attack[0], attack[-1], color="#f5b7b1", alpha=0.4, label="flood")
    timeline.set_xlabel("seconds")
    timeline.set_ylabel("server CPU (cores)", color="#3b6ea5")
    timeline.legend(fontsize=8, loc="upper left")
    late = timeline.twinx()
    late_per_sample = [0] + [
        b["late_ticks"] - a["late_ticks"] for a, b in zip(samples, samples[1:], strict=False)
    ]
    late.plot(times, late_per_sample, color="#c0392b", drawstyle="steps-post")
    late.set_ylabel("late ticks per 0.5 s", color="#c0392b")
    clock = report["clock"]["attack"]
    figure.suptitle(
        f"{title}\nlate ticks during the flood: {clock['late_ticks']} of {clock['ticks']} "
        f"(target <= {report['clock']['target_late_ratio']:.1%})",
        fontsize=10,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
