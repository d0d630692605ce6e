"""The short run of `bench fuzz` that CI keeps: every parser, 2,000 coverage-guided inputs each
(atheris), none of which may crash or hang; JSON and the PNG are written as in a full run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli import main
from bench.fuzztargets import as_chunks, chunks, targets

pytest.importorskip("atheris")

SHORT_RUN = 2000


def test_every_parser_survives_a_short_coverage_guided_run(tmp_path: Path) -> None:
    arguments = ["fuzz", "--runs", str(SHORT_RUN), "--jobs", "2", "--nice", "0"]
    assert main(["--out", str(tmp_path), *arguments, "--max-seconds", "120"]) == 0
    report = json.loads((tmp_path / "fuzz.json").read_text())
    assert list(report["parsers"]) == list(targets())
    for name, entry in report["parsers"].items():
        assert entry["distinct_crashes"] == [], (name, entry["distinct_crashes"])
        assert (entry["crashes"], entry["hangs"], entry["exit"]) == (0, 0, 0), (name, entry)
        assert entry["inputs"] >= SHORT_RUN, (name, entry["inputs"])
        # Coverage grew past the seeds': the mutation is guided, not a replay of the seeds.
        curve = entry["coverage_curve"]
        assert curve and curve[-1][1] > curve[0][1], (name, curve)
    assert report["passed"]
    assert (tmp_path / "fuzz.png").stat().st_size > 10_000


def test_chunked_inputs_read_back_as_their_pieces() -> None:
    pieces = [b"", b"a", bytes(255)]
    assert chunks(as_chunks(pieces)) == pieces
    assert chunks(b"\x05ab") == [b"ab"]  # a length past the end keeps what is there
