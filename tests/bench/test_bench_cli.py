"""The benchmark command runs end to end: it starts a server, drives legs, writes JSON and PNG."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli import main
from bench.sipprun import sipp_available


def test_help_lists_the_benchmarks(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    assert "latency" in capsys.readouterr().out


@pytest.mark.slow
def test_a_short_latency_run_measures_onsets_and_writes_json_and_a_plot(tmp_path: Path) -> None:
    assert main(["--out", str(tmp_path), "latency", "--duration", "6"]) == 0
    report = json.loads((tmp_path / "latency.json").read_text())
    result = report["result"]
    assert result["latency_samples"] >= 6  # one tone onset every 0.5 s after the warm-up
    assert 0 < result["latency_p50_ms"] < 100
    assert result["cpu_cores"] is not None and result["late_ticks"] is not None
    assert (tmp_path / "latency.png").stat().st_size > 10_000
    assert report["machine"]["calibration_ms"] > 0  # how fast the machine was, for comparing


@pytest.mark.slow
@pytest.mark.skipif(not sipp_available(), reason="sipp (Debian sip-tester) is not installed")
def test_a_short_sip_run_registers_and_calls_and_writes_json_and_a_plot(tmp_path: Path) -> None:
    arguments = ["--registrations", "20", "--setup-seconds", "1", "--concurrent", "10"]
    assert main(["--out", str(tmp_path), "sip", *arguments, "--hold", "2"]) == 0
    phases = json.loads((tmp_path / "sip.json").read_text())["phases"]
    assert phases["registrations"]["successful"] == 20
    assert phases["setup_rate"]["successful"] == 50
    assert phases["concurrent"]["successful"] == 10
    assert phases["concurrent"]["max_participants"] >= 1
    assert all(phase["failed"] == 0 for phase in phases.values())
    assert (tmp_path / "sip.png").stat().st_size > 10_000
