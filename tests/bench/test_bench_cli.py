"""The benchmark command runs end to end: it starts a server, drives legs, writes JSON and PNG."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli import main


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
