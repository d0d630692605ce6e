"""Track adapters between aiortc and the room: shared Opus packets out, decoded frames read.

Outgoing audio is the mixer's shared Opus encode: `OpusPacketTrack.recv()` returns av.Packet
objects, which aiortc's RTCRtpSender packs into RTP as they are (`Encoder.pack`), so a listener
costs no encode. Incoming audio never comes through here: `webrtc.audiotap` hands its RTP
packets to an `AudioPlayout`, as for an RTP leg. `frame_to_mono` reads what an aiortc client
decodes (the tests' and the benchmark's peers)."""

from __future__ import annotations

import asyncio
import fractions
from collections import deque
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from mediacore.codecs.base import Pcm

OPUS_RATE = 48000
TIME_BASE = fractions.Fraction(1, OPUS_RATE)
# Packets waiting for the sender: the sender reads as fast as the mixer writes, so a backlog
# only builds while the connection is not up yet; stale audio is worth nothing after it.
MAX_QUEUED_PACKETS = 5

_INTEGER_SCALE = {np.dtype(np.int16): 1 / 32768, np.dtype(np.int32): 1 / 2147483648}


def frame_to_mono(frame: av.AudioFrame) -> Pcm:
    """Mono float32 samples of an audio frame (any PyAV sample format and channel layout).

    Takes: a decoded frame. Returns: its samples, channels averaged, scaled to [-1, 1).
    Raises: ValueError for a sample format that is neither 16/32-bit integer nor float."""
    data = frame.to_ndarray()
    channels = max(1, len(frame.layout.channels))
    if not frame.format.is_planar:  # packed: one row, channels interleaved
        data = data.reshape(-1, channels).T
    scale = _INTEGER_SCALE.get(data.dtype)
    if scale is not None:
        samples = data.astype(np.float32) * np.float32(scale)
    elif data.dtype.kind == "f":
        samples = data.astype(np.float32, copy=False)
    else:
        raise ValueError(f"unsupported sample format {frame.format.name}")
    mono = samples[0] if channels == 1 else samples.mean(axis=0, dtype=np.float32)
    return np.ascontiguousarray(mono, dtype=np.float32)


class OpusPacketTrack(MediaStreamTrack):
    """An audio track of already-encoded Opus packets, for an RTCRtpSender to pack as they are.

    The mixer's shared encode calls `put()` on the room clock; aiortc's sender awaits `recv()`.
    pts counts 48 kHz samples from the first packet, following the room's tick numbers, so a
    skipped tick shows as a timestamp gap, not a time warp."""

    kind = "audio"

    def __init__(self, tick_ms: int) -> None:
        super().__init__()
        self._samples_per_tick = OPUS_RATE * tick_ms // 1000
        self._queue: deque[av.Packet[Any]] = deque()
        self._ready = asyncio.Event()
        self._first_tick: int | None = None
        self._next_pts = 0  # where a new line of ticks (another room's, after a move) goes on
        self.packets = 0
        self.bytes = 0
        self.dropped = 0

    def put(self, payload: bytes, tick: int) -> None:
        """Queue one Opus packet made on mixer tick `tick` (never blocks)."""
        if self.readyState != "live":
            return
        if self._first_tick is None:
            self._first_tick = tick - self._next_pts // self._samples_per_tick
        packet = av.Packet(payload)
        packet.pts = (tick - self._first_tick) * self._samples_per_tick
        self._next_pts = packet.pts + self._samples_per_tick
        packet.time_base = TIME_BASE
        if len(self._queue) >= MAX_QUEUED_PACKETS:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(packet)
        self.packets += 1
        self.bytes += len(payload)
        self._ready.set()

    def continue_pts(self) -> None:
        """The ticks to come are another room's: go on one tick after the last packet."""
        self._first_tick = None

    async def recv(self) -> av.Packet[Any]:
        """The next packet; raises MediaStreamError once the track is stopped."""
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        return self._queue.popleft()

    def stop(self) -> None:
        super().stop()
        self._queue.clear()
        self._ready.set()  # wakes a waiting recv(), which then raises
