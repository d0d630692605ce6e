"""aiortc clients for the WebRTC tests: a tone source track and a peer that records what it hears.

Each client is what a browser would be to the server: it offers, applies the answer, sends a
microphone track (here a sine at a known frequency) and decodes what comes back."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import time
from collections.abc import AsyncIterator
from typing import Any

import av
import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, pack_remb_fci

from mediacore.audio import tone_level_dbfs, tone_levels_by_block
from mediacore.codecs.base import Pcm
from webrtc.tracks import frame_to_mono

RATE = 48000
FRAME = 960  # 20 ms


class ToneTrack(MediaStreamTrack):
    """A microphone that plays a sine (or silence while `playing` is False), paced on absolute
    20 ms deadlines from its first frame, as aiortc's own tracks are."""

    kind = "audio"

    def __init__(self, frequency: float, level_dbfs: float = -20.0) -> None:
        super().__init__()
        self.frequency = frequency
        self.amplitude = np.sqrt(2.0) * 10 ** (level_dbfs / 20)
        self.playing = True
        self._start: float | None = None
        self._count = 0

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        delay = self._start + self._count * FRAME / RATE - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        n = np.arange(self._count * FRAME, (self._count + 1) * FRAME)
        signal = self.amplitude * np.sin(2 * np.pi * self.frequency * n / RATE)
        if not self.playing:
            signal = np.zeros(FRAME)
        # Stereo, as a browser's Opus decodes: a mono frame would be upmixed at -3 dB per side.
        mono = np.round(signal * 32767).astype(np.int16)
        samples = np.repeat(mono, 2).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="stereo")
        frame.sample_rate = RATE
        frame.pts = self._count * FRAME
        frame.time_base = fractions.Fraction(1, RATE)
        self._count += 1
        return frame


class Client:
    """One aiortc peer: optional tone track out, every received audio frame kept with its time."""

    def __init__(self, frequency: float | None = None, *, receive: bool = True) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.tone = ToneTrack(frequency) if frequency is not None else None
        self.heard: list[tuple[float, Pcm]] = []
        self.video_tracks: list[MediaStreamTrack] = []
        self._tasks: list[asyncio.Task[None]] = []
        if self.tone is not None:
            self.pc.addTransceiver(self.tone, direction="sendrecv" if receive else "sendonly")
        else:
            self.pc.addTransceiver("audio", direction="recvonly")
        self.pc.on("track", self._track)

    def _track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._tasks.append(asyncio.ensure_future(self._record(track)))
        else:
            self.video_tracks.append(track)

    async def _record(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            self.heard.append((time.monotonic(), frame_to_mono(frame)))  # type: ignore[arg-type]

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def accept(self, answer: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))

    async def answer_offer(self, offer: str) -> str:
        """Answer a server-initiated offer (renegotiation)."""
        await self.pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return str(self.pc.localDescription.sdp)

    async def connected(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.pc.connectionState != "connected":
            if time.monotonic() > deadline:
                raise AssertionError(f"not connected: {self.pc.connectionState}")
            await asyncio.sleep(0.02)

    def received(self, since: float, until: float | None = None) -> Pcm:
        parts = [pcm for at, pcm in self.heard if at >= since and (until is None or at < until)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    def level(self, frequency: float, since: float, until: float | None = None) -> float:
        """Level of `frequency` in what arrived between `since` and `until` (median of 20 ms
        blocks, so a phase jump at a packet boundary does not hide the tone)."""
        pcm = self.received(since, until)
        if len(pcm) < RATE // 10:
            return tone_level_dbfs(pcm, frequency, RATE)
        return float(np.median(tone_levels_by_block(pcm, frequency, RATE)))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.pc.close()


def strip_candidates(sdp: str, keep: Any = None) -> str:
    """The SDP without a=candidate lines (or only those for which `keep(line)` is true)."""
    lines = sdp.splitlines()
    kept = [line for line in lines if not line.startswith("a=candidate:") or (keep and keep(line))]
    return "\r\n".join(kept) + "\r\n"


@contextlib.asynccontextmanager
async def crafted_remb(receiver: RTCRtpReceiver, ssrc: int, bitrate: int) -> AsyncIterator[None]:
    """The receiver says it can take `bitrate` for stream `ssrc`, three times a second, in
    place of its own estimator's REMB (one estimator speaks, as in a browser)."""
    send_rtcp = receiver._send_rtcp
    remb = RtcpPsfbPacket(
        fmt=RTCP_PSFB_APP, ssrc=1, media_ssrc=0, fci=pack_remb_fci(bitrate, [ssrc])
    )

    async def without_own_remb(packet: Any) -> None:
        if not (isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP):
            await send_rtcp(packet)

    async def send() -> None:
        while True:
            await send_rtcp(remb)
            await asyncio.sleep(0.3)

    receiver._send_rtcp = without_own_remb  # type: ignore[method-assign]
    task = asyncio.ensure_future(send())
    try:
        yield
    finally:
        task.cancel()
        receiver._send_rtcp = send_rtcp  # type: ignore[method-assign]
