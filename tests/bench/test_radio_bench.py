"""`bench radio` end to end, tiny: key-ups between two ED-137 gateways and API floor grants in
a room loaded by a load-generator process, written as JSON and a PNG."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench.cli import main


@pytest.mark.slow
def test_a_tiny_radio_run_times_every_keyup_and_grant_and_writes_json_and_a_plot(
    tmp_path: Path,
) -> None:
    arguments = ["radio", "--legs", "5", "--keyups", "5", "--grants", "20"]
    code = main(["--out", str(tmp_path), *arguments])
    report = json.loads((tmp_path / "radio.json").read_text())
    assert code == (0 if report["passed"] else 1)
    keyup, grant = report["keyup"], report["grant"]
    assert keyup["samples"] + keyup["missed"] == 5
    assert keyup["missed"] == 0
    assert len(keyup["latencies_ms"]) == len(keyup["send_phase_ms"]) == 5
    # A key-up waits at most one 20 ms tick plus delivery; far below the 1 s give-up.
    assert all(math.isfinite(x) and 0 < x < 1000 for x in keyup["latencies_ms"])
    assert all(0 <= x < 20 for x in keyup["send_phase_ms"])
    assert keyup["p50_ms"] <= keyup["p95_ms"] <= keyup["p99_ms"] <= keyup["max_ms"]
    assert keyup["voice"]["samples"] == 5  # A's tone reached B after every key-up
    assert keyup["voice"]["p50_ms"] >= keyup["p50_ms"]
    assert grant["samples"] == grant["release"]["samples"] == 20
    assert grant["not_granted"] == 0
    assert all(math.isfinite(x) and x > 0 for x in grant["latencies_ms"])
    assert grant["p50_ms"] <= grant["p99_ms"] <= grant["max_ms"]
    server = report["server"]
    assert server["max_rss_mb"] > 0 and server["mean_cores"] is not None
    assert report["load"]["processes_alive"] == report["load"]["processes"] == 1  # load ran on
    assert report["load"]["participants_in_room"] == 5 + 2
    assert report["server_exit"] == 0
    assert (tmp_path / "radio.png").stat().st_size > 10_000
