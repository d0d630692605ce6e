"""G.711 voice in a program stream over RTP, as GB/T 28181 devices may offer their talkback
audio (`m=audio … 96`, `a=rtpmap:96 PS/90000`): the payload adapter that lets the core RTP leg
mix it as plain G.711 (mediacore.payloadadapter.PayloadAdapter).

No I/O. `received(datagram)` takes what the device sends (RTP of the PS payload type, 90 kHz,
a pack possibly cut over several packets), puts it in order, demuxes it (ingest.gbrtp) and
returns one plain G.711 RTP packet per audio frame: the negotiated G.711 payload type, an
8 kHz timestamp line that follows the frames' PTS, the device's SSRC. Frames the program stream
map says are in the other G.711 law are converted; other codecs are dropped and counted. RTCP
and other payload types pass through. `sending(packet)` takes the leg's G.711 RTP packet and
returns it as one PS pack in one RTP packet: the PS payload type, the 90 kHz timestamp line the
8 kHz one maps to (the PTS too), marker set (the frame ends there), and the system header and
program stream map in the first pack and once a second after."""

from __future__ import annotations

import secrets
from typing import Any

import numpy as np

from ingest.gbrtp import PsRtpReceiver
from ingest.ps import DemuxedFrame, PsError, PsMuxer
from mediacore.codecs.g711 import ALAW_TO_INT16, INT16_TO_ALAW, INT16_TO_ULAW, ULAW_TO_INT16
from mediacore.rtp import RtpError, RtpPacket, build_rtp, is_rtcp

G711_PAYLOAD_TYPES = {"pcma": 8, "pcmu": 0}
PS_CLOCK = 90000
G711_CLOCK = 8000
MAP_EVERY = 50  # packs between two program stream maps: one second at 20 ms
REORDER_WINDOW = 4  # packets held for a missing one: 80 ms of 20 ms voice
_MASK32 = 0xFFFFFFFF

# One law's code to the other's, through the linear sample.
_CONVERT = {
    ("pcmu", "pcma"): INT16_TO_ALAW[ULAW_TO_INT16.view(np.uint16)],
    ("pcma", "pcmu"): INT16_TO_ULAW[ALAW_TO_INT16.view(np.uint16)],
}


def _signed(delta: int) -> int:
    delta &= _MASK32
    return delta - (1 << 32) if delta >= 1 << 31 else delta


class Timeline:
    """An RTP timestamp line carried onto another clock: each step of the input moves the
    output by the same time (32-bit wraps on either side are fine)."""

    def __init__(self, from_rate: int, to_rate: int, start: int) -> None:
        self.from_rate = from_rate
        self.to_rate = to_rate
        self.start = start & _MASK32
        self._last: int | None = None
        self._units = 0  # input units since the first timestamp

    def map(self, timestamp: int) -> int:
        if self._last is not None:
            self._units += _signed(timestamp - self._last)
        self._last = timestamp & _MASK32
        return (self.start + self._units * self.to_rate // self.from_rate) & _MASK32


class PsAudioAdapter:
    """One talkback leg's G.711 in PS: `payload_type` the PS one (96 by default), `codec` the
    G.711 law the leg mixes and sends ("pcma" or "pcmu")."""

    def __init__(self, payload_type: int = 96, codec: str = "pcma") -> None:
        if codec not in G711_PAYLOAD_TYPES:
            raise ValueError(f"PS audio carries G.711 here, not {codec!r}")
        if not 0 <= payload_type <= 127:
            raise ValueError(f"bad payload type {payload_type}")
        self.payload_type = payload_type
        self.codec = codec
        self.g711_payload_type = G711_PAYLOAD_TYPES[codec]
        self.receiver = PsRtpReceiver(
            payload_types=frozenset({payload_type}), window=REORDER_WINDOW
        )
        self.muxer = PsMuxer(video_codec=None, audio_codec=codec)
        self.frames_received = 0
        self.frames_dropped = 0  # not G.711 (AAC and the like)
        self.packs_sent = 0
        self._in_time = Timeline(PS_CLOCK, G711_CLOCK, secrets.randbits(32))
        self._in_sequence = secrets.randbits(16)
        self._in_next: int | None = None  # the 8 kHz timestamp right after the last frame
        self._out_time = Timeline(G711_CLOCK, PS_CLOCK, secrets.randbits(32))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PsAudioAdapter:
        return cls(int(data.get("payload_type", 96)), str(data.get("codec", "pcma")))

    def to_json(self) -> dict[str, Any]:
        return {"kind": "ps", "payload_type": self.payload_type, "codec": self.codec}

    # -- from the device ------------------------------------------------------------------

    def received(self, data: bytes) -> list[bytes]:
        if is_rtcp(data) or len(data) < 12 or data[1] & 0x7F != self.payload_type:
            return [data]
        ssrc = int.from_bytes(data[8:12], "big")
        return [self._g711_packet(frame, ssrc) for frame in self._frames(data)]

    def _frames(self, data: bytes) -> list[DemuxedFrame]:
        frames = []
        for frame in self.receiver.receive(data):
            if frame.kind != "audio" or frame.codec not in G711_PAYLOAD_TYPES:
                self.frames_dropped += 1
                continue
            frames.append(frame)
        return frames

    def _g711_packet(self, frame: DemuxedFrame, ssrc: int) -> bytes:
        payload = frame.data
        if frame.codec != self.codec:
            table = _CONVERT[(frame.codec, self.codec)]
            payload = table[np.frombuffer(payload, dtype=np.uint8)].tobytes()
        timestamp = self._in_time.map(frame.pts)
        first = self._in_next is None
        if self._in_next is not None and _signed(timestamp - self._in_next) < 0:
            timestamp = self._in_next  # frames of one pack share a PTS: they follow each other
        self._in_next = (timestamp + len(payload)) & _MASK32
        sequence = self._in_sequence
        self._in_sequence = (sequence + 1) & 0xFFFF
        self.frames_received += 1
        return build_rtp(self.g711_payload_type, sequence, timestamp, ssrc, payload, first)

    # -- to the device --------------------------------------------------------------------

    def sending(self, packet: bytes) -> list[bytes]:
        try:
            parsed = RtpPacket.parse(packet)
        except RtpError:
            return [packet]
        if parsed.payload_type != self.g711_payload_type:
            return [packet]  # telephone events and the like go as they are
        timestamp = self._out_time.map(parsed.timestamp)
        try:
            pack = self.muxer.audio(parsed.payload, timestamp, self.packs_sent % MAP_EVERY == 0)
        except PsError:
            return []
        self.packs_sent += 1
        sequence = parsed.sequence_number
        return [build_rtp(self.payload_type, sequence, timestamp, parsed.ssrc, pack, True)]
