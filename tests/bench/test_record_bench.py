"""`bench record` end to end, tiny: a room of load-generator legs measured without and with a
recording of every track, the recording checked for dropped frames and verified."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli import main


@pytest.mark.slow
def test_a_tiny_record_run_measures_both_phases_counts_frames_and_writes_json_and_a_plot(
    tmp_path: Path,
) -> None:
    code = main(["--out", str(tmp_path), "record", "--legs", "5", "--seconds", "3"])
    report = json.loads((tmp_path / "record.json").read_text())
    assert code == (0 if report["passed"] else 1)
    baseline, recording, stop = report["baseline"], report["recording"], report["stop"]
    for phase in (baseline, recording):
        assert phase["seconds"] == pytest.approx(3.0, abs=0.5)
        assert phase["cores"] > 0 and phase["rss_mb_max"] > 0
        assert phase["participants"] == 5
    assert report["extra_cpu_percent"] == pytest.approx(
        (recording["cores"] - baseline["cores"]) * 100, abs=0.01
    )
    assert stop["call_s"] > 0 and stop["twins"] == 5  # an 8 kHz PCMU leg gets a 48 kHz twin
    frames = report["frames"]
    # Each twin: 960 samples of 16 bits per 20 ms tick (soxr may round the very end).
    assert stop["twin_bytes"] == pytest.approx(5 * 1920 * frames["ticks_recorded"], rel=0.01)
    assert frames["participant_tracks"] == 5
    # One tick per 20 ms of the recording's 3 s, in the mix and in every leg's track.
    assert frames["ticks_recorded"] == pytest.approx(150, abs=10)
    assert frames["mix_ticks"] == frames["ticks_recorded"]
    assert frames["dropped_frames"] == frames["missing_ticks"] == frames["ticks_lost"] == 0
    assert frames["wall_gap_ticks_max"] == pytest.approx(0, abs=0.1)
    throughput = report["throughput"]
    # 5 tracks at 8 kHz and the 48 kHz mix, 16-bit: 176 kB per second of audio.
    assert throughput["audio_bytes_per_s"] == pytest.approx(5 * 16_000 + 96_000, rel=0.01)
    assert throughput["bytes_written"] == throughput["audio_bytes"]
    assert report["verify"] == {"ok": True, "seconds": report["verify"]["seconds"], "problems": []}
    assert report["load"]["processes_alive"] == report["load"]["processes"] == 1
    assert report["server_exit"] == 0
    assert (tmp_path / "record.png").stat().st_size > 10_000
