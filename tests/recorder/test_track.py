"""TrackWriter: segments on disk, chained and journalled, the file playable after every flush,
and a full disk leaves the track consistent up to its last complete segment."""

from __future__ import annotations

import errno
import json
import wave
from pathlib import Path

import numpy as np
import pytest

from mediacore.audio import tone, tone_level_dbfs
from recorder.chain import SegmentEntry, genesis, link
from recorder.chainedfile import TrackFullError, journal_path
from recorder.track import TrackWriter
from recorder.wavfile import WAV_HEADER_BYTES, pcm16

RATE = 8000
SECOND = RATE * 2  # bytes of one second, the default segment


def frames(path: Path) -> bytes:
    with wave.open(str(path)) as reader:
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == (1, 2, RATE)
        return reader.readframes(reader.getnframes())


def journal(path: Path) -> list[SegmentEntry]:
    lines = journal_path(path).read_text().splitlines()
    return [SegmentEntry.from_json(json.loads(line)) for line in lines]


def test_every_flush_leaves_a_playable_file_holding_the_complete_segments(tmp_path: Path) -> None:
    path = tmp_path / "alice.wav"
    audio = pcm16(tone(440, 3.5, RATE))
    writer = TrackWriter(path, RATE, "rec-1")
    assert frames(path) == b""
    tick = 2 * RATE // 50  # 20 ms
    for second in range(3):
        for start in range(second * SECOND, (second + 1) * SECOND, tick):
            writer.write(audio[start : start + tick])
        assert [e.index for e in writer.flush()] == [second]
        assert frames(path) == audio[: (second + 1) * SECOND]
        assert writer.data_bytes == (second + 1) * SECOND
    writer.write(audio[3 * SECOND :])
    assert writer.flush() == []  # half a second is not a segment yet
    assert writer.pending_bytes == SECOND // 2
    final = writer.close()
    assert [(e.index, e.offset, e.length) for e in final] == [(3, 3 * SECOND, SECOND // 2)]
    played = frames(path)
    assert played == audio
    level = tone_level_dbfs(np.frombuffer(played, "<i2") / 32767.0, 440, RATE)
    assert level == pytest.approx(-12.0, abs=0.1)


def test_entries_chain_from_genesis_over_the_bytes_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "bob.wav"
    writer = TrackWriter(path, RATE, "rec-1", segment_bytes=1000)
    writer.write(pcm16(tone(300, 0.6, RATE)))  # 9600 bytes: 9 segments and 600 bytes
    writer.flush()
    writer.close()
    data = path.read_bytes()[WAV_HEADER_BYTES:]
    chain = genesis("rec-1")
    for position, entry in enumerate(writer.entries):
        assert (entry.index, entry.offset) == (position, position * 1000)
        chain = link(chain, data[entry.offset : entry.end])
        assert entry.chain == chain
    assert writer.last_chain == chain
    assert writer.entries[-1].length == 600
    assert journal(path) == list(writer.entries)


def test_a_track_never_overwrites_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "alice.wav"
    path.write_bytes(b"evidence")
    with pytest.raises(FileExistsError):
        TrackWriter(path, RATE, "rec-1")
    assert path.read_bytes() == b"evidence"


def test_odd_writes_and_writes_after_close_are_refused(tmp_path: Path) -> None:
    writer = TrackWriter(tmp_path / "a.wav", RATE, "rec-1")
    with pytest.raises(ValueError, match="whole samples"):
        writer.write(b"\x00\x01\x02")
    assert writer.close() == []
    assert writer.close() == []
    with pytest.raises(ValueError, match="closed"):
        writer.write(b"\x00\x00")


class FillingDisk:
    """Wraps a file: accepts `room` more bytes, then fails like a full disk (after a short
    write, as the kernel does)."""

    def __init__(self, file: object, room: int, error: int = errno.ENOSPC) -> None:
        self.file = file
        self.room = room
        self.error = error

    def write(self, data: bytes | memoryview) -> int:
        if self.room <= 0:
            raise OSError(self.error, "No space left on device")
        written: int = self.file.write(memoryview(data)[: self.room])  # type: ignore[attr-defined]
        self.room -= written
        return written

    def __getattr__(self, name: str) -> object:
        return getattr(self.file, name)


def test_full_disk_truncates_to_the_last_segment_and_keeps_the_audio_buffered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "alice.wav"
    audio = pcm16(tone(440, 4.0, RATE))
    writer = TrackWriter(path, RATE, "rec-1")
    writer.write(audio[: 2 * SECOND])
    writer.flush()
    real = writer._disk._file
    monkeypatch.setattr(writer._disk, "_file", FillingDisk(real, room=SECOND + 123))
    writer.write(audio[2 * SECOND :])
    with pytest.raises(TrackFullError) as caught:
        writer.flush()
    assert caught.value.errno == errno.ENOSPC
    assert path.stat().st_size == WAV_HEADER_BYTES + 2 * SECOND
    assert frames(path) == audio[: 2 * SECOND]
    assert journal(path) == list(writer.entries) and len(writer.entries) == 2
    assert writer.data_bytes == 2 * SECOND and writer.pending_bytes == 2 * SECOND
    monkeypatch.setattr(writer._disk, "_file", real)  # space was freed: the retry loses nothing
    assert len(writer.flush()) == 2
    writer.close()
    assert frames(path) == audio
    assert journal(path) == list(writer.entries)


def test_full_disk_while_journalling_rolls_the_audio_back_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "alice.wav"
    audio = pcm16(tone(440, 2.0, RATE))
    writer = TrackWriter(path, RATE, "rec-1")
    writer.write(audio[:SECOND])
    writer.flush()
    monkeypatch.setattr(writer._disk, "_journal", FillingDisk(writer._disk._journal, room=40))
    writer.write(audio[SECOND:])
    with pytest.raises(TrackFullError):
        writer.flush()
    assert frames(path) == audio[:SECOND]
    assert journal(path) == list(writer.entries) and len(writer.entries) == 1
    monkeypatch.undo()
    writer.close()
    assert frames(path) == audio and journal(path) == list(writer.entries)


def test_other_write_errors_roll_back_but_are_not_called_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "alice.wav"
    writer = TrackWriter(path, RATE, "rec-1")
    monkeypatch.setattr(
        writer._disk, "_file", FillingDisk(writer._disk._file, room=100, error=errno.EIO)
    )
    writer.write(bytes(SECOND))
    with pytest.raises(OSError) as caught:
        writer.flush()
    assert not isinstance(caught.value, TrackFullError)
    assert path.stat().st_size == WAV_HEADER_BYTES
    assert frames(path) == b""
    monkeypatch.undo()
    writer.close()


def test_a_leftover_journal_is_never_overwritten_and_no_track_is_left_without_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "alice.wav"
    journal_path(path).write_text("evidence\n")
    with pytest.raises(FileExistsError):
        TrackWriter(path, RATE, "rec-1")
    assert not path.exists()
    assert journal_path(path).read_text() == "evidence\n"
