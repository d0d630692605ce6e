"""Track adapters between aiortc and the room: decoded frames in, shared Opus packets out.

Incoming audio arrives from aiortc already decoded (av.AudioFrame, s16 stereo at 48 kHz for
Opus); `ReceivedAudio` turns it into the mono float32 ticks the mixer reads. Outgoing audio is the
mixer's shared Opus encode: `OpusPacketTrack.recv()` returns av.Packet objects, which aiortc's
RTCRtpSender packs into RTP as they are (`Encoder.pack`), so a listener costs no encode."""

from __future__ import annotations

import asyncio
import fractions
from collections import deque
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from mediacore.codecs.base import Pcm
from mediacore.resample import Resampler, TickConverter

OPUS_RATE = 48000
TIME_BASE = fractions.Fraction(1, OPUS_RATE)
# Beyond this much queued audio the oldest goes: a burst (a stalled network, a stalled loop)
# must not add its length to the latency for the rest of the call.
MAX_BUFFER_SECONDS = 0.1
# Playout starts (and restarts after running dry) with a tick plus 20 ms (one browser packet)
# in hand, so a packet that arrives just after its tick is not a gap, whatever the tick length.
PREFILL_SECONDS = 0.02
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


class ReceivedAudio:
    """The AudioInput of a WebRTC leg: decoded frames pushed in, one room tick read out.

    `push()` is fed by the leg's receive task at the network's pace; the mixer calls `read()`
    once per tick. Conversion to the room rate happens only for frames the mixer mixes."""

    native_rate = OPUS_RATE

    def __init__(self, room_rate: int, tick_ms: int) -> None:
        self.tick_samples = OPUS_RATE * tick_ms // 1000
        self.room_samples = room_rate * tick_ms // 1000
        self.max_samples = int(MAX_BUFFER_SECONDS * OPUS_RATE)
        self.prefill_samples = self.tick_samples + int(PREFILL_SECONDS * OPUS_RATE)
        self._chunks: deque[Pcm] = deque()
        self._queued = 0
        self._playing = False
        self._converter = TickConverter(OPUS_RATE, room_rate, tick_ms)
        self._input_resamplers: dict[int, Resampler] = {}
        self.frames_received = 0
        self.samples_dropped = 0
        self.underruns = 0

    @property
    def buffered_seconds(self) -> float:
        return self._queued / OPUS_RATE

    def push_frame(self, frame: av.AudioFrame) -> None:
        """Queue one decoded frame (any rate; Opus gives 48 kHz)."""
        pcm = frame_to_mono(frame)
        rate = frame.sample_rate
        if rate != OPUS_RATE:  # only a non-Opus codec would land here
            resampler = self._input_resamplers.get(rate)
            if resampler is None:
                resampler = self._input_resamplers[rate] = Resampler(rate, OPUS_RATE)
            pcm = resampler.process(pcm)
        self.frames_received += 1
        self.push(pcm)

    def push(self, pcm: Pcm) -> None:
        """Queue mono samples at 48 kHz; beyond MAX_BUFFER_SECONDS the oldest are dropped."""
        if not len(pcm):
            return
        self._chunks.append(pcm)
        self._queued += len(pcm)
        excess = self._queued - self.max_samples
        while excess > 0:
            first = self._chunks[0]
            if len(first) <= excess:
                self._chunks.popleft()
                cut = len(first)
            else:
                self._chunks[0] = first[excess:]
                cut = excess
            self._queued -= cut
            self.samples_dropped += cut
            excess -= cut

    def read(self, now: float) -> Pcm | None:
        """Exactly one tick at 48 kHz, or None while the peer sends nothing."""
        frame = self._read()
        self._converter.remember(frame)
        return frame

    def _read(self) -> Pcm | None:
        if not self._playing:
            if self._queued < self.prefill_samples:
                return None
            self._playing = True
        if self._queued == 0:
            self._playing = False
            self.underruns += 1
            return None
        if self._queued < self.tick_samples:  # a short gap inside a talk spurt: pad it
            self._chunks.append(np.zeros(self.tick_samples - self._queued, dtype=np.float32))
            self._queued = self.tick_samples
        return self._take(self.tick_samples)

    def _take(self, count: int) -> Pcm:
        first = self._chunks[0]
        if len(first) == count:  # frame length equals the tick: no copying
            self._chunks.popleft()
            self._queued -= count
            return first
        parts: list[Pcm] = []
        needed = count
        while needed:
            chunk = self._chunks[0]
            if len(chunk) <= needed:
                parts.append(self._chunks.popleft())
                needed -= len(chunk)
            else:
                parts.append(chunk[:needed])
                self._chunks[0] = chunk[needed:]
                needed = 0
        self._queued -= count
        return np.concatenate(parts)

    def to_room_rate(self, pcm: Pcm, restart: bool) -> Pcm:
        return self._converter.convert(pcm, restart)


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
        self.packets = 0
        self.bytes = 0
        self.dropped = 0

    def put(self, payload: bytes, tick: int) -> None:
        """Queue one Opus packet made on mixer tick `tick` (never blocks)."""
        if self.readyState != "live":
            return
        if self._first_tick is None:
            self._first_tick = tick
        packet = av.Packet(payload)
        packet.pts = (tick - self._first_tick) * self._samples_per_tick
        packet.time_base = TIME_BASE
        if len(self._queue) >= MAX_QUEUED_PACKETS:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(packet)
        self.packets += 1
        self.bytes += len(payload)
        self._ready.set()

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
