"""Exporting a slice: tones written as tracks, measured in the exported file by time and level."""

from __future__ import annotations

import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from mediacore.audio import float_to_int16, int16_to_float, tone, tone_level_dbfs
from mediacore.codecs.base import Pcm
from recorder import export as export_module
from recorder.export import MAX_EXPORT_SECONDS, ExportError, export_slice

T0 = datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC)
MIX_HZ, ALICE_HZ, BOB_HZ = 440.0, 1000.0, 600.0
SECONDS = 4.0
LATE = 2.0  # Bob joins two seconds in, on an 8 kHz phone


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def write_track(directory: Path, name: str, pcm: Pcm, rate: int) -> int:
    with wave.open(str(directory / name), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(float_to_int16(pcm).astype("<i2").tobytes())
    return 2 * len(pcm)


def track(
    track_id: str, participant: str | None, file: str, rate: int, start: datetime, size: int
) -> dict[str, Any]:
    return {
        "id": track_id,
        "kind": "mix" if participant is None else "participant",
        "participant": participant,
        "file": file,
        "rate": rate,
        "started_at": iso(start),
        "data_bytes": size,
        "segments": [],
    }


@pytest.fixture
def recording(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    directory = tmp_path / "rec-1"
    directory.mkdir()
    mix = write_track(directory, "mix.wav", tone(MIX_HZ, SECONDS, 48000, -12), 48000)
    alice = write_track(directory, "alice.wav", tone(ALICE_HZ, SECONDS, 48000, -12), 48000)
    bob = write_track(directory, "bob.wav", tone(BOB_HZ, SECONDS - LATE, 8000, -12), 8000)
    manifest = {
        "id": "rec-1",
        "room": "alpha",
        "state": "stopped",
        "started_at": iso(T0),
        "stopped_at": iso(T0 + timedelta(seconds=SECONDS)),
        "tracks": [
            track("mix", None, "mix.wav", 48000, T0, mix),
            track("p-alice-48000", "p-alice", "alice.wav", 48000, T0, alice),
            track("p-bob-8000", "p-bob", "bob.wav", 8000, T0 + timedelta(seconds=LATE), bob),
        ],
    }
    return directory, manifest


def read_wav(path: Path) -> tuple[Pcm, int]:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        rate = wav.getframerate()
        data = wav.readframes(wav.getnframes())
    return int16_to_float(np.frombuffer(data, dtype="<i2")), rate


def level(pcm: Pcm, frequency: float, rate: int, start_s: float, end_s: float) -> float:
    return tone_level_dbfs(pcm[round(start_s * rate) : round(end_s * rate)], frequency, rate)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_the_mix_is_the_default_and_is_copied_exactly(
    recording: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    directory, manifest = recording
    result = export_slice(
        directory, manifest, start=at(0), end=at(SECONDS), out=tmp_path / "out.wav"
    )
    assert result.tracks == ("mix",) and result.duration_s == SECONDS
    exported = (tmp_path / "out.wav").read_bytes()[44:]
    assert exported == (directory / "mix.wav").read_bytes()[44:]


def test_a_late_joiner_is_silent_until_they_joined(
    recording: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    directory, manifest = recording
    out = tmp_path / "bob.wav"
    export_slice(directory, manifest, start=at(0), end=at(SECONDS), tracks=["p-bob-8000"], out=out)
    pcm, rate = read_wav(out)
    assert rate == 8000 and len(pcm) == SECONDS * rate
    joined = round(LATE * rate)
    assert not np.any(pcm[:joined])
    # Same rate, one track: Bob's samples land unchanged from the instant he joined.
    assert pcm[joined:].tobytes() == read_wav(directory / "bob.wav")[0].tobytes()
    assert level(pcm, BOB_HZ, rate, LATE, SECONDS) == pytest.approx(-12, abs=0.2)


def test_chosen_tracks_are_mixed_at_the_highest_rate_and_aligned(
    recording: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    directory, manifest = recording
    out = tmp_path / "two.wav"
    result = export_slice(
        directory,
        manifest,
        start=at(0),
        end=at(SECONDS),
        tracks=["p-alice-48000", "p-bob-8000"],
        out=out,
    )
    pcm, rate = read_wav(out)
    assert rate == 48000 and result.duration_s == SECONDS and len(pcm) == SECONDS * rate
    assert level(pcm, ALICE_HZ, rate, 0.1, 1.9) == pytest.approx(-12, abs=0.3)
    assert level(pcm, ALICE_HZ, rate, 2.1, 3.9) == pytest.approx(-12, abs=0.3)
    assert level(pcm, BOB_HZ, rate, 0.1, 1.9) < -60
    assert level(pcm, BOB_HZ, rate, 2.1, 3.9) == pytest.approx(-12, abs=0.3)
    # Bob's onset, found in 5 ms blocks of the 600 Hz level, is at 2.0 s.
    onset = next(
        t for t in np.arange(1.5, 2.5, 0.005) if level(pcm, BOB_HZ, rate, t, t + 0.005) > -30
    )
    assert onset == pytest.approx(LATE, abs=0.006)


def test_chunked_streaming_leaves_no_seams(
    recording: tuple[Path, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory, manifest = recording
    tracks = ["p-alice-48000", "p-bob-8000"]
    whole = export_slice(
        directory, manifest, start=at(0), end=at(SECONDS), tracks=tracks, out=tmp_path / "a.wav"
    )
    monkeypatch.setattr(export_module, "CHUNK_SECONDS", 1)
    chunked = export_slice(
        directory, manifest, start=at(0), end=at(SECONDS), tracks=tracks, out=tmp_path / "b.wav"
    )
    a, _ = read_wav(whole.path)
    b, _ = read_wav(chunked.path)
    assert len(a) == len(b)
    assert np.max(np.abs(a - b)) < 1e-3


def test_loud_tracks_are_limited_not_clipped(tmp_path: Path) -> None:
    directory = tmp_path / "rec-loud"
    directory.mkdir()
    # Peak 0.89 each, in phase: the sum reaches 1.78. The first half is at 40 %: no limiting.
    loud = tone(300.0, 1.0, 48000, -4)
    loud[:24000] *= 0.4
    size = write_track(directory, "a.wav", loud, 48000)
    write_track(directory, "b.wav", loud, 48000)
    tracks = [
        track("a", "p-a", "a.wav", 48000, T0, size),
        track("b", "p-b", "b.wav", 48000, T0, size),
    ]
    out = tmp_path / "loud.wav"
    export_slice(
        directory,
        {"state": "stopped", "tracks": tracks},
        start=at(0),
        end=at(1),
        tracks=["a", "b"],
        out=out,
    )
    pcm, rate = read_wav(out)
    total = int16_to_float(float_to_int16(loud)) * 2
    assert np.allclose(pcm[:23900], total[:23900], atol=1e-4)  # untouched below -1 dBFS
    assert np.max(np.abs(pcm)) <= 10 ** (-1 / 20) + 1e-4
    # Turned down, not flattened: a clean 300 Hz at -1 dBFS peak with no clipping harmonics.
    assert level(pcm, 300.0, rate, 0.6, 1.0) == pytest.approx(-1 - 3.01, abs=0.3)
    assert level(pcm, 900.0, rate, 0.6, 1.0) < -50


def test_a_slice_past_either_end_is_clipped_to_the_recording(
    recording: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    directory, manifest = recording
    out = tmp_path / "clipped.wav"
    result = export_slice(directory, manifest, start=at(-5), end=at(1), out=out)
    assert result.duration_s == 1.0
    result = export_slice(
        directory, manifest, start=at(3.5), end=at(60), tracks=["p-bob-8000"], out=out
    )
    assert result.duration_s == pytest.approx(0.5)
    pcm, rate = read_wav(out)
    assert len(pcm) == 0.5 * rate
    assert level(pcm, BOB_HZ, rate, 0, 0.5) == pytest.approx(-12, abs=0.3)


def test_a_slice_inside_the_recording_starts_at_its_own_time(
    recording: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    directory, manifest = recording
    out = tmp_path / "middle.wav"
    export_slice(directory, manifest, start=at(1.5), end=at(2.5), tracks=["p-bob-8000"], out=out)
    pcm, rate = read_wav(out)
    assert len(pcm) == rate
    assert not np.any(pcm[: rate // 2])
    assert level(pcm, BOB_HZ, rate, 0.5, 1.0) == pytest.approx(-12, abs=0.3)


@pytest.mark.parametrize(
    ("start", "end", "tracks", "fmt", "message"),
    [
        (0, 1, ["p-nobody"], "wav", "unknown track"),
        (0, 1, [], "wav", "no track"),
        (2, 2, None, "wav", "at or before it starts"),
        (2, 1, None, "wav", "at or before it starts"),
        (0, MAX_EXPORT_SECONDS + 1, None, "wav", "at most"),
        (10, 20, None, "wav", "outside the recording"),
        (-20, -10, None, "wav", "outside the recording"),
        (0, 1, None, "mp3", "unknown export format"),
    ],
)
def test_impossible_exports_are_refused_clearly(
    recording: tuple[Path, dict[str, Any]],
    tmp_path: Path,
    start: float,
    end: float,
    tracks: list[str] | None,
    fmt: Any,
    message: str,
) -> None:
    directory, manifest = recording
    out = tmp_path / "refused.wav"
    with pytest.raises(ExportError, match=message):
        export_slice(
            directory, manifest, start=at(start), end=at(end), tracks=tracks, fmt=fmt, out=out
        )
    assert not out.exists()


def test_a_missing_track_file_fails_without_leaving_a_file(
    recording: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    directory, manifest = recording
    (directory / "alice.wav").unlink()
    out = tmp_path / "missing.wav"
    with pytest.raises(ExportError, match="p-alice-48000"):
        export_slice(
            directory, manifest, start=at(0), end=at(1), tracks=["mix", "p-alice-48000"], out=out
        )
    assert list(tmp_path.glob("missing.wav*")) == []


def test_opus_export_decodes_to_the_slice_duration(
    recording: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    directory, manifest = recording
    out = tmp_path / "slice.ogg"
    result = export_slice(
        directory, manifest, start=at(1), end=at(3), tracks=["p-bob-8000"], fmt="opus", out=out
    )
    assert result.duration_s == 2.0
    with av.open(str(out)) as container:
        assert container.format.name == "ogg"
        stream = container.streams.audio[0]
        assert stream.codec_context.name == "opus"
        frames = [frame.to_ndarray().reshape(-1) for frame in container.decode(stream)]
        rate = stream.codec_context.sample_rate
    pcm = np.concatenate(frames).astype(np.float32)
    assert rate == 48000
    assert len(pcm) / rate == pytest.approx(2.0, abs=0.02)
    assert level(pcm, BOB_HZ, rate, 0.1, 0.9) < -50  # before Bob joined
    assert level(pcm, BOB_HZ, rate, 1.1, 1.9) == pytest.approx(-12, abs=1.0)


def test_progress_rises_to_one(
    recording: tuple[Path, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory, manifest = recording
    monkeypatch.setattr(export_module, "CHUNK_SECONDS", 1)
    seen: list[float] = []
    export_slice(
        directory,
        manifest,
        start=at(0.5),
        end=at(SECONDS),
        out=tmp_path / "p.wav",
        progress=seen.append,
    )
    assert len(seen) == 4
    assert seen == sorted(seen) and all(0 < f <= 1 for f in seen)
    assert seen[-1] == 1.0


def test_naive_times_are_read_as_utc(
    recording: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    directory, manifest = recording
    naive = T0.replace(tzinfo=None)
    result = export_slice(
        directory, manifest, start=naive, end=naive + timedelta(seconds=1), out=tmp_path / "n.wav"
    )
    assert result.duration_s == 1.0
