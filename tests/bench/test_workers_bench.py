"""The media-workers benchmarks' pure parts: a server's CPU summed over its process tree, tick
lateness from /metrics, lost onsets and mix-minus checks, and the side-by-side report."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.failover import summary as failover_summary
from bench.figures import (
    cpu_split,
    janus_comparison,
    lateness_between,
    lateness_buckets,
    mix_minus_summary,
)
from bench.loadgen import TALKER_FREQUENCIES
from bench.onsets import levels_by_packet, lost_onsets, self_hearing
from bench.rtppeer import RtpPeer
from bench.scenario import Scenario, _legs, roles
from bench.serverproc import (
    ProcessStat,
    children_by_parent,
    cpu_seconds,
    descendants,
    own_cpu_seconds,
    process_tree,
    tree_cpu_seconds,
)
from bench.workersbench import side_by_side, verdicts
from bench.workersplot import failover_plot, workers_plot
from mediacore.audio import tone
from mediacore.codecs import PCMU

TICK = os.sysconf("SC_CLK_TCK")


def stat_line(pid: int, name: str, ppid: int, ticks: tuple[int, int, int, int]) -> str:
    utime, stime, cutime, cstime = ticks
    rest = " ".join(["0"] * 30)
    return (
        f"{pid} ({name}) S {ppid} 1 1 0 -1 4194560 0 0 0 0 {utime} {stime} {cutime} {cstime} {rest}"
    )


def test_a_stat_line_is_read_past_a_name_with_spaces_and_parentheses() -> None:
    line = stat_line(42, "python -m (worker) x", 7, (300, 100, 50, 25))
    stat = ProcessStat.parse(line, 100)
    assert stat == ProcessStat(ppid=7, own_seconds=4.0, reaped_seconds=0.75)


def test_the_tree_holds_every_descendant_once_parents_first() -> None:
    parents = {10: 1, 11: 10, 12: 10, 13: 11, 20: 1, 21: 20}
    children = children_by_parent(parents)
    assert descendants(10, lambda pid: children.get(pid, [])) == [10, 11, 12, 13]
    assert descendants(20, lambda pid: [21, 21, 20] if pid == 20 else []) == [20, 21]


def test_a_tree_counts_its_workers_and_the_children_it_reaped() -> None:
    control = ProcessStat(ppid=1, own_seconds=2.0, reaped_seconds=1.5)  # a dead worker's 1.5 s
    workers = [ProcessStat(ppid=10, own_seconds=3.0, reaped_seconds=0.0) for _ in range(2)]
    assert tree_cpu_seconds({10: control, 11: workers[0], 12: workers[1]}) == 9.5


def test_a_worker_killed_between_readings_counts_once() -> None:
    before = {
        10: ProcessStat(1, own_seconds=1.0, reaped_seconds=0.0),
        11: ProcessStat(10, own_seconds=4.0, reaped_seconds=0.0),  # killed, then reaped
        12: ProcessStat(10, own_seconds=4.0, reaped_seconds=0.0),
    }
    after = {
        10: ProcessStat(1, own_seconds=2.0, reaped_seconds=5.0),  # 11 ended having used 5 s
        12: ProcessStat(10, own_seconds=6.0, reaped_seconds=0.0),
        13: ProcessStat(10, own_seconds=0.5, reaped_seconds=0.0),  # its restart
    }
    split = cpu_split(before, after, root=10, elapsed=2.0)
    assert split["total"] == pytest.approx((1.0 + 1.0 + 2.0 + 0.5) / 2.0)
    assert split["control"] == 0.5
    assert split["workers"] == {"12": 1.0, "13": 0.25}
    assert split["exited"] == 0.5


def test_a_child_process_and_its_cpu_are_part_of_our_tree() -> None:
    # It spins for 0.3 s of its own CPU time (however busy the machine), then says so.
    spin = "import time\nwhile time.process_time() < 0.3: pass\nprint(flush=True)\ntime.sleep(5)"
    child = subprocess.Popen([sys.executable, "-c", spin], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"\n"
        assert child.pid in process_tree(os.getpid())
        assert cpu_seconds(os.getpid()) >= own_cpu_seconds(os.getpid()) + 0.2
    finally:
        child.kill()
        child.wait()


METRICS = """# HELP mediacore_tick_lateness_seconds how far past its deadline each mixer tick ran
mediacore_tick_lateness_seconds_bucket{room="calm",le="0.005"} %d.0
mediacore_tick_lateness_seconds_bucket{room="calm",le="0.01"} %d.0
mediacore_tick_lateness_seconds_bucket{room="calm",le="0.02"} %d.0
mediacore_tick_lateness_seconds_bucket{room="calm",le="0.05"} %d.0
mediacore_tick_lateness_seconds_bucket{room="calm",le="+Inf"} %d.0
mediacore_tick_lateness_seconds_count{room="calm"} %d.0
mediacore_tick_lateness_seconds_bucket{room="doomed",le="0.005"} 10.0
mediacore_tick_lateness_seconds_bucket{room="doomed",le="0.02"} 10.0
mediacore_tick_lateness_seconds_bucket{room="doomed",le="0.05"} 12.0
mediacore_tick_lateness_seconds_bucket{room="doomed",le="+Inf"} 12.0
"""


def test_late_ticks_come_from_the_lateness_histogram_between_two_scrapes() -> None:
    before = METRICS % (100, 100, 100, 100, 100, 100)
    after = METRICS % (1090, 1095, 1099, 1100, 1100, 1100)
    calm = lateness_between(lateness_buckets(before, "calm"), lateness_buckets(after, "calm"))
    assert calm == {
        "ticks": 1000,
        "over_5ms": 10,
        "over_20ms": 1,
        "over_50ms": 0,
        "late_percent": 1.0,
    }
    every = lateness_buckets(after)
    assert every["+Inf"] == 1112 and every["0.02"] == 1109
    assert lateness_buckets(after, prefix="doom") == {}  # whole names before the dash
    assert lateness_buckets(after.replace("doomed", "bench-1"), prefix="bench")["+Inf"] == 12


def test_an_onset_nobody_heard_within_the_limit_is_lost() -> None:
    sent = [1.0, 1.5, 2.0, 2.5, 3.0, 9.9]
    heard = [1.02, 1.53, 3.01]  # nothing within 0.4 s of 2.0 or 2.5
    assert lost_onsets(sent, heard, window=(0.9, 10.0)) == (5, 2)  # 9.9 is past the window


def test_a_talker_that_hears_only_the_others_has_an_exact_mix_minus() -> None:
    peer = RtpPeer(PCMU)
    others = tone(TALKER_FREQUENCIES[1], 1.0, 8000, -20.0) + tone(
        TALKER_FREQUENCIES[2], 1.0, 8000, -20.0
    )
    own = tone(TALKER_FREQUENCIES[0], 0.2, 8000, -20.0)
    clean = levels_by_packet(peer.packetize(others), PCMU, TALKER_FREQUENCIES)
    assert self_hearing(clean, 0)["own_tone_packets"] == 0
    assert self_hearing(clean, 0)["own_tone_max_dbfs"] < -45
    leaky = np.concatenate([others, own + others[: len(own)]])
    levels = levels_by_packet(peer.packetize(leaky), PCMU, TALKER_FREQUENCIES)
    assert self_hearing(levels, 0)["own_tone_packets"] == 10  # 200 ms of 20 ms packets
    assert mix_minus_summary([])["exact"] is False  # nothing checked is not exact


def test_spread_talkers_and_probes_sit_in_both_halves_of_a_big_room() -> None:
    placed = roles(500, 4, 8, spread=True)
    for kind in ("talker", "probe"):
        indices = [index for index, role in placed.items() if role[0] == kind]
        assert any(i < 250 for i in indices) and any(i >= 250 for i in indices), kind
    assert sorted(r for r in placed.values() if r[0] == "talker") == [
        ("talker", k) for k in range(4)
    ]
    assert roles(10, 2, 1, spread=False) == {0: ("talker", 0), 1: ("talker", 1), 2: ("probe", 0)}
    legs = _legs(Scenario(rooms=12, legs_per_room=10, talkers_per_room=2))
    checking = {leg["room"] for leg in legs if leg["self_check"]}
    assert len(checking) == 10  # the probe rooms' talkers check themselves


def run(mode: str, late: float, p99: float, idle: float, own: int = 0) -> dict[str, Any]:
    loaded = {
        "late_percent": late,
        "tick_lateness": {"over_20ms": 0},
        "latency_p50_ms": p99 / 2,
        "latency_p99_ms": p99,
        "onsets_lost": 0,
        "mix_minus": {"own_tone_packets": own, "talkers_checked": 4},
        "cpu_cores": 0.5,
        "rss_mb": 100.0,
        "loadgen_cores": 0.6,
        "machine_busy_cores": 1.4,
    }
    return {
        "mode": mode,
        "idle": {"cpu_percent": idle, "rss_mb": 90.0},
        "one_room": loaded,
        "many_rooms": loaded,
    }


def test_the_report_puts_modes_side_by_side_and_judges_the_worst_run() -> None:
    measured = [
        run("single-process", 2.0, 45.0, 1.0),
        run("2 workers", 0.05, 30.0, 1.5),
        run("single-process", 3.0, 50.0, 1.2),
        run("2 workers", 0.2, 35.0, 1.9, own=3),
    ]
    table = side_by_side(measured)
    row = next(r for r in table if r["phase"] == "one_room" and r["mode"] == "2 workers")
    assert row["late_percent"] == {"values": [0.05, 0.2], "min": 0.05, "max": 0.2}
    judged = {(v["phase"], v["mode"], v["figure"]): v["met"] for v in verdicts(table)}
    assert judged[("one_room", "2 workers", "latency_p99_ms")] is True
    assert judged[("one_room", "2 workers", "late_percent")] is False  # 0.2 in one run
    assert judged[("one_room", "2 workers", "own_tone_packets")] is False
    assert judged[("idle", "single-process", "cpu_percent")] is True


def test_the_janus_ratio_is_ours_over_theirs_per_size_and_mode() -> None:
    janus = [{"legs": 200, "cpu_cores": 0.4, "latency_p99_ms": 140.0}]
    modes = {"single-process": [{"legs": 200, "cpu_cores": 0.3}], "2 workers": [{"legs": 200}]}
    ratios = janus_comparison(janus, modes)["ratios"]
    assert ratios[0] == {"legs": 200, "mode": "single-process", "mediacore_cores": 0.3,
                         "janus_cores": 0.4, "ratio": 0.75}  # fmt: skip
    assert ratios[1]["ratio"] is None  # not measured is not a ratio


def failover_run(back: float | None, heard: float | None, over_20: int) -> dict[str, Any]:
    lateness = {"ticks": 400, "over_5ms": 3, "over_20ms": over_20, "over_50ms": 0}
    return {
        "back_s": back,
        "joined_s": back,
        "heard_s": heard,
        "calm": {
            "lateness": lateness,
            "before_kill": {"lateness": lateness},
            "max_lateness_ms_after": 9.0,
        },
    }


def test_failover_passes_only_when_every_run_is_back_in_time_and_calm() -> None:
    assert failover_summary([failover_run(1.2, 1.5, 0), failover_run(1.0, 1.4, 0)])["passed"]
    assert not failover_summary([failover_run(1.2, 1.5, 0), failover_run(None, None, 0)])["passed"]
    late = failover_summary([failover_run(1.2, 1.5, 2)])
    assert late["met"] == {"calm_ticks_over_20ms": False, "back_s": True, "heard_s": True}


def test_the_plots_are_written(tmp_path: Path) -> None:
    measured = [run("single-process", 2.0, 45.0, 1.0), run("2 workers", 0.05, 30.0, 1.5)]
    table = side_by_side(measured)
    targets = {"late_percent": 0.1, "latency_p99_ms": 40.0, "idle_cpu_percent": 2.0}
    workers_plot({"table": table, "targets": targets}, "modes", tmp_path / "workers.png")
    assert (tmp_path / "workers.png").stat().st_size > 10_000
    runs = [failover_run(1.2, 1.5, 0), failover_run(1.0, 1.4, 1)]
    report = {"runs": runs, "targets": {"back_s": 5.0}}
    failover_plot(report, "failover", tmp_path / "failover.png")
    assert (tmp_path / "failover.png").stat().st_size > 10_000
