"""Announcement files: decoded with PyAV to mono at a room's rate (measured: frequency, level,
duration), cached by content and rate, names cleaned, uploads bounded, non-audio refused."""

from __future__ import annotations

import os
import time
import wave
from collections.abc import AsyncIterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from mediacore.audio import tone, tone_level_dbfs
from mediacore.server.announcefiles import AnnouncementFiles, FileTooLarge, clean_name
from mediacore.server.clips import ClipCache, ClipError, decode_mono, prune_oldest


def write_wav(path: Path, seconds: float = 1.0, rate: int = 44100, channels: int = 2) -> Path:
    """A 1 kHz tone at -20 dBFS RMS in every channel, 16-bit."""
    pcm = np.round(tone(1000.0, seconds, rate, -20.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.repeat(pcm, channels).tobytes())
    return path


def write_encoded(path: Path, codec: str, seconds: float = 1.0, rate: int = 48000) -> Path:
    pcm = tone(1000.0, seconds, rate, -20.0)
    with av.open(str(path), "w") as container:
        try:
            stream = container.add_stream(codec, rate=rate, layout="mono")
        except (av.FFmpegError, ValueError) as error:
            pytest.skip(f"this PyAV has no {codec} encoder: {error}")
        size = stream.codec_context.frame_size or 1024
        for start in range(0, len(pcm), size):
            chunk = pcm[start : start + size]
            frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="flt", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def assert_tone(pcm: np.ndarray, rate: int, seconds: float, tolerance: float = 0.03) -> None:
    assert pcm.dtype == np.dtype("<i2")
    assert len(pcm) / rate == pytest.approx(seconds, abs=tolerance)
    steady = pcm[rate // 10 : -rate // 10].astype(np.float32) / 32768
    assert tone_level_dbfs(steady, 1000.0, rate) == pytest.approx(-20.0, abs=1.0)


@pytest.mark.parametrize("rate", [8000, 16000, 48000])
def test_a_stereo_wav_becomes_mono_at_the_room_rate(tmp_path: Path, rate: int) -> None:
    assert_tone(decode_mono(write_wav(tmp_path / "a.wav"), rate), rate, 1.0)


@pytest.mark.parametrize(
    ("codec", "suffix"), [("libopus", "ogg"), ("mp3", "mp3"), ("flac", "flac")]
)
def test_compressed_files_decode_too(tmp_path: Path, codec: str, suffix: str) -> None:
    path = write_encoded(tmp_path / f"a.{suffix}", codec)
    assert_tone(decode_mono(path, 48000), 48000, 1.0, tolerance=0.08)


@pytest.mark.parametrize(
    "content",
    [b"", b"not audio at all" * 100, b"#EXTM3U\n#EXTINF:1,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n",
     b"ffconcat version 1.0\nfile '/etc/passwd'\n"],
    ids=["empty", "junk", "playlist", "concat"],
)  # fmt: skip
def test_what_is_not_plain_audio_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "upload"
    path.write_bytes(content)
    with pytest.raises(ClipError):
        decode_mono(path, 16000)


def test_too_long_audio_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ClipError, match="longer than"):
        decode_mono(write_wav(tmp_path / "a.wav", seconds=2.0), 8000, max_seconds=1.0)


def test_clips_are_cached_by_content_and_rate(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path / "clips")
    source = write_wav(tmp_path / "a.wav")
    first = cache.prepare(source, 16000)
    assert first.samples == 16000 and first.duration_s == pytest.approx(1.0)
    assert first.path.stat().st_size == 2 * 16000
    assert cache.prepare(source, 16000) == first
    assert cache.prepare(source, 48000).path != first.path
    write_wav(source, seconds=0.5)  # same name, new content: a new clip
    assert cache.prepare(source, 16000).samples == 8000
    assert not [p for p in (tmp_path / "clips").iterdir() if p.name.startswith(".")]


def test_the_least_recently_used_clips_go_but_never_fresh_ones(tmp_path: Path) -> None:
    hour_ago = time.time() - 3600
    for age in range(5):
        path = tmp_path / f"{age}.s16"
        path.write_bytes(b"\0\0")
        os.utime(path, (hour_ago - age, hour_ago - age))
    (tmp_path / "new.s16").write_bytes(b"\0\0")
    (tmp_path / "other.wav").write_bytes(b"")
    prune_oldest(tmp_path, "*.s16", keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.s16", "new.s16", "other.wav"]
    prune_oldest(tmp_path, "*.s16", keep=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.s16", "other.wav"]


@pytest.mark.parametrize(
    ("given", "cleaned"),
    [("siren.mp3", "siren.mp3"), ("../../etc/passwd", "passwd"),
     ("C:\\x\\alarm.wav", "alarm.wav"), ("..hidden.wav", "hidden.wav"),
     ("警报 1.wav", "警报 1.wav"), ("a;rm -rf *.wav", "a_rm -rf _.wav")],
)  # fmt: skip
def test_names_are_cleaned(given: str, cleaned: str) -> None:
    assert clean_name(given) == cleaned


@pytest.mark.parametrize("given", ["", "..", "/", "...", "a/"])
def test_names_with_nothing_left_are_refused(given: str) -> None:
    with pytest.raises(ValueError):
        clean_name(given)


async def chunks_of(data: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def test_an_upload_is_stored_listed_and_deleted(tmp_path: Path) -> None:
    files = AnnouncementFiles(tmp_path / "files")
    data = write_wav(tmp_path / "tone.wav").read_bytes()
    saved = await files.save("../alarm.wav", chunks_of(data))
    assert saved["name"] == "alarm.wav" and saved["bytes"] == len(data)
    assert saved["duration_s"] == pytest.approx(1.0, abs=0.02)
    assert [entry["name"] for entry in files.entries()] == ["alarm.wav"]
    assert files.path("alarm.wav").read_bytes() == data
    with pytest.raises(KeyError):
        files.path("../files/alarm.wav")
    files.delete("alarm.wav")
    assert files.entries() == []
    with pytest.raises(KeyError):
        files.delete("alarm.wav")


async def test_uploads_that_are_too_large_or_not_audio_leave_nothing(tmp_path: Path) -> None:
    files = AnnouncementFiles(tmp_path / "files", max_bytes=1000)
    with pytest.raises(FileTooLarge):
        await files.save("big.wav", chunks_of(b"x" * 2000, 300))
    files.max_bytes = 100_000
    with pytest.raises(ClipError):
        await files.save("junk.wav", chunks_of(b"junk" * 1000))
    assert list((tmp_path / "files").iterdir()) == []
