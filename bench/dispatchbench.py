"""`bench dispatch`: a console monitoring 10 rooms of 20 legs each (the dispatch issue).

One fresh server (media workers by default, as `mediacore serve` runs), the same rooms and load
twice: every leg a separate-process bench.loadgen RTP leg sending 50 packets/s (tone bursts for
each room's talkers, silence for the others), plus one console leg in a room of its own.

1. baseline: the console monitors nothing;
2. monitoring: the console monitors every room (`PATCH .../participants/{id}` with `monitor`).

Measured in each: the CPU of the whole server process tree, late ticks, and the onset-to-arrival
latency of every talker's tone bursts at the probes in its own room; in the second, also at the
console (each talker of the run has a tone of its own, so the console tells them apart). The
figures: the extra CPU of monitoring (second minus first), and the console's latency p99
(target at most 60 ms) with no burst lost."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench import scenario as runs
from bench.figures import percentiles_ms

Progress = Callable[[str], None]

TARGETS = {"console_latency_p99_ms": 60.0, "console_onsets_lost": 0}


@dataclass
class DispatchBenchmark:
    rooms: int = 10
    legs: int = 20
    talkers: int = 2
    seconds: float = 20.0
    workers: int = 2
    loadgens: int = 2


def run(benchmark: DispatchBenchmark, progress: Progress) -> dict[str, Any]:
    phases: dict[str, dict[str, Any]] = {}
    console: dict[str, Any] = {}
    console_ms: list[float] = []
    with runs.started_server(workers=benchmark.workers, progress=progress) as target:
        for phase, monitor in (("baseline", False), ("monitoring", True)):
            progress(
                f"bench dispatch, {phase}: {benchmark.rooms} rooms of {benchmark.legs} legs and "
                f"a console {'monitoring all' if monitor else 'monitoring none'} of them"
            )
            scenario = runs.Scenario(
                rooms=benchmark.rooms,
                legs_per_room=benchmark.legs,
                talkers_per_room=benchmark.talkers,
                probe_rooms=benchmark.rooms,
                duration=benchmark.seconds,
                loadgens=benchmark.loadgens,
                room_prefix=f"dispatch-{phase}",
                console=True,
                monitor=monitor,
            )
            result = runs.run(scenario, target, progress)
            phases[phase] = result.summary()
            if monitor:
                latencies = result.latencies_by_path.get("to the console", [])
                console = percentiles_ms(latencies)
                console_ms = [round(x * 1000, 3) for x in latencies]
    base, loaded = phases["baseline"], phases["monitoring"]
    extra = None
    if base["cpu_cores"] is not None and loaded["cpu_cores"] is not None:
        extra = round(loaded["cpu_cores"] - base["cpu_cores"], 3)
    lost = loaded["console_onsets"]["lost"]
    p99 = console.get("p99_ms")
    verdict = {
        "console_latency_p99_ms": p99,
        "console_onsets_lost": lost,
        "console_onsets_expected": loaded["console_onsets"]["expected"],
        "met": p99 is not None
        and p99 <= TARGETS["console_latency_p99_ms"]
        and lost <= TARGETS["console_onsets_lost"],
    }
    return {
        "targets": TARGETS,
        "workers": benchmark.workers,
        "phases": phases,
        "console_latency_ms": console,
        "extra_cpu_cores": extra,
        "verdict": verdict,
        "console_latencies_ms": console_ms,
    }
