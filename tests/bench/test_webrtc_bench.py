"""`bench webrtc` end to end, tiny: two aiortc peers in a room (a talker and a probe) and the
loopback baseline, every burst onset timed, written as JSON and a PNG."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli import main
from bench.webrtcpeers import BURST_PERIOD


@pytest.mark.slow
def test_a_tiny_webrtc_run_times_the_bursts_through_the_server_and_writes_json_and_a_plot(
    tmp_path: Path,
) -> None:
    arguments = ["webrtc", "--sizes", "2", "--seconds", "3", "--baseline-seconds", "3"]
    code = main(["--out", str(tmp_path), *arguments])
    report = json.loads((tmp_path / "webrtc.json").read_text())
    assert code == 1 and report["passed"] is False  # the target is judged at 50 peers only
    baseline = report["baseline"]
    # Bursts start 1 s in and come every 0.5 s; 2 s of them are timed.
    assert baseline["samples"] >= 3 and baseline["missed_onsets"] == 0
    # aiortc straight to aiortc: the packet arrives within milliseconds; aiortc's receiver then
    # holds 4 packets (80 ms) before it decodes.
    assert baseline["arrival"]["p99_ms"] < 20
    assert 70 < baseline["delivered"]["p50_ms"] < 120
    (row,) = report["runs"]
    assert (row["peers"], row["talkers"], row["probes"], row["processes"]) == (2, 1, 1, 1)
    assert row["connected"] == row["participants"] == 2
    assert row["latency_samples"] >= 3 and row["missed_onsets"] == 0
    assert len(row["latencies_ms"]) == row["latency_samples"]
    # Through the server: later than without it, and within one burst period.
    arrival = row["arrival"]
    assert baseline["arrival"]["p50_ms"] < arrival["p50_ms"] <= arrival["p99_ms"]
    assert arrival["max_ms"] < BURST_PERIOD * 1000
    assert row["delivered"]["p50_ms"] > arrival["p50_ms"]
    # Every peer hears one 20 ms packet per tick while the bursts run.
    assert row["packets_received_per_peer_per_s"] == pytest.approx(50, abs=3)
    assert row["ticks"] == pytest.approx(150, abs=10)
    # The probe shares one encode of the mix; the talker gets its own mix-minus.
    assert 1 <= row["encodes_per_tick"] <= 2.05
    assert row["server_cores"] > 0 and row["clients_cores"] > 0 and row["server_rss_mb_max"] > 0
    assert row["server_exit"] == 0
    assert (tmp_path / "webrtc.png").stat().st_size > 10_000
