"""The short run of `bench fuzz` that CI keeps: every parser, 2,000 coverage-guided inputs each
(atheris), none of which may crash or hang; JSON and the PNG are written as in a full run."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from bench.cli import main
from bench.fuzzjson import json_mutator
from bench.fuzztarget import as_chunks, chunks
from bench.fuzztargets import targets

pytest.importorskip("atheris")

SHORT_RUN = 2000


@pytest.mark.slow  # about 15 s on 2 cores; CI runs it
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


def test_a_crash_is_recorded_with_its_input_once_and_the_run_goes_on(tmp_path: Path) -> None:
    from bench.fuzzrun import Recorder

    def check(data: bytes) -> None:
        if data.startswith(b"boom"):
            raise KeyError(data)

    recorder = Recorder(tmp_path / "report.jsonl", hang_seconds=1.0, every=2)
    for data in (b"ok", b"boom-1", b"boom-2", b"ok"):
        recorder.run(check, data)
    recorder.report.close()
    lines = [json.loads(line) for line in (tmp_path / "report.jsonl").read_text().splitlines()]
    crashes = [line for line in lines if line["kind"] == "crash"]
    assert len(crashes) == 1 and crashes[0]["error"].startswith("KeyError")
    assert base64.b64decode(crashes[0]["input"]) == b"boom-1"
    assert lines[-1] == {
        "kind": "progress",
        "inputs": 4,
        "crashes": 2,
        "distinct_crashes": 1,
        "hangs": 0,
        "seconds": lines[-1]["seconds"],
    }


def test_the_json_mutation_swaps_values_behind_the_prefix() -> None:
    mutate = json_mutator(1, (b"NaN",))
    seen = {mutate(b'\x07{"name": "a", "n": [1, 2]}', 4096, seed) for seed in range(200)}
    assert len(seen) > 50
    swapped = [out for out in seen if out.startswith(b"\x07{") and b"\\ud800" in out]
    assert swapped  # the hostile values are reached, the model's byte kept
    assert all(len(out) <= 4096 for out in seen)
