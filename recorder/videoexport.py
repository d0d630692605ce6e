"""Export a time slice of a video track: its packets copied, never re-encoded, from the last
keyframe at or before the slice start (a decoder can only begin there) to the slice end, into
the track's own container kind, with audio beside it (the room mix by default) as Opus.

The audio is rendered by export.py (Ogg Opus, the same mix and limiter as an audio export) and
its packets are then copied in too, placed at their UTC time relative to the cut keyframe. The
output is written next to `out` and renamed into place when complete."""

from __future__ import annotations

import contextlib
import heapq
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from recorder.export import ExportError, ExportResult, export_slice
from recorder.filemode import restrict
from recorder.trackkinds import is_video_track
from recorder.video import TIME_BASE, VIDEO_CLOCK, container_for

# A slice that is seekable and plays at once in a browser: moov first (faststart).
_OUTPUT_OPTIONS = {"mp4": {"movflags": "+faststart"}, "webm": {}}


def video_track(manifest: Mapping[str, Any], track_id: str) -> Mapping[str, Any]:
    """The manifest entry of video track `track_id`. Raises: ExportError."""
    for entry in manifest.get("tracks") or []:
        if entry.get("id") == track_id and is_video_track(entry):
            return dict(entry)
    raise ExportError(f"no video track {track_id!r} in this recording")


def export_suffix(manifest: Mapping[str, Any], track_id: str) -> str:
    """The file suffix of a video export of `track_id` (".mp4", ".webm")."""
    return container_for(str(video_track(manifest, track_id).get("codec"))).suffix


def export_video_slice(
    directory: Path,
    manifest: Mapping[str, Any],
    *,
    start: datetime,
    end: datetime,
    track: str,
    audio: Sequence[str] | None = None,
    out: Path,
    progress: Callable[[float], None] | None = None,
) -> ExportResult:
    """Write [start, end) of video track `track` to `out`, cut at keyframes, with the audio
    tracks `audio` mixed (None: the room mix; []: no audio). Naive datetimes are UTC.

    Returns: the result, `duration_s` from the cut keyframe to the last frame's end.
    Raises: ExportError for an unknown track, a slice with no video in it, or an unreadable
    file."""
    entry = video_track(manifest, track)
    start, end = _utc(start), _utc(end)
    if end <= start:
        raise ExportError("the slice must end after it starts")
    try:
        began = _utc(datetime.fromisoformat(str(entry["started_at"])))
        container = container_for(str(entry["codec"]))
    except (KeyError, TypeError, ValueError) as error:
        raise ExportError(f"video track {track}: malformed manifest entry: {error}") from error
    path = directory / str(entry["file"])
    first_tick = round((start - began).total_seconds() * VIDEO_CLOCK)
    end_tick = round((end - began).total_seconds() * VIDEO_CLOCK)
    cut = _cut_keyframe(path, first_tick, end_tick)
    cut_at = began + timedelta(seconds=cut / VIDEO_CLOCK)
    partial = out.with_name(out.name + ".part")
    sound = out.with_name(out.name + ".audio.ogg")
    try:
        has_audio = audio != [] and _render_audio(
            directory, manifest, cut_at, end, audio, sound, progress
        )
        duration = _remux(path, sound if has_audio else None, cut, end_tick, cut_at,
                          _first_audio(manifest, audio), container.format, partial)  # fmt: skip
        restrict(partial)
        os.replace(partial, out)
    except av.error.FFmpegError as error:
        partial.unlink(missing_ok=True)
        raise ExportError(f"video track {track}: cannot remux: {error}") from error
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        sound.unlink(missing_ok=True)
    if progress is not None:
        progress(1.0)
    chosen = (track, *(audio if audio is not None else ["mix"])) if has_audio else (track,)
    return ExportResult(path=out, duration_s=duration, tracks=tuple(chosen))


def _cut_keyframe(path: Path, first_tick: int, end_tick: int) -> int:
    """The pts of the last keyframe at or before `first_tick` (else the first one after).
    Raises: ExportError if no frame of the track is shown inside the slice."""
    cut: int | None = None
    shown = False  # a frame lies in the slice, or the one before it is still on screen
    previous: int | None = None
    try:
        with av.open(str(path)) as source:
            stream = source.streams.video[0]
            for packet in source.demux(stream):
                if packet.pts is None or not packet.size:
                    continue
                tick = _ticks(packet.pts, packet.time_base)
                if tick >= end_tick:
                    shown = shown or previous is not None
                    break
                if tick >= first_tick:
                    shown = True
                previous = tick
                if packet.is_keyframe and (cut is None or tick <= first_tick):
                    cut = tick
                if shown and cut is not None and tick > first_tick:
                    break
    except (OSError, av.error.FFmpegError) as error:
        raise ExportError(f"cannot read {path.name}: {error}") from error
    if cut is None or not shown:
        raise ExportError("the slice holds no video of this track")
    return cut


def _render_audio(
    directory: Path,
    manifest: Mapping[str, Any],
    start: datetime,
    end: datetime,
    audio: Sequence[str] | None,
    out: Path,
    progress: Callable[[float], None] | None,
) -> bool:
    """The audio of [start, end) as Ogg Opus in `out`; False if the slice has none."""
    if audio is None and not any(t.get("id") == "mix" for t in manifest.get("tracks") or []):
        return False

    def half(fraction: float) -> None:
        if progress is not None:
            progress(fraction / 2)

    try:
        export_slice(directory, manifest, start=start, end=end, tracks=audio, fmt="opus",
                     out=out, progress=half)  # fmt: skip
    except ExportError as error:
        if "outside the recording" in str(error):
            return False
        raise
    return True


def _first_audio(manifest: Mapping[str, Any], audio: Sequence[str] | None) -> datetime:
    """Where export.py's audio timeline starts: the earliest audio track's start."""
    starts = [
        _utc(datetime.fromisoformat(str(t["started_at"])))
        for t in manifest.get("tracks") or []
        if not is_video_track(t)
    ]
    return min(starts) if starts else datetime.min.replace(tzinfo=UTC)


def _remux(
    path: Path,
    sound: Path | None,
    cut: int,
    end_tick: int,
    cut_at: datetime,
    audio_began: datetime,
    fmt: str,
    out: Path,
) -> float:
    """Copy the video packets of [cut, end_tick) and the audio packets into `out`, merged in
    time order (the muxer would otherwise hold the whole video waiting for audio). Returns the
    video's duration in seconds."""
    span = [cut, cut, 0]  # first, last pts, last frame step
    with contextlib.ExitStack() as stack:
        source = stack.enter_context(av.open(str(path)))
        output = stack.enter_context(
            av.open(str(out), "w", format=fmt, options=_OUTPUT_OPTIONS[fmt])
        )
        video_in = source.streams.video[0]
        video_out = output.add_stream_from_template(video_in, opaque=True)
        video_out.time_base = TIME_BASE
        streams: list[Iterator[tuple[float, int, Any]]] = [
            _video_packets(source, video_in, video_out, cut, end_tick, span)
        ]
        if sound is not None:
            audio_source = stack.enter_context(av.open(str(sound)))
            audio_in = audio_source.streams.audio[0]
            audio_out = output.add_stream_from_template(audio_in, opaque=True)
            # export.py clips to the recording's audio: it may start after the cut.
            lead = max(timedelta(0), audio_began - cut_at).total_seconds()
            streams.append(_audio_packets(audio_source, audio_in, audio_out, lead))
        for _, _, packet in heapq.merge(*streams, key=lambda item: item[:2]):
            output.mux(packet)
    return (span[1] - cut + span[2]) / VIDEO_CLOCK


def _video_packets(
    source: Any, stream: Any, out: Any, cut: int, end_tick: int, span: list[int]
) -> Iterator[tuple[float, int, Any]]:
    for packet in source.demux(stream):
        if packet.pts is None or not packet.size:
            continue
        tick = _ticks(packet.pts, packet.time_base)
        dts = _ticks(packet.dts, packet.time_base) if packet.dts is not None else tick
        if dts < cut:
            continue
        if tick >= end_tick:
            return
        span[2] = max(0, tick - span[1]) or span[2]
        span[1] = max(span[1], tick)
        packet.pts, packet.dts = tick - cut, dts - cut
        packet.time_base = TIME_BASE
        packet.stream = out
        yield (dts - cut) / VIDEO_CLOCK, 0, packet


def _audio_packets(
    source: Any, stream: Any, out: Any, lead: float
) -> Iterator[tuple[float, int, Any]]:
    base = stream.time_base or Fraction(1, 48000)
    offset = round(lead / base)
    for packet in source.demux(stream):
        if packet.pts is None or not packet.size:
            continue
        packet.pts += offset
        if packet.dts is not None:
            packet.dts += offset
        packet.stream = out
        yield float((packet.dts if packet.dts is not None else packet.pts) * base), 1, packet


def _ticks(value: int, time_base: Fraction | None) -> int:
    return round(value * (time_base or TIME_BASE) * VIDEO_CLOCK)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
