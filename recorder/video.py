"""One video track on disk: encoded frames remuxed, never decoded or re-encoded, into one
growing file cut into keyframe-aligned segments that are hashed and chained like the audio.

H.264 and H.265 go to fragmented MP4 (an init segment, then one moof+mdat fragment per GOP:
browsers play it from a plain <video src>, ffprobe reads it), VP8 to WebM (one Matroska
cluster per GOP). Both are written append-only into an in-memory sink, so a byte once on disk
never changes. The muxer closes a fragment (cluster) when a keyframe comes, so the bytes it has
given when a keyframe is muxed end at a keyframe boundary: once they hold SEGMENT_SECONDS of
video they become the next segment. As for audio (track.py), segments reach the disk through
a ChainedFile (chainedfile.py): a segment's bytes are fsynced before its journal line, so
recovery (recovery.py) finds at most one unjournalled tail."""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from recorder.chain import SegmentEntry
from recorder.chainedfile import ChainedFile

VIDEO_CLOCK = 90000  # pts ticks per second, as the video sources give them
TIME_BASE = Fraction(1, VIDEO_CLOCK)
SEGMENT_SECONDS = 1.0
AAC_FRAME = 1024  # samples per AAC frame: the audio beside a composite track's picture


class UnsupportedVideoCodecError(ValueError):
    """No container is defined for this codec."""


@dataclass(frozen=True, slots=True)
class VideoContainer:
    """How one codec is stored: `probe_format` reads a lone keyframe for the stream's
    parameters; `format` and `options` are the muxer's."""

    codec: str  # the video sources' name: "H264", "H265", "VP8"
    ffmpeg_codec: str  # what ffprobe reports: "h264", "hevc", "vp8"
    probe_format: str
    format: str
    suffix: str
    content_type: str
    options: dict[str, str] = field(default_factory=dict)


_FRAGMENTED_MP4 = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}
CONTAINERS: dict[str, VideoContainer] = {
    "H264": VideoContainer("H264", "h264", "h264", "mp4", ".mp4", "video/mp4", _FRAGMENTED_MP4),
    # Tagged "hev1", FFmpeg's default: with "hvc1" (which Safari wants) the muxer strips the
    # in-band parameter sets from the samples, and the recording would no longer hold every
    # NAL unit as the camera sent it (nor survive a mid-stream change of resolution).
    "H265": VideoContainer("H265", "hevc", "hevc", "mp4", ".mp4", "video/mp4", _FRAGMENTED_MP4),
    "VP8": VideoContainer("VP8", "vp8", "ivf", "webm", ".webm", "video/webm"),
}
CONTENT_TYPES = {c.suffix: c.content_type for c in CONTAINERS.values()}


def container_for(codec: str) -> VideoContainer:
    """The container for a source codec name ("H264", "h264", "VP8", ...).
    Raises: UnsupportedVideoCodecError."""
    found = CONTAINERS.get(codec.upper())
    if found is None:
        raise UnsupportedVideoCodecError(f"no container for video codec {codec!r}")
    return found


def is_video_file(name: str) -> bool:
    """Whether a track file name is one of ours for video (by its suffix)."""
    return Path(name).suffix.lower() in CONTENT_TYPES


class _Sink:
    """The muxer's output: it only appends (no seek, so the muxer writes streamable files)."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> int:
        self.data += data
        return len(data)

    def take(self) -> bytes:
        taken = bytes(self.data)
        self.data.clear()
        return taken


class VideoTrackWriter:
    """Remuxes one source's encoded frames into `path` in chained, keyframe-aligned segments.

    Call `write` for every frame in decode order (from a writer thread: it fsyncs) and `close`
    once. Frames before the first keyframe are skipped. Not thread-safe."""

    def __init__(
        self,
        path: Path,
        codec: str,
        recording_id: str,
        segment_seconds: float = SEGMENT_SECONDS,
        audio_rate: int | None = None,
    ) -> None:
        """Creates `path` and its journal; never overwrites. `audio_rate`: the file also has
        a mono AAC stream at that rate, fed with `write_audio` (a composite track's mix).

        Raises: UnsupportedVideoCodecError, FileExistsError, OSError."""
        self.container = container_for(codec)
        self.path = path
        self.recording_id = recording_id
        self.width: int | None = None
        self.height: int | None = None
        self.frames = 0  # muxed
        self.keyframes = 0
        self.frames_skipped = 0  # before the first keyframe, or refused by the muxer
        self._segment_ticks = max(1, round(segment_seconds * VIDEO_CLOCK))
        self._sink = _Sink()
        self._output: Any = None
        self._stream: Any = None
        self._first_pts: int | None = None
        self._last_dts: int | None = None
        self._last_pts = 0
        self._frame_ticks = 0
        self._segment_start = 0
        self._closed = False
        self._disk = ChainedFile(path, recording_id)
        self._audio_rate = audio_rate
        self._audio: Any = None  # its stream, from the first keyframe on
        self._audio_pending = np.zeros(0, dtype=np.float32)
        self.audio_samples = 0  # encoded

    @property
    def entries(self) -> tuple[SegmentEntry, ...]:
        return self._disk.entries

    @property
    def data_bytes(self) -> int:
        """Bytes on disk, all covered by `entries` (the init segment included)."""
        return self._disk.data_bytes

    @property
    def duration_ms(self) -> int:
        """From the first keyframe to the end of the last frame written."""
        if self._first_pts is None:
            return 0
        return (self._last_pts + self._frame_ticks) * 1000 // VIDEO_CLOCK

    def write(self, data: bytes, pts: int, keyframe: bool) -> list[SegmentEntry]:
        """Mux one frame (`pts` in 90 kHz ticks, increasing). Returns the segment it completed,
        if any. Raises: TrackFullError (disk full) or OSError; the file then ends at its last
        journalled segment and this writer must only be closed."""
        if self._closed:
            raise ValueError(f"video track {self.path} is closed")
        if self._output is None:
            if not keyframe or not self._open(data):
                self.frames_skipped += 1
                return []
            self._first_pts = pts
        assert self._first_pts is not None
        relative = pts - self._first_pts
        # Decode order must have rising timestamps; a source without B-frames (every WebRTC
        # and low-latency camera) gives pts == dts, untouched here.
        dts = (
            relative if self._last_dts is None or relative > self._last_dts else self._last_dts + 1
        )
        cut = keyframe and relative - self._segment_start >= self._segment_ticks
        packet = av.Packet(data)
        shown = max(relative, dts)
        packet.pts = shown
        packet.dts = dts
        packet.time_base = TIME_BASE
        packet.stream = self._stream
        packet.is_keyframe = keyframe
        try:
            self._output.mux(packet)
        except av.error.FFmpegError:
            self.frames_skipped += 1
            return []
        # (mux rescaled the packet's timestamps to the stream's time base: not read back)
        if self.frames:
            self._frame_ticks = max(0, shown - self._last_pts) or self._frame_ticks
        self._last_dts = dts
        self._last_pts = max(self._last_pts, shown)
        self.frames += 1
        self.keyframes += keyframe
        if not cut:
            return []
        self._segment_start = relative
        return self._disk.append(self._sink.take())

    def write_audio(self, pcm: np.ndarray, at: int | None = None) -> None:
        """Encode float PCM (mono, at `audio_rate`) starting at sample `at` (sample 0 is the
        first keyframe's moment; None: right after what was written). A gap (audio lost on the
        way) becomes silence, so the sound stays in step with the picture; nothing before the
        first keyframe is kept. Raises: like `write` (only a video keyframe cuts a segment)."""
        if self._closed or self._audio is None:
            return
        gap = 0 if at is None else at - self.audio_samples - len(self._audio_pending)
        silence = np.zeros(max(0, gap), dtype=np.float32)
        self._audio_pending = np.concatenate((self._audio_pending, silence, pcm.astype(np.float32)))
        while len(self._audio_pending) >= AAC_FRAME:
            chunk, self._audio_pending = np.split(self._audio_pending, [AAC_FRAME])
            frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="fltp", layout="mono")
            frame.rate = self._audio.rate
            frame.pts = self.audio_samples
            self.audio_samples += AAC_FRAME
            self._mux_audio(frame)

    def _mux_audio(self, frame: Any) -> None:
        try:
            for packet in self._audio.encode(frame):
                self._output.mux(packet)
        except av.error.FFmpegError:
            pass  # an audio packet the muxer refused: the picture goes on

    def close(self) -> list[SegmentEntry]:
        """Finish the container (its trailer), write what is left as the last segment, close
        the files. Returns: the new entries. Raises: like `write`; the files are closed
        regardless. Calling it again returns []."""
        if self._closed:
            return []
        self._closed = True
        try:
            if self._output is not None:
                if self._audio is not None:
                    self._mux_audio(None)  # the encoder's last frames
                try:
                    self._output.close()
                except av.error.FFmpegError:
                    pass  # the trailer is an index; every fragment before it is already out
            return self._disk.append(self._sink.take())
        finally:
            self._disk.close()

    def abandon(self) -> None:
        """Close the files as they are, after a failed write (the muxer has bytes the file
        lacks: anything appended now would follow a gap)."""
        if self._closed:
            return
        self._closed = True
        self._disk.close()

    def _open(self, keyframe: bytes) -> bool:
        """Start the container with the stream parameters read from the first keyframe (its
        parameter sets become the sample description). False if they cannot be read."""
        try:
            template = av.open(io.BytesIO(self._probe_payload(keyframe)), "r", self._probe_format)
        except (av.error.FFmpegError, OSError):
            return False
        try:
            if not template.streams.video:
                return False
            stream = template.streams.video[0]
            if not stream.width or not stream.height:
                return False
            output = av.open(self._sink, "w", format=self.container.format,
                             options=dict(self.container.options))  # fmt: skip
            # opaque: the template's decoder descriptor, so no encoder is looked up or opened
            self._stream = output.add_stream_from_template(stream, opaque=True)
            self._stream.time_base = TIME_BASE
            if self._audio_rate:
                self._audio = output.add_stream("aac", rate=self._audio_rate, layout="mono")
            self.width, self.height = stream.width, stream.height
        finally:
            template.close()
        self._output = output
        return True

    @property
    def _probe_format(self) -> str:
        return self.container.probe_format

    def _probe_payload(self, keyframe: bytes) -> bytes:
        if self.container.probe_format != "ivf":
            return keyframe
        # VP8 has no raw elementary-stream demuxer: one frame in an IVF file.
        header = struct.pack("<4sHH4sHHIIII", b"DKIF", 0, 32, b"VP80", 0, 0, VIDEO_CLOCK, 1, 1, 0)
        return header + struct.pack("<IQ", len(keyframe), 0) + keyframe


def probe_video(path: Path) -> dict[str, Any]:
    """What a (possibly truncated) video track file holds: {"codec", "width", "height",
    "frames", "duration_ms"}, read by demuxing only. Raises: OSError, av.error.FFmpegError."""
    with av.open(str(path), "r") as container:
        stream = container.streams.video[0]
        frames, first, last, step = 0, None, 0, 0
        try:
            for packet in container.demux(stream):
                if packet.pts is None or packet.size == 0:
                    continue
                ticks = int(packet.pts * packet.time_base * VIDEO_CLOCK)
                first = ticks if first is None else min(first, ticks)
                if frames and ticks > last:
                    step = ticks - last
                last = max(last, ticks)
                frames += 1
        except av.error.FFmpegError:
            pass  # a torn last fragment: everything before it counts
        duration = 0 if first is None else (last - first + step) * 1000 // VIDEO_CLOCK
        return {
            "codec": stream.codec_context.name,
            "width": stream.width,
            "height": stream.height,
            "frames": frames,
            "duration_ms": duration,
        }
