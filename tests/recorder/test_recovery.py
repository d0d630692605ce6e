"""Recovery after the server died mid-recording: every byte that reached the disk is kept,
chained, listed and verified; nothing is dropped without a note."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mediacore.audio import tone, tone_level_dbfs
from recorder.chainedfile import journal_path
from recorder.manifest import (
    ManifestError,
    manifest_hash_ok,
    read_manifest,
    seal,
    write_manifest,
)
from recorder.recovery import TRACKS_LOG, recover_recording
from recorder.track import TrackWriter
from recorder.wavfile import WAV_HEADER_BYTES, pcm16

RATE = 8000
SECOND = 2 * RATE
REPO = Path(__file__).resolve().parents[2]


def open_track(directory: Path, track_id: str) -> TrackWriter:
    """Open a track the way the orchestrator does: the writer, then a tracks.jsonl line."""
    writer = TrackWriter(directory / f"{track_id}.wav", RATE, "rec-1")
    line = {"id": track_id, "file": f"{track_id}.wav", "rate": RATE, "data_bytes": 0}
    with (directory / TRACKS_LOG).open("a") as log:
        log.write(json.dumps({**line, "kind": "participant", "duration_ms": 0}) + "\n")
    return writer


def describe(writer: TrackWriter) -> dict[str, Any]:
    return {
        "id": writer.path.stem,
        "file": writer.path.name,
        "rate": RATE,
        "kind": "participant",
        "data_bytes": writer.data_bytes,
        "duration_ms": writer.data_bytes * 1000 // SECOND,
        "segments": [entry.to_json() for entry in writer.entries],
    }


def write_live_manifest(directory: Path, writers: list[TrackWriter]) -> None:
    tracks = [describe(writer) for writer in writers]
    write_manifest(
        directory, {"id": "rec-1", "room": "ops", "state": "recording", "tracks": tracks}
    )


def die(*writers: TrackWriter) -> None:
    """What kill -9 does to a writer: its descriptors close, nothing else happens."""
    for writer in writers:
        writer._disk.close()


def frames(path: Path) -> bytes:
    with wave.open(str(path)) as reader:
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == (1, 2, RATE)
        return reader.readframes(reader.getnframes())


def tracks_of(manifest: dict[str, Any]) -> dict[str, Any]:
    return {track["id"]: track for track in manifest["tracks"]}


def recovery_of(manifest: dict[str, Any]) -> dict[str, Any]:
    return {record["track"]: record for record in manifest["recovery"]}


def test_a_crash_keeps_every_flushed_byte_and_the_unjournalled_tail(tmp_path: Path) -> None:
    audio = {name: pcm16(tone(f, 6.0, RATE)) for name, f in [("alice", 440), ("bob", 530)]}
    audio["carol"] = pcm16(tone(700, 6.0, RATE))
    alice, bob = open_track(tmp_path, "alice"), open_track(tmp_path, "bob")
    for second in range(2):
        for writer in (alice, bob):
            writer.write(audio[writer.path.stem][second * SECOND : (second + 1) * SECOND])
            writer.flush()
    write_live_manifest(tmp_path, [alice, bob])  # the last manifest before the crash
    carol = open_track(tmp_path, "carol")  # opened after it: only tracks.jsonl knows her
    for second in range(2, 5):
        for writer in (alice, bob, carol):
            writer.write(audio[writer.path.stem][second * SECOND : (second + 1) * SECOND])
            writer.flush()
    # Bytes that reached the file in the last moment, never journalled: 0.3 s and a torn sample.
    tail = int(0.3 * SECOND)
    with alice.path.open("ab") as file:
        file.write(audio["alice"][5 * SECOND : 5 * SECOND + tail + 1])
    with journal_path(alice.path).open("ab") as file:
        file.write(b'{"index":5,"offset":80000,"len')
    with carol.path.open("ab") as file:
        file.write(audio["carol"][3 * SECOND : 3 * SECOND + 400])
    die(alice, bob, carol)

    report = recover_recording(tmp_path)

    assert report.ok, report.problems
    manifest = read_manifest(tmp_path)
    assert manifest["state"] == "recovered" and manifest_hash_ok(manifest)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", manifest["recovered_at"])
    tracks, recovery = tracks_of(manifest), recovery_of(manifest)
    assert frames(alice.path) == audio["alice"][: 5 * SECOND + tail]
    assert tracks["alice"]["segments"][-1]["length"] == tail
    assert tracks["alice"]["duration_ms"] == 5300
    assert recovery["alice"]["torn_bytes_dropped"] == 1
    assert recovery["alice"]["header_fixed"] is True
    assert "journal-torn-line:6" in recovery["alice"]["notes"]
    assert frames(bob.path) == audio["bob"][: 5 * SECOND]
    assert (recovery["bob"]["tail_bytes"], recovery["bob"]["header_fixed"]) == (0, False)
    carol_audio = frames(carol.path)
    assert (
        carol_audio == audio["carol"][: 3 * SECOND] + audio["carol"][3 * SECOND : 3 * SECOND + 400]
    )
    assert tracks["carol"]["listed_by"] == TRACKS_LOG and tracks["carol"]["kind"] == "participant"
    level = tone_level_dbfs(np.frombuffer(carol_audio, "<i2") / 32767.0, 700, RATE)
    assert level == pytest.approx(-12.0, abs=0.1)


def test_recovery_is_idempotent(tmp_path: Path) -> None:
    writer = open_track(tmp_path, "alice")
    writer.write(pcm16(tone(440, 2.5, RATE)))
    writer.flush()
    write_live_manifest(tmp_path, [writer])
    with writer.path.open("ab") as file:
        file.write(b"\x01\x02\x03")
    die(writer)
    first = recover_recording(tmp_path)
    written = (tmp_path / "manifest.json").read_bytes(), writer.path.read_bytes()
    assert first.ok and recover_recording(tmp_path) == first
    assert ((tmp_path / "manifest.json").read_bytes(), writer.path.read_bytes()) == written


def test_segments_on_disk_but_not_journalled_become_the_final_segment(tmp_path: Path) -> None:
    audio = pcm16(tone(440, 3.0, RATE))
    writer = open_track(tmp_path, "alice")
    write_live_manifest(tmp_path, [writer])
    writer.write(audio)
    writer.flush()
    die(writer)
    # The crash came between the data fsync and the journal write of the last second.
    journal = journal_path(writer.path)
    journal.write_text("".join(journal.read_text().splitlines(keepends=True)[:2]))
    assert recover_recording(tmp_path).ok
    manifest = read_manifest(tmp_path)
    assert frames(writer.path) == audio
    assert recovery_of(manifest)["alice"]["journal_segments"] == 2
    assert recovery_of(manifest)["alice"]["tail_bytes"] == SECOND


def test_a_track_that_died_before_its_first_flush_is_closed_empty(tmp_path: Path) -> None:
    writer = open_track(tmp_path, "alice")
    writer.write(bytes(1000))
    write_live_manifest(tmp_path, [writer])
    die(writer)
    assert recover_recording(tmp_path).ok
    assert frames(writer.path) == b""


def test_a_track_listed_nowhere_is_found_by_its_journal(tmp_path: Path) -> None:
    write_live_manifest(tmp_path, [])
    writer = TrackWriter(tmp_path / "dave.wav", RATE, "rec-1")
    (tmp_path / TRACKS_LOG).write_text('{"id": "da')  # the line was torn by the crash
    writer.write(pcm16(tone(440, 1.0, RATE)))
    writer.flush()
    die(writer)
    assert recover_recording(tmp_path).ok
    manifest = read_manifest(tmp_path)
    assert tracks_of(manifest)["dave.wav"]["listed_by"] == "journal"
    assert tracks_of(manifest)["dave.wav"]["data_bytes"] == SECOND
    assert {"track": None, "notes": ["tracks-log-torn-line:1"]} in manifest["recovery"]


def test_bytes_lost_from_a_journalled_segment_are_reported_not_hidden(tmp_path: Path) -> None:
    writer = open_track(tmp_path, "alice")
    writer.write(pcm16(tone(440, 3.0, RATE)))
    writer.flush()
    write_live_manifest(tmp_path, [writer])
    die(writer)
    os.truncate(writer.path, WAV_HEADER_BYTES + 2 * SECOND + 100)
    report = recover_recording(tmp_path)
    assert not report.ok
    problems = [(p["track"], p["segment"], p["problem"]) for p in report.problems]
    assert ("alice", None, "length") in problems and ("alice", 2, "segment-hash") in problems
    notes = recovery_of(read_manifest(tmp_path))["alice"]["notes"]
    assert "file-shorter-than-journal" in notes


def test_a_finished_recording_is_only_verified(tmp_path: Path) -> None:
    writer = open_track(tmp_path, "alice")
    writer.write(pcm16(tone(440, 1.0, RATE)))
    writer.close()
    manifest = seal({"id": "rec-1", "state": "stopped", "tracks": [describe(writer)]})
    write_manifest(tmp_path, manifest)
    before = (tmp_path / "manifest.json").read_bytes()
    assert recover_recording(tmp_path).ok
    assert (tmp_path / "manifest.json").read_bytes() == before


def test_without_a_manifest_there_is_nothing_to_chain_from(tmp_path: Path) -> None:
    with pytest.raises(ManifestError):
        recover_recording(tmp_path)


CHILD = """
import sys
from pathlib import Path
from recorder.track import TrackWriter
writer = TrackWriter(Path(sys.argv[1]) / "mix.wav", 8000, "rec-1", segment_bytes=1600)
data = bytes(range(256)) * 16384
print("ready", flush=True)
for start in range(0, len(data), 700):
    writer.write(data[start : start + 700])
    writer.flush()
print("done", flush=True)
sys.stdin.read()
"""


def test_kill_9_at_a_random_moment_is_recovered(tmp_path: Path) -> None:
    tracks = [{"id": "mix", "file": "mix.wav", "rate": RATE, "segments": [], "data_bytes": 0}]
    write_manifest(tmp_path, {"id": "rec-1", "state": "recording", "tracks": tracks})
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    ) as child:
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
        deadline = time.monotonic() + 10
        while (tmp_path / "mix.wav").stat().st_size < 100_000 and time.monotonic() < deadline:
            time.sleep(0.01)  # let it get going, so the kill lands mid-stream even on a slow disk
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    report = recover_recording(tmp_path)
    assert report.ok, report.problems
    recovered = frames(tmp_path / "mix.wav")
    assert 0 < len(recovered) < 256 * 16384  # killed mid-way
    assert recovered == (bytes(range(256)) * 16384)[: len(recovered)]
