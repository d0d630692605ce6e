"""`bench conference`: its geometry and switch arithmetic, and a tiny run end to end (two
320x180 participants, a pure viewer, two layout switches) written as JSON and a plot."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench.cli import main
from bench.conferencestats import (
    CENTRE_TILE,
    centre_layout,
    grid_tiles,
    layout_shown,
    switch_latencies,
    tile_sources,
)
from bench.wallrecv import READ_RECORD


def test_a_probe_reads_each_grid_tile_and_the_centre_region_of_the_switch_layout() -> None:
    tiles = grid_tiles(8, 1280, 720, 1280, 720)
    assert [t["tile"] for t in tiles] == [*range(8), CENTRE_TILE]
    # a 3x3 grid of 16:9 cells: the second cell's picture from x = 426
    assert tiles[1]["rect"] == [426, 0, 426, 240]
    assert tiles[-1]["rect"] == [320, 180, 640, 360]
    assert grid_tiles(0, 640, 360, 320, 180) == [
        {"tile": CENTRE_TILE, "rect": [160, 90, 320, 180], "width": 320, "height": 180}
    ]
    region = centre_layout("p-1", 1280, 720)["regions"][0]
    assert region == {"x": 320, "y": 180, "w": 640, "h": 360, "source": "p-1"}


def _reads(rows: list[tuple[int, float, int, int, int]]) -> np.ndarray:  # type: ignore[type-arg]
    return np.array(rows, dtype=READ_RECORD)


def test_a_switch_is_timed_to_the_first_picture_in_the_new_layout() -> None:
    reads = _reads(
        [
            (0, 10.00, 0, 1, 5),  # grid
            (0, 10.00, CENTRE_TILE, -1, -1),
            (3000, 10.05, 0, -1, -1),  # nothing readable: no layout known
            (3000, 10.05, CENTRE_TILE, -1, -1),
            (6000, 10.12, 0, -1, -1),
            (6000, 10.12, CENTRE_TILE, 0, 7),  # the centre layout
            (9000, 10.50, 0, 1, 9),  # back to the grid
        ]
    )
    shown = layout_shown(reads)
    assert shown == [(10.0, "grid"), (10.12, "centre"), (10.5, "grid")]
    took = switch_latencies(shown, [(10.02, "centre"), (10.4, "grid"), (11.0, "centre")])
    assert took[:2] == [pytest.approx(100.0), pytest.approx(100.0)]
    assert took[2] is None  # never shown
    assert tile_sources(reads) == {0: 1, CENTRE_TILE: 0}


@pytest.mark.slow
def test_a_tiny_conference_run_writes_json_and_a_plot(tmp_path: Path) -> None:
    code = main(
        ["--out", str(tmp_path), "conference", "--participants", "2", "--steps", "1",
         "--viewers", "1", "--probes", "2", "--size", "320x180", "--picture", "640x360",
         "--fps", "10", "--seconds", "2", "--step-seconds", "1", "--switches", "2",
         "--audio-legs", "2", "--workers", "0"]
    )  # fmt: skip
    report = json.loads((tmp_path / "conference.json").read_text())
    assert (tmp_path / "conference.png").stat().st_size > 10_000
    assert code == (0 if report["passed"] else 1)
    assert report["benchmark"] == "conference" and report["server_exit"] == 0
    assert [(s["participants"], s["viewers"]) for s in report["steps"]] == [(1, 0), (2, 0), (2, 1)]
    assert report["own_variants"] == {"expected": 2, "found": 2}
    # each participant sees the other's camera, read from the stamps of both probes
    assert report["glass_to_glass_ms"]["count"] >= 20
    assert 0 < report["glass_to_glass_ms"]["p50"] < 2000
    assert len(report["receivers"]) == 3 and sum(r["probe"] for r in report["receivers"]) == 2
    assert all(r["frames"]["frames"] > 0 for r in report["receivers"][:2])
    assert report["clock"]["ticks"] > 50
    assert [len(p["switch_ms"]) for p in report["switches"]["per_probe"]] == [2, 2]
    assert report["switches"]["max_ms"] is not None  # every switch seen by both probes
