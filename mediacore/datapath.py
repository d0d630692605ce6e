"""The data path between the server process and a video process, with no I/O.

The control channel (mediacore.channel) carries requests and notifications as JSON and never a
packet. Media travels beside it, on a second stream socket, as binary frames: encoded video
access units (a camera's packets to the server's hub, a source's packets to a wall's decoder,
a WHEP wall output's packets back) and decoded audio (a camera's sound for the room mix).

A frame is a fixed 20-byte header, the source id, the codec name and the payload:

    length     u32  bytes that follow the length field
    kind       u8   1 video (one access unit: Annex B H.264/H.265, or a VP8 frame),
                    2 audio (mono float32 PCM, little-endian)
    flags      u8   bit 0: keyframe, bit 1: pts present; the other bits are zero
    id_len     u8   1..255 bytes of UTF-8 source id
    codec_len  u8   0..32 bytes of ASCII codec name ("H264", "H265", "VP8"; empty for audio)
    pts        i64  video: 90 kHz presentation time; audio: 0
    rate       u32  audio: sample rate in Hz (> 0); video: 0
    id, codec, payload

All integers are big-endian. `encode_frame(frame)` builds one; `MediaFrameDecoder.receive(data)`
returns the frames completed so far and keeps the rest. A frame that breaks these rules raises
DataPathError, after which the stream cannot be trusted and must be closed.

`Backlog` is the sender's rule for a receiver that falls behind: above a number of bytes
waiting, frames are dropped, and a video source that lost one waits for its next keyframe (a
gap in a predicted stream is only repaired by one), so the receiver never decodes from a
broken reference."""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

import numpy as np

from mediacore.codecs.base import Pcm

MAX_FRAME = 16 * 1024 * 1024  # an 8K keyframe is a few MiB at the walls' bit rates
MAX_CODEC = 32
_LENGTH = struct.Struct(">I")
_HEADER = struct.Struct(">BBBBqI")
_KEYFRAME = 0x01
_HAS_PTS = 0x02
_INT64 = (-(2**63), 2**63 - 1)


class DataPathError(ValueError):
    """A frame that breaks the data path's format; close the stream."""


class FrameKind(enum.IntEnum):
    VIDEO = 1
    AUDIO = 2


@dataclass(frozen=True, slots=True)
class MediaFrame:
    """One frame on the data path. Build them with `video()` and `audio()`."""

    kind: FrameKind
    source: str
    payload: bytes
    codec: str = ""
    pts: int | None = None
    keyframe: bool = False
    rate: int = 0

    def pcm(self) -> Pcm:
        """An audio frame's samples, as a new float32 array."""
        samples: Pcm = np.frombuffer(self.payload, dtype="<f4").astype(np.float32)
        return samples


def video(source: str, codec: str, data: bytes, pts: int | None, keyframe: bool) -> MediaFrame:
    return MediaFrame(FrameKind.VIDEO, source, data, codec, pts, keyframe)


def audio(source: str, pcm: Pcm, rate: int) -> MediaFrame:
    """Mono float32 `pcm` at `rate` Hz."""
    return MediaFrame(FrameKind.AUDIO, source, pcm.astype("<f4", copy=False).tobytes(), rate=rate)


def encode_frame(frame: MediaFrame) -> bytes:
    """The bytes of one frame. Raises DataPathError for a frame the format cannot carry (an
    empty or too long id, a codec name over 32 ASCII bytes, audio without a rate, too large)."""
    source = frame.source.encode()
    codec = frame.codec.encode("ascii", errors="replace")
    if not 0 < len(source) < 256 or len(codec) > MAX_CODEC:
        raise DataPathError(f"bad source id {frame.source!r} or codec {frame.codec!r}")
    if (frame.kind == FrameKind.AUDIO) != (frame.rate > 0) or frame.rate >= 2**32:
        raise DataPathError(f"audio needs a sample rate and video none, got {frame.rate}")
    if frame.kind == FrameKind.AUDIO and (frame.pts is not None or len(frame.payload) % 4):
        raise DataPathError("audio is whole float32 samples and has no pts")
    pts = frame.pts if frame.pts is not None else 0
    if not _INT64[0] <= pts <= _INT64[1]:
        raise DataPathError(f"pts {pts} does not fit in 64 bits")
    flags = (_KEYFRAME if frame.keyframe else 0) | (_HAS_PTS if frame.pts is not None else 0)
    header = _HEADER.pack(int(frame.kind), flags, len(source), len(codec), pts, frame.rate)
    length = len(header) + len(source) + len(codec) + len(frame.payload)
    if length > MAX_FRAME:
        raise DataPathError(f"a {length}-byte frame exceeds the data path's limit")
    return b"".join((_LENGTH.pack(length), header, source, codec, frame.payload))


class MediaFrameDecoder:
    """Splits a byte stream into frames; keeps at most one incomplete frame."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buffer = bytearray()

    def receive(self, data: bytes) -> list[MediaFrame]:
        """The frames completed by `data`; raises DataPathError on a bad frame."""
        self._buffer += data
        frames: list[MediaFrame] = []
        while len(self._buffer) >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(self._buffer)
            if length > self.max_frame:
                raise DataPathError(f"a {length}-byte frame exceeds {self.max_frame}")
            end = _LENGTH.size + length
            if len(self._buffer) < end:
                break
            body = bytes(self._buffer[_LENGTH.size : end])
            del self._buffer[:end]
            frames.append(decode_body(body))
        return frames


def decode_body(body: bytes) -> MediaFrame:
    """The frame in one length-delimited body; raises DataPathError when it is not one."""
    if len(body) < _HEADER.size:
        raise DataPathError(f"a {len(body)}-byte frame is shorter than the header")
    kind, flags, id_len, codec_len, pts, rate = _HEADER.unpack_from(body)
    if kind not in (FrameKind.VIDEO, FrameKind.AUDIO) or flags & ~(_KEYFRAME | _HAS_PTS):
        raise DataPathError(f"unknown frame kind {kind} or flags {flags:#x}")
    if id_len == 0 or codec_len > MAX_CODEC:
        raise DataPathError(f"bad id length {id_len} or codec length {codec_len}")
    start = _HEADER.size
    payload_at = start + id_len + codec_len
    if payload_at > len(body):
        raise DataPathError("the source id and codec run past the frame's end")
    try:
        source = body[start : start + id_len].decode()
        codec = body[start + id_len : payload_at].decode("ascii")
    except UnicodeDecodeError as error:
        raise DataPathError(f"source id or codec is not text: {error}") from None
    payload = body[payload_at:]
    has_pts = bool(flags & _HAS_PTS)
    if kind == FrameKind.AUDIO:
        if rate == 0 or has_pts or flags & _KEYFRAME or codec or len(payload) % 4:
            raise DataPathError("an audio frame is whole float32 samples at a rate, nothing else")
        return MediaFrame(FrameKind.AUDIO, source, payload, rate=rate)
    if rate != 0:
        raise DataPathError("a video frame has no sample rate")
    return MediaFrame(
        FrameKind.VIDEO,
        source,
        payload,
        codec,
        pts if has_pts else None,
        bool(flags & _KEYFRAME),
    )


class Backlog:
    """Which frames a sender still sends while `buffered` bytes wait for a slow receiver.

    At or above `limit` bytes, a frame is dropped; a video source that lost a frame then drops
    everything up to its next keyframe, even once the backlog has drained. Audio frames are
    dropped alone (the receiver's cushion conceals a gap)."""

    def __init__(self, limit: int = 8 * 1024 * 1024) -> None:
        self.limit = limit
        self.dropped = 0
        self._waiting: set[str] = set()

    def admit(self, kind: FrameKind, source: str, keyframe: bool, buffered: int) -> bool:
        """True to send the frame now, False to drop it (counted in `dropped`)."""
        video_frame = kind == FrameKind.VIDEO
        if video_frame and source in self._waiting:
            if not keyframe or buffered >= self.limit:
                self.dropped += 1
                return False
            self._waiting.discard(source)
            return True
        if buffered >= self.limit:
            self.dropped += 1
            if video_frame:
                self._waiting.add(source)
            return False
        return True

    def waiting(self, source: str) -> bool:
        """Whether `source` waits for a keyframe after a drop (the sender may ask for one)."""
        return source in self._waiting

    def forget(self, source: str) -> None:
        self._waiting.discard(source)
