"""MPEG-2 Program Stream (ISO/IEC 13818-1 section 2.5) as GB/T 28181 carries it over RTP.

No I/O here. A GB/T 28181 device sends one PS pack per frame, split over RTP packets of payload
type 96 (RFC 2250-style: the payload is just the next slice of the byte stream) with the marker
bit on the last one. `PsDemuxer.feed()` takes the payloads in order and returns the complete
access units; call `PsDemuxer.lost()` when the RTP sequence numbers show a gap. `PsMuxer` writes
the same shape (pack header, system header and map before keyframes, PES packets) for tests and
device simulators.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MAX_FRAME_BYTES = 4 * 1024 * 1024
MAX_PES_PAYLOAD = 65535 - 3 - 10  # PES_packet_length counts the 3 flag bytes and PTS+DTS

PACK_START = b"\x00\x00\x01\xba"
SYSTEM_HEADER_ID = 0xBB
PSM_ID = 0xBC
VIDEO_STREAM_ID = 0xE0
AUDIO_STREAM_ID = 0xC0

STREAM_TYPES = {0x1B: "h264", 0x24: "h265", 0x90: "pcma", 0x91: "pcmu", 0x0F: "aac"}
STREAM_TYPE_OF = {codec: stream_type for stream_type, codec in STREAM_TYPES.items()}
_VIDEO_CODECS = frozenset({"h264", "h265"})
# PES stream ids we skip by their length field: padding, private streams, ECM/EMM, directory.
_SKIPPED_IDS = frozenset({0xBD, 0xBE, 0xBF, 0xF0, 0xF1, 0xF2, 0xF8, 0xFF})


class PsError(ValueError):
    """A program stream the muxer cannot write (for example a frame over MAX_FRAME_BYTES)."""


@dataclass(frozen=True, slots=True)
class DemuxedFrame:
    """One access unit: video in Annex-B with start codes, audio as the raw codec frame."""

    kind: str  # "video" | "audio"
    codec: str  # "h264" | "h265" | "pcma" | "pcmu" | "aac"
    pts: int  # 90 kHz, 33 bits
    data: bytes
    keyframe: bool = False


def nal_types(codec: str, annexb: bytes) -> list[int]:
    """The NAL unit types in an Annex-B buffer (H.264: 5 bits, H.265: 6 bits)."""
    types: list[int] = []
    at = annexb.find(b"\x00\x00\x01")
    while at >= 0 and at + 3 < len(annexb):
        header = annexb[at + 3]
        types.append(header & 0x1F if codec == "h264" else (header >> 1) & 0x3F)
        at = annexb.find(b"\x00\x00\x01", at + 3)
    return types


def is_keyframe(codec: str, annexb: bytes) -> bool:
    """True if the access unit holds an H.264 IDR slice (type 5) or an H.265 IRAP (16-23)."""
    if codec == "h264":
        return 5 in nal_types(codec, annexb)
    if codec == "h265":
        return any(16 <= t <= 23 for t in nal_types(codec, annexb))
    return False


def _read_timestamp(b: bytes, at: int) -> int:
    return (
        ((b[at] >> 1) & 0x07) << 30
        | b[at + 1] << 22
        | (b[at + 2] >> 1) << 15
        | b[at + 3] << 7
        | b[at + 4] >> 1
    )


def _write_timestamp(prefix: int, ts: int) -> bytes:
    ts &= (1 << 33) - 1
    return bytes(
        (
            prefix << 4 | ((ts >> 29) & 0x0E) | 1,
            (ts >> 22) & 0xFF,
            ((ts >> 14) & 0xFE) | 1,
            (ts >> 7) & 0xFF,
            ((ts << 1) & 0xFE) | 1,
        )
    )


class _Unit:
    """Results of looking at the buffer: need more bytes, skip garbage, or a unit of n bytes."""

    MORE = -1
    GARBAGE = -2


class PsDemuxer:
    """Reassembles PS packs from RTP payloads and yields access units.

    Bounded: the buffer and a frame never grow past MAX_FRAME_BYTES; anything malformed is
    dropped, counted in `dropped_bytes`, and parsing resumes at the next pack start code.
    Without a program stream map the video codec is taken to be H.264 and audio G.711A.
    """

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self.max_frame_bytes = max_frame_bytes
        self.codecs: dict[int, str] = {}  # stream id -> codec, from the program stream map
        self.dropped_bytes = 0
        self.dropped_frames = 0
        self._buffer = bytearray()
        self._synced = False  # after loss or garbage: wait for a pack header
        self._video = bytearray()
        self._video_pts: int | None = None
        self._video_codec = "h264"
        self._audio_pts = 0
        self._timestamp: int | None = None
        self._out: list[DemuxedFrame] = []

    def feed(self, payload: bytes, marker: bool, timestamp: int) -> list[DemuxedFrame]:
        """Take the next RTP payload in sequence; return the access units it completed.

        `marker` (the RTP M bit) ends the current video frame; a changed RTP `timestamp` while
        a PES packet is still incomplete means the end of the last frame was lost, so the
        partial frame is dropped. Never raises on bad input."""
        if self._timestamp is not None and timestamp != self._timestamp and self._buffer:
            self._parse(final=True)  # an unbounded PES ends where the next frame begins
            if self._buffer and self._synced:
                self._drop("frame ended without its last packet")
        self._timestamp = timestamp
        self._buffer += payload
        self._parse(final=marker)
        if marker:
            self._flush_video()
        if len(self._buffer) > self.max_frame_bytes:
            self._drop("buffer over the frame limit")
        out, self._out = self._out, []
        return out

    def lost(self) -> None:
        """Tell the demuxer packets were lost: drop the partial frame, resync at a pack header."""
        self._drop("packet loss")

    def _drop(self, _why: str) -> None:
        self.dropped_bytes += len(self._buffer)
        if self._video or (self._buffer and self._synced):
            self.dropped_frames += 1
        self._buffer.clear()
        self._video.clear()
        self._video_pts = None
        self._synced = False

    def _parse(self, final: bool) -> None:
        buf = self._buffer
        at = 0
        while True:
            if not self._synced:
                found = buf.find(PACK_START, at)
                if found < 0:
                    keep = max(at, len(buf) - 3)  # a start code may straddle two payloads
                    self.dropped_bytes += keep - at
                    at = keep
                    break
                self.dropped_bytes += found - at
                at = found
                self._synced = True
            size = self._unit_size(at, final)
            if size == _Unit.MORE:
                break
            if size == _Unit.GARBAGE:
                self._video.clear()
                self._video_pts = None
                self._synced = False
                at += 1
                continue
            self._handle(bytes(buf[at : at + size]))
            at += size
        del buf[:at]

    def _unit_size(self, at: int, final: bool) -> int:
        buf = self._buffer
        if len(buf) - at < 6:
            return _Unit.MORE
        if buf[at : at + 3] != b"\x00\x00\x01":
            return _Unit.GARBAGE
        stream_id = buf[at + 3]
        if stream_id == 0xBA:
            if len(buf) - at < 14:
                return _Unit.MORE
            if buf[at + 4] >> 6 != 0b01:  # MPEG-1 pack headers do not occur in GB/T 28181
                return _Unit.GARBAGE
            return 14 + (buf[at + 13] & 0x07)
        if stream_id < 0xBB:
            return _Unit.GARBAGE
        length = int.from_bytes(buf[at + 4 : at + 6], "big")
        if length == 0 and 0xE0 <= stream_id <= 0xEF:
            # Unbounded video PES: it runs to the next PS start code (ids >= 0xB9 never start
            # a valid H.264/H.265 NAL unit, whose first byte is below 0x80), or to the marker.
            scan = at + 6
            while True:
                nxt = buf.find(b"\x00\x00\x01", scan)
                if nxt < 0 or nxt + 3 >= len(buf):
                    return len(buf) - at if final else _Unit.MORE
                if buf[nxt + 3] >= 0xB9:
                    return nxt - at
                scan = nxt + 1
        if len(buf) - at < 6 + length:
            return _Unit.MORE
        return 6 + length

    def _handle(self, unit: bytes) -> None:
        stream_id = unit[3]
        if stream_id == PSM_ID:
            self._parse_psm(unit)
        elif 0xE0 <= stream_id <= 0xEF or 0xC0 <= stream_id <= 0xDF:
            self._parse_pes(unit)
        # Pack headers, system headers and the skipped ids carry nothing we need.

    def _parse_psm(self, unit: bytes) -> None:
        if len(unit) < 16:
            return
        info_length = int.from_bytes(unit[8:10], "big")
        at = 10 + info_length
        if at + 2 > len(unit):
            return
        map_end = min(at + 2 + int.from_bytes(unit[at : at + 2], "big"), len(unit))
        at += 2
        codecs: dict[int, str] = {}
        while at + 4 <= map_end:
            stream_type, stream_id = unit[at], unit[at + 1]
            codec = STREAM_TYPES.get(stream_type)
            if codec is not None:
                codecs[stream_id] = codec
            at += 4 + int.from_bytes(unit[at + 2 : at + 4], "big")
        self.codecs = codecs  # the CRC is not checked: many cameras write a wrong one

    def _parse_pes(self, unit: bytes) -> None:
        stream_id = unit[3]
        if len(unit) < 9 or unit[6] >> 6 != 0b10:
            return
        flags = unit[7] >> 6
        start = 9 + unit[8]
        if start > len(unit):
            return
        pts: int | None = None
        if flags & 0b10 and unit[8] >= 5:
            pts = _read_timestamp(unit, 9)
        payload = unit[start:]
        if stream_id >= 0xE0:
            self._video_data(stream_id, pts, payload)
        else:
            codec = self.codecs.get(stream_id, "pcma")
            if codec in _VIDEO_CODECS or not payload:
                return
            if pts is not None:
                self._audio_pts = pts
            self._out.append(DemuxedFrame("audio", codec, self._audio_pts, payload, False))

    def _video_data(self, stream_id: int, pts: int | None, payload: bytes) -> None:
        if pts is not None and pts != self._video_pts:
            self._flush_video()
            self._video_pts = pts
            self._video_codec = self.codecs.get(stream_id, "h264")
        elif self._video_pts is None:
            return  # a continuation PES whose first part we never saw
        if len(self._video) + len(payload) > self.max_frame_bytes:
            self.dropped_frames += 1  # the stream is still aligned: drop the frame only
            self._video.clear()
            self._video_pts = None
            return
        self._video += payload

    def _flush_video(self) -> None:
        if self._video_pts is not None and self._video:
            data = bytes(self._video)
            codec = self._video_codec
            keyframe = is_keyframe(codec, data)
            self._out.append(DemuxedFrame("video", codec, self._video_pts, data, keyframe))
        self._video.clear()
        self._video_pts = None


def _crc32_mpeg2(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


class PsMuxer:
    """Writes PS packs the way GB/T 28181 cameras do: one pack per frame, with a system header
    and a program stream map before every keyframe. `video_codec` None: an audio-only stream
    (a talkback's voice)."""

    def __init__(self, video_codec: str | None = "h264", audio_codec: str | None = "pcma") -> None:
        if video_codec is not None and video_codec not in _VIDEO_CODECS:
            raise PsError(f"unknown video codec {video_codec!r}")
        if audio_codec is not None and audio_codec not in STREAM_TYPE_OF:
            raise PsError(f"unknown audio codec {audio_codec!r}")
        self.video_codec = video_codec
        self.audio_codec = audio_codec

    def video(self, annexb: bytes, pts: int, dts: int | None = None) -> bytes:
        """One pack holding an Annex-B access unit; raises PsError over MAX_FRAME_BYTES."""
        if self.video_codec is None:
            raise PsError("this muxer carries no video")
        if len(annexb) > MAX_FRAME_BYTES:
            raise PsError(f"frame of {len(annexb)} bytes is over {MAX_FRAME_BYTES}")
        out = bytearray(self._pack_header(pts if dts is None else dts))
        if is_keyframe(self.video_codec, annexb):
            out += self._system_header() + self._psm()
        chunks = [annexb[i : i + MAX_PES_PAYLOAD] for i in range(0, len(annexb), MAX_PES_PAYLOAD)]
        for index, chunk in enumerate(chunks or [b""]):
            out += self._pes(VIDEO_STREAM_ID, chunk, pts if index == 0 else None, dts)
        return bytes(out)

    def audio(self, frame: bytes, pts: int, with_map: bool = False) -> bytes:
        """One pack holding one audio frame (G.711 or AAC with its ADTS header); `with_map`
        puts the system header and program stream map before it (an audio-only stream's
        first pack, and now and then after)."""
        if len(frame) > MAX_PES_PAYLOAD:
            raise PsError(f"audio frame of {len(frame)} bytes is over {MAX_PES_PAYLOAD}")
        head = self._pack_header(pts)
        if with_map:
            head += self._system_header() + self._psm()
        return head + self._pes(AUDIO_STREAM_ID, frame, pts, None)

    @staticmethod
    def _pack_header(scr: int) -> bytes:
        scr &= (1 << 33) - 1
        mux_rate = 6106  # units of 50 bytes/s, as Hikvision cameras write it
        return PACK_START + bytes(
            (
                0x44 | ((scr >> 27) & 0x38) | ((scr >> 28) & 0x03),
                (scr >> 20) & 0xFF,
                ((scr >> 12) & 0xF8) | 0x04 | ((scr >> 13) & 0x03),
                (scr >> 5) & 0xFF,
                ((scr << 3) & 0xF8) | 0x04,  # SCR extension 0
                0x01,
                (mux_rate >> 14) & 0xFF,
                (mux_rate >> 6) & 0xFF,
                ((mux_rate << 2) & 0xFC) | 0x03,
                0xF8,  # reserved bits, no stuffing
            )
        )

    def _streams(self) -> list[tuple[int, int]]:
        streams = []
        if self.video_codec is not None:
            streams.append((STREAM_TYPE_OF[self.video_codec], VIDEO_STREAM_ID))
        if self.audio_codec is not None:
            streams.append((STREAM_TYPE_OF[self.audio_codec], AUDIO_STREAM_ID))
        return streams

    def _system_header(self) -> bytes:
        rate_bound = 6106
        body = bytearray(
            (
                0x80 | (rate_bound >> 15),
                (rate_bound >> 7) & 0xFF,
                ((rate_bound << 1) & 0xFE) | 1,
                0x04 if self.audio_codec else 0x00,  # audio_bound 1, not fixed, not CSPS
                0xE1 if self.video_codec else 0xE0,  # locked, marker, video_bound 1 (or 0)
                0xFF,
            )
        )
        for _, stream_id in self._streams():
            scale, size = (1, 1024) if stream_id == VIDEO_STREAM_ID else (0, 32)
            body += bytes((stream_id, 0xC0 | scale << 5 | size >> 8, size & 0xFF))
        return b"\x00\x00\x01\xbb" + struct.pack(">H", len(body)) + bytes(body)

    def _psm(self) -> bytes:
        entries = b"".join(bytes((t, i, 0, 0)) for t, i in self._streams())
        body = bytes((0xE0, 0xFF, 0, 0)) + struct.pack(">H", len(entries)) + entries
        head = b"\x00\x00\x01\xbc" + struct.pack(">H", len(body) + 4) + body
        return head + struct.pack(">I", _crc32_mpeg2(head))

    @staticmethod
    def _pes(stream_id: int, payload: bytes, pts: int | None, dts: int | None) -> bytes:
        if pts is None:
            header = bytes((0x80, 0x00, 0x00))
        elif dts is None or dts == pts:
            header = bytes((0x80, 0x80, 5)) + _write_timestamp(0b0010, pts)
        else:
            header = (
                bytes((0x80, 0xC0, 10)) + _write_timestamp(0b0011, pts) + _write_timestamp(1, dts)
            )
        length = len(header) + len(payload)
        return b"\x00\x00\x01" + bytes((stream_id,)) + struct.pack(">H", length) + header + payload


def split_payloads(pack: bytes, max_payload: int = 1400) -> list[bytes]:
    """Cut a pack into RTP payloads of at most `max_payload` bytes (marker on the last)."""
    if max_payload < 1:
        raise PsError("max_payload must be at least 1")
    return [pack[i : i + max_payload] for i in range(0, len(pack), max_payload)] or [b""]
