"""Verification finds any change to a finished recording, and says which track and segment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mediacore.audio import tone
from recorder.manifest import (
    ManifestError,
    manifest_hash_ok,
    read_manifest,
    seal,
    write_manifest,
)
from recorder.track import TrackWriter
from recorder.verify import VerifyReport, verify_recording
from recorder.wavfile import WAV_HEADER_BYTES, pcm16

RATE = 8000
SECOND = 2 * RATE
# Not whole hertz: a whole-hertz tone repeats every second, and swapped seconds would match.
TONES = {"alice": 440.37, "bob": 620.71}


def record(directory: Path, seconds: float = 4.5, segment_bytes: int | None = None) -> None:
    """A stopped, sealed recording of one tone per track, flushed once a second."""
    directory.mkdir(exist_ok=True)
    tracks = []
    for track_id, frequency in TONES.items():
        writer = TrackWriter(directory / f"{track_id}.wav", RATE, "rec-1", segment_bytes)
        audio = pcm16(tone(frequency, seconds, RATE))
        for start in range(0, len(audio), SECOND):
            writer.write(audio[start : start + SECOND])
            writer.flush()
        writer.close()
        segments = [entry.to_json() for entry in writer.entries]
        file = f"{track_id}.wav"
        tracks.append(
            {"id": track_id, "file": file, "rate": RATE, "segments": segments,
             "data_bytes": writer.data_bytes, "kind": "participant"}
        )  # fmt: skip
    manifest = {"id": "rec-1", "room": "ops", "state": "stopped", "tracks": tracks}
    write_manifest(directory, seal(manifest))


def edit_file(path: Path, offset: int, remove: int = 0, insert: bytes = b"") -> None:
    data = bytearray(path.read_bytes())
    data[offset : offset + remove] = insert
    path.write_bytes(bytes(data))


def edit_manifest(directory: Path, change: Any, reseal: bool) -> None:
    manifest = read_manifest(directory)
    change(manifest)
    if reseal:
        manifest = seal({k: v for k, v in manifest.items() if k != "manifest_sha256"})
    write_manifest(directory, manifest)


def found(report: VerifyReport) -> list[tuple[str | None, int | None, str]]:
    assert not report.ok
    return [(p["track"], p["segment"], p["problem"]) for p in report.problems]


def test_a_recording_as_written_verifies(tmp_path: Path) -> None:
    record(tmp_path)
    (tmp_path / "notes.txt").write_text("reviewer notes")  # unknown files are none of our business
    assert verify_recording(tmp_path) == VerifyReport(ok=True, problems=[])


def test_one_flipped_byte_names_its_track_and_segment(tmp_path: Path) -> None:
    record(tmp_path)
    path = tmp_path / "bob.wav"
    data = bytearray(path.read_bytes())
    data[WAV_HEADER_BYTES + 2 * SECOND + 777] ^= 0x01
    path.write_bytes(bytes(data))
    assert found(verify_recording(tmp_path)) == [("bob", 2, "segment-hash")]


def test_removed_bytes_are_found_from_their_segment_on(tmp_path: Path) -> None:
    record(tmp_path)
    edit_file(tmp_path / "alice.wav", WAV_HEADER_BYTES + SECOND + 100, remove=50)
    problems = found(verify_recording(tmp_path))
    assert ("alice", None, "length") in problems
    hashes = [segment for _, segment, code in problems if code == "segment-hash"]
    assert hashes[0] == 1 and 0 not in hashes


def test_inserted_bytes_are_found_from_their_segment_on(tmp_path: Path) -> None:
    record(tmp_path)
    edit_file(tmp_path / "alice.wav", WAV_HEADER_BYTES + 3 * SECOND + 10, insert=b"\x00\x00")
    problems = found(verify_recording(tmp_path))
    assert ("alice", None, "extra-bytes") in problems
    assert [s for _, s, code in problems if code == "segment-hash"] == [3, 4]


def test_appended_bytes_are_extra(tmp_path: Path) -> None:
    record(tmp_path)
    with (tmp_path / "bob.wav").open("ab") as file:
        file.write(b"\x01\x02")
    assert found(verify_recording(tmp_path)) == [("bob", None, "extra-bytes")]


def test_two_swapped_segments_are_both_named(tmp_path: Path) -> None:
    record(tmp_path)
    path = tmp_path / "alice.wav"
    data = bytearray(path.read_bytes())
    first = slice(WAV_HEADER_BYTES, WAV_HEADER_BYTES + SECOND)
    third = slice(WAV_HEADER_BYTES + 2 * SECOND, WAV_HEADER_BYTES + 3 * SECOND)
    data[first], data[third] = data[third], data[first]
    path.write_bytes(bytes(data))
    assert found(verify_recording(tmp_path)) == [
        ("alice", 0, "segment-hash"),
        ("alice", 2, "segment-hash"),
    ]


def test_reordered_manifest_entries_break_the_chain_even_when_resealed(tmp_path: Path) -> None:
    record(tmp_path)

    def swap(manifest: dict[str, Any]) -> None:
        segments = manifest["tracks"][0]["segments"]
        segments[1], segments[2] = segments[2], segments[1]

    edit_manifest(tmp_path, swap, reseal=True)
    problems = found(verify_recording(tmp_path))
    assert ("alice", 1, "gap") in problems and ("alice", 1, "chain") in problems
    assert all(track == "alice" for track, _, _ in problems)


def test_an_edited_manifest_fails_its_seal(tmp_path: Path) -> None:
    record(tmp_path)
    edit_manifest(tmp_path, lambda m: m.update(room="elsewhere"), reseal=False)
    report = verify_recording(tmp_path)
    assert found(report) == [(None, None, "manifest-hash")]
    assert "does not match" in report.problems[0]["detail"]


def test_an_unsealed_manifest_is_reported(tmp_path: Path) -> None:
    record(tmp_path)
    edit_manifest(tmp_path, lambda m: m.pop("manifest_sha256"), reseal=False)
    assert found(verify_recording(tmp_path)) == [(None, None, "manifest-hash")]


def test_a_deleted_track_file_is_missing(tmp_path: Path) -> None:
    record(tmp_path)
    (tmp_path / "bob.wav").unlink()
    assert found(verify_recording(tmp_path)) == [("bob", None, "missing-file")]


def test_a_changed_header_is_found(tmp_path: Path) -> None:
    record(tmp_path)
    edit_file(tmp_path / "alice.wav", 24, remove=4, insert=(16000).to_bytes(4, "little"))
    assert ("alice", None, "header") in found(verify_recording(tmp_path))


def test_a_track_cut_short_with_a_matching_header_is_still_found(tmp_path: Path) -> None:
    record(tmp_path)
    path = tmp_path / "bob.wav"
    data = bytearray(path.read_bytes()[: WAV_HEADER_BYTES + 2 * SECOND])
    data[40:44] = (2 * SECOND).to_bytes(4, "little")
    data[4:8] = (36 + 2 * SECOND).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    problems = found(verify_recording(tmp_path))
    assert ("bob", None, "header") in problems and ("bob", None, "length") in problems
    assert [s for _, s, code in problems if code == "segment-hash"] == [2, 3, 4]


def test_a_dropped_last_segment_leaves_a_gap(tmp_path: Path) -> None:
    record(tmp_path)
    edit_manifest(tmp_path, lambda m: m["tracks"][1]["segments"].pop(), reseal=True)
    assert found(verify_recording(tmp_path)) == [("bob", None, "gap")]


def test_a_manifest_pointing_outside_the_recording_is_refused(tmp_path: Path) -> None:
    record(tmp_path)
    edit_manifest(tmp_path, lambda m: m["tracks"][0].update(file="../alice.wav"), reseal=True)
    assert found(verify_recording(tmp_path)) == [("alice", None, "manifest")]


def test_an_unreadable_manifest_is_one_clear_problem(tmp_path: Path) -> None:
    record(tmp_path)
    (tmp_path / "manifest.json").write_text('{"id": "rec-1", "tracks": [')
    report = verify_recording(tmp_path)
    assert found(report) == [(None, None, "manifest")]
    assert "not valid JSON" in report.problems[0]["detail"]
    with pytest.raises(ManifestError):
        read_manifest(tmp_path / "nowhere")


def test_a_shift_early_in_a_long_track_lists_the_first_problems_only(tmp_path: Path) -> None:
    record(tmp_path, seconds=0.5, segment_bytes=20)  # 400 segments per track
    edit_file(tmp_path / "alice.wav", WAV_HEADER_BYTES, remove=2)
    problems = found(verify_recording(tmp_path))
    assert len(problems) == 101 and problems[-1] == ("alice", None, "more")
    assert json.dumps(verify_recording(tmp_path).problems)  # the API serves it as JSON


def test_seal_covers_everything_but_itself() -> None:
    sealed = seal({"id": "r", "tracks": [], "name": "Einsatz Süd"})
    assert manifest_hash_ok(sealed)
    assert not manifest_hash_ok({**sealed, "name": "Einsatz Nord"})
    assert seal(sealed) == sealed
