"""`bench wall` end to end, tiny: two stamped 360p cameras through a real server's grid wall,
read back from its rtp output, written as JSON and a plot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli import main
from bench.wallbench import scenario, thread_groups


def test_scenario_names_spell_sources_sizes_canvas_and_rate() -> None:
    named = scenario("16-2160p25")
    assert (named.sources, named.source_size, named.canvas, named.fps) == (
        16,
        (1280, 720),
        (3840, 2160),
        25,
    )
    assert named.layout == "grid-16"
    small = scenario("2x360p-720p25")
    assert (small.source_size, small.canvas) == ((640, 360), (1280, 720))
    with pytest.raises(ValueError):
        scenario("9 cameras")


def test_server_threads_are_grouped_by_their_python_names_and_the_rest_is_native() -> None:
    before = {1: ("python", 10.0), 2: ("python", 5.0), 3: ("python", 1.0)}
    after = {1: ("python", 12.0), 2: ("python", 6.0), 3: ("python", 2.0), 4: ("python", 1.0),
             5: ("python", 4.0)}  # fmt: skip
    names = {1: "decode-p-1", 2: "decode-p-2", 3: "wall-hall", 5: "wall-output-0"}
    groups = thread_groups(before, after, names, seconds=2.0)
    assert groups == {
        "source decoders (H.264, scale to the tile)": 1.5,  # (2 + 1) s of CPU over 2 s
        "wall output (crop, x264, send)": 2.0,  # a thread born in the window: all of it
        "wall painter (copy tiles, labels)": 0.5,
        "native threads (x264 slice workers, swscale workers)": 0.5,
    }


@pytest.mark.slow
def test_a_tiny_wall_run_reads_every_stamp_times_every_frame_and_writes_json_and_a_plot(
    tmp_path: Path,
) -> None:
    code = main(["--out", str(tmp_path), "wall", "--scenario", "2x360p-720p25", "--seconds", "3"])
    report = json.loads((tmp_path / "wall.json").read_text())
    assert code == (0 if report["passed"] else 1)
    (run,) = report["scenarios"]
    assert run["seconds"] == pytest.approx(3.0, abs=0.5)
    lat, output = run["latency"], run["output"]
    # 2 sources at 25 fps: about 150 source frames, each first shown once, none misread
    assert lat["unreadable"] == lat["wrong_source"] == lat["unmatched"] == 0
    assert lat["latency_ms"]["count"] >= 100
    assert 5 < lat["latency_ms"]["p50"] < 1000
    assert output["frames"] == pytest.approx(75, abs=8) and output["expected_frames"] >= 70
    assert 0 <= output["on_time_percent"] <= 100
    assert 0 <= run["wall_status"]["on_time_percent"] <= 100
    assert run["wall_status"]["frames_painted"] == pytest.approx(75, abs=8)
    assert run["receiver"]["size"] == [1280, 720]
    assert run["server"]["cores"] > 0 and run["server"]["rss_mb_max"] > 0
    assert run["bench_cores"]["receiver"] > 0
    assert run["server_exit"] == 0
    assert (tmp_path / "wall.png").stat().st_size > 10_000
