"""Export a time slice of a recording: one track as it is, or several mixed, to WAV or Ogg Opus.

Tracks are placed on the output timeline by their own start times, so a participant who joined
late is heard where they spoke, with silence before. Everything streams in CHUNK_SECONDS
pieces (read, resample, mix, encode), so an hour-long export holds a few seconds of audio per
track in memory. The output is written next to `out` and renamed into place when complete, so
a failed export never leaves a half-written file under the requested name."""

from __future__ import annotations

import os
import struct
import wave
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Literal, Protocol

import av
import numpy as np
import soxr

from mediacore.audio import float_to_int16, int16_to_float
from mediacore.clock import iso8601 as _iso
from mediacore.codecs.base import Pcm
from mediacore.limiter import Limiter
from recorder.filemode import restrict
from recorder.trackkinds import is_video_track

ExportFormat = Literal["wav", "opus"]

MAX_EXPORT_SECONDS = 24 * 3600
CHUNK_SECONDS = 10
MIX_TRACK = "mix"
OPUS_RATE = 48000  # the only rate Ogg Opus decoders are required to play
OPUS_BITRATE = 48000  # mono speech, transparent enough for review
WAV_HEADER_BYTES = 44
LIMIT_DBFS = -1.0  # the most a mix of several tracks may reach
LIMITER_RELEASE_PER_SECOND = 4.0  # gain recovery after a loud passage, as in the room mixer


class ExportError(ValueError):
    """The export cannot be made as asked; the message says why."""


@dataclass(frozen=True, slots=True)
class ExportResult:
    path: Path
    duration_s: float
    tracks: tuple[str, ...]


def export_slice(
    directory: Path,
    manifest: Mapping[str, Any],
    *,
    start: datetime,
    end: datetime,
    tracks: Sequence[str] | None = None,
    fmt: ExportFormat = "wav",
    out: Path,
    progress: Callable[[float], None] | None = None,
) -> ExportResult:
    """Write the audio of [start, end) of the recording in `directory` to `out`.

    `tracks` are track ids of `manifest` (None: the room mix); several are resampled to the
    highest of their rates (48 kHz for "opus") and summed through a limiter. The slice is
    clipped to the recording's audio. Naive datetimes are read as UTC. `progress` gets the
    fraction done, rising to 1.0. Raises ExportError for unknown tracks or format, an empty,
    too long or out-of-recording slice, or an unreadable track file."""
    if fmt not in ("wav", "opus"):
        raise ExportError(f"unknown export format {fmt!r}; use 'wav' or 'opus'")
    start, end = _utc(start), _utc(end)
    if end <= start:
        raise ExportError(f"the slice ends ({_iso(end)}) at or before it starts ({_iso(start)})")
    if (end - start).total_seconds() > MAX_EXPORT_SECONDS:
        raise ExportError(
            f"the slice is {(end - start).total_seconds() / 3600:.1f} h long; "
            f"at most {MAX_EXPORT_SECONDS / 3600:g} h can be exported at once"
        )
    described = _described_tracks(directory, manifest)
    if isinstance(tracks, str):  # a str is a Sequence[str] too; "mix" must not become m, i, x
        tracks = [tracks]
    chosen = list(dict.fromkeys(tracks)) if tracks is not None else [MIX_TRACK]
    if not chosen:
        raise ExportError("no track chosen to export")
    video = [t["id"] for t in manifest.get("tracks") or [] if is_video_track(t)]
    if set(chosen) & set(video):
        raise ExportError(
            f"{', '.join(t for t in chosen if t in video)}: a video track is exported on its "
            'own, with its audio beside it (recorder/videoexport.py, format "video")'
        )
    unknown = [track_id for track_id in chosen if track_id not in described]
    if unknown:
        raise ExportError(
            f"unknown track(s) {', '.join(unknown)}; "
            f"this recording has {', '.join(sorted(described)) or 'no tracks'}"
        )

    first = min(track.started_at for track in described.values())
    last = max(track.ended_at for track in described.values())
    slice_start, slice_end = max(start, first), min(end, last)
    if slice_end <= slice_start:
        raise ExportError(
            f"the slice {_iso(start)} - {_iso(end)} lies outside the recording, "
            f"which has audio from {_iso(first)} to {_iso(last)}"
        )

    sources = [described[track_id] for track_id in chosen]
    rate = OPUS_RATE if fmt == "opus" else max(source.rate for source in sources)
    total = round((slice_end - slice_start).total_seconds() * rate)
    partial = out.with_name(out.name + ".part")
    aligned: list[_AlignedTrack] = []
    try:
        for source in sources:
            aligned.append(_AlignedTrack(source, slice_start, slice_end, rate))
        writer: _AudioWriter = (
            _OpusWriter(partial, rate) if fmt == "opus" else _WavWriter(partial, rate)
        )
        try:
            chunk = CHUNK_SECONDS * rate
            mixer = _Mixer(len(aligned), rate)
            for position in range(0, total, chunk):
                count = min(chunk, total - position)
                writer.write(mixer.mix([track.read(position, count) for track in aligned]))
                if progress is not None:
                    progress((position + count) / total)
        finally:
            writer.close()
        restrict(partial)
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        for track in aligned:
            track.close()
    return ExportResult(path=out, duration_s=total / rate, tracks=tuple(chosen))


@dataclass(frozen=True, slots=True)
class _TrackFile:
    id: str
    path: Path
    rate: int
    samples: int  # whole samples available on disk
    started_at: datetime

    @property
    def ended_at(self) -> datetime:
        return self.started_at + timedelta(seconds=self.samples / self.rate)


def _described_tracks(directory: Path, manifest: Mapping[str, Any]) -> dict[str, _TrackFile]:
    """Every track of the manifest with the length of its audio on disk."""
    recording = manifest.get("state") == "recording"
    found: dict[str, _TrackFile] = {}
    for entry in manifest.get("tracks") or []:
        if is_video_track(entry):
            continue  # audio only: videoexport.py cuts video
        try:
            track_id = str(entry["id"])
            path = directory / str(entry["file"])
            rate = int(entry["rate"])
            started_at = _utc(datetime.fromisoformat(str(entry["started_at"])))
        except (KeyError, TypeError, ValueError) as error:
            raise ExportError(f"the manifest has a malformed track entry: {error}") from error
        if rate <= 0:
            raise ExportError(f"track {track_id} has an invalid rate {rate}")
        manifest_samples = int(entry.get("data_bytes") or 0) // 2
        try:
            disk_samples = max(0, path.stat().st_size - WAV_HEADER_BYTES) // 2
        except OSError:
            disk_samples = manifest_samples  # checked when the track is actually exported
        # A finished manifest covers exactly the verified audio; while recording, the file
        # is ahead of the last manifest rewrite.
        samples = disk_samples if recording else min(disk_samples, manifest_samples)
        found[track_id] = _TrackFile(track_id, path, rate, samples, started_at)
    return found


def _check_wav_header(track: _TrackFile, header: bytes) -> None:
    """Raise ExportError unless `header` is a canonical 16-bit mono PCM header at the rate."""
    if len(header) < WAV_HEADER_BYTES or header[0:4] != b"RIFF" or header[8:12] != b"WAVE":
        raise ExportError(f"track {track.id}: {track.path.name} is not a WAV file")
    fmt, channels, rate = struct.unpack_from("<HHI", header, 20)
    (bits,) = struct.unpack_from("<H", header, 34)
    if header[12:16] != b"fmt " or header[36:40] != b"data" or (fmt, channels, bits) != (1, 1, 16):
        raise ExportError(f"track {track.id}: {track.path.name} is not 16-bit mono PCM WAV")
    if rate != track.rate:
        raise ExportError(
            f"track {track.id}: {track.path.name} is at {rate} Hz, the manifest says {track.rate}"
        )


class _AlignedTrack:
    """One track's samples on the output timeline, read in order, silence where it has none."""

    def __init__(self, track: _TrackFile, start: datetime, end: datetime, rate: int) -> None:
        offset = (track.started_at - start).total_seconds()  # < 0: it began before the slice
        self._first = min(track.samples, max(0, round(-offset * track.rate)))
        self._last = min(
            track.samples, max(0, round((end - track.started_at).total_seconds() * track.rate))
        )
        self._next_input = self._first
        # Output position of the next sample not yet in `_pending`.
        self._pending_at = round((offset + self._first / track.rate) * rate)
        self._pending: Pcm = np.zeros(0, dtype=np.float32)
        self._chunk = CHUNK_SECONDS * track.rate
        self._file: BinaryIO | None = None
        self._stream: soxr.ResampleStream | None = None
        self._finished = self._last <= self._first
        if self._finished:
            return
        try:
            self._file = open(track.path, "rb")  # closed by close()
        except OSError as error:
            raise ExportError(
                f"track {track.id}: cannot read {track.path.name}: {error}"
            ) from error
        _check_wav_header(track, self._file.read(WAV_HEADER_BYTES))
        self._file.seek(WAV_HEADER_BYTES + 2 * self._first)
        if track.rate != rate:
            self._stream = soxr.ResampleStream(track.rate, rate, 1, dtype="float32", quality="HQ")

    def read(self, position: int, count: int) -> Pcm:
        """Output samples [position, position + count); calls must move forward."""
        end = position + count
        while not self._finished and self._pending_at + len(self._pending) < end:
            self._pending = np.concatenate((self._pending, self._convert_next_chunk()))
        result = np.zeros(count, dtype=np.float32)
        lo, hi = max(position, self._pending_at), min(end, self._pending_at + len(self._pending))
        if hi > lo:
            result[lo - position : hi - position] = self._pending[
                lo - self._pending_at : hi - self._pending_at
            ]
        drop = max(0, min(len(self._pending), end - self._pending_at))
        self._pending = self._pending[drop:]
        self._pending_at += drop
        return result

    def _convert_next_chunk(self) -> Pcm:
        assert self._file is not None  # not finished, so the file is open
        count = min(self._chunk, self._last - self._next_input)
        data = self._file.read(2 * count)
        self._next_input += count
        # A file shorter than its manifest said ends the track early rather than failing.
        self._finished = self._next_input >= self._last or len(data) < 2 * count
        samples = int16_to_float(np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2"))
        if self._stream is None:
            return samples
        return np.asarray(self._stream.resample_chunk(samples, last=self._finished), np.float32)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class _Mixer:
    """One track passes unchanged; several are summed and limited so the sum never clips
    (the room mixer's limiter, so an export sounds like the live mix)."""

    def __init__(self, tracks: int, rate: int) -> None:
        self._tracks = tracks
        self._limiter = Limiter(rate, LIMIT_DBFS, LIMITER_RELEASE_PER_SECOND)

    def mix(self, parts: list[Pcm]) -> Pcm:
        if self._tracks == 1:
            return parts[0]
        total = parts[0].copy()
        for part in parts[1:]:
            total += part
        return self._limiter.process(total)


class _AudioWriter(Protocol):
    def write(self, samples: Pcm) -> None: ...

    def close(self) -> None: ...


class _WavWriter:
    def __init__(self, path: Path, rate: int) -> None:
        self._wav = wave.open(str(path), "wb")  # closed by close()
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(rate)

    def write(self, samples: Pcm) -> None:
        self._wav.writeframes(float_to_int16(samples).astype("<i2", copy=False).tobytes())

    def close(self) -> None:
        self._wav.close()


class _OpusWriter:
    def __init__(self, path: Path, rate: int) -> None:
        self._container = av.open(str(path), "w", format="ogg")
        self._stream = self._container.add_stream("libopus", rate=rate, layout="mono")
        self._stream.codec_context.bit_rate = OPUS_BITRATE
        self._rate = rate
        self._pts = 0

    def write(self, samples: Pcm) -> None:
        frame = av.AudioFrame.from_ndarray(
            float_to_int16(samples)[None, :], format="s16", layout="mono"
        )
        frame.sample_rate = self._rate
        frame.pts = self._pts
        self._pts += len(samples)
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        finally:
            self._container.close()


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
