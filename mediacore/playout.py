"""A leg's receive side: packets in, exactly one tick of audio out per mixer tick.

Jitter buffer, decoder (with PLC and in-band FEC), and a small sample queue that adapts the
sender's packet time (10-60 ms) to the room's tick. Conversion to the room rate happens only
for frames the mixer actually mixes."""

from __future__ import annotations

import numpy as np

from mediacore.codecs.base import CodecError, CodecInfo, Decoder, Pcm
from mediacore.jitter import JitterBuffer, PlayoutKind, PutResult
from mediacore.resample import TickConverter

# After this much concealment in a row the stream is treated as silent.
MAX_CONCEAL_SECONDS = 0.1


class AudioPlayout:
    def __init__(self, codec: CodecInfo, decoder: Decoder, room_rate: int, tick_ms: int) -> None:
        self.codec = codec
        self.native_rate = codec.sample_rate
        self.decoder = decoder
        self.jitter = JitterBuffer(codec.clock_rate)
        self.tick_samples = codec.sample_rate * tick_ms // 1000
        self.room_samples = room_rate * tick_ms // 1000
        self._converter = TickConverter(codec.sample_rate, room_rate, tick_ms)
        self._queue: list[Pcm] = []
        self._queued = 0
        self._concealed = 0
        self.decode_errors = 0

    def receive(
        self, sequence_number: int, timestamp: int, payload: bytes, now: float
    ) -> PutResult:
        return self.jitter.put(sequence_number, timestamp, payload, now)

    def read(self, now: float) -> Pcm | None:
        """One tick of audio at the codec's rate, or None while the sender is idle."""
        frame = self._read(now)
        self._converter.remember(frame)
        return frame

    def _read(self, now: float) -> Pcm | None:
        if self._queued == 0:  # the common case: one packet per tick, nothing left over
            pcm = self._next_packet(now)
            if pcm is None:
                return None
            if len(pcm) == self.tick_samples:
                return pcm
            self._push(pcm)
        while self._queued < self.tick_samples:
            pcm = self._next_packet(now)
            if pcm is None:
                if self._queued == 0:
                    return None
                self._push(np.zeros(self.tick_samples - self._queued, dtype=np.float32))
                break
            self._push(pcm)
        return self._pop()

    def _next_packet(self, now: float) -> Pcm | None:
        playout = self.jitter.get(now)
        samples = playout.samples_hint * self.native_rate // self.codec.clock_rate
        if playout.kind is PlayoutKind.PACKET:
            try:
                pcm = self.decoder.decode(playout.payload)
                self._concealed = 0
                return pcm
            except CodecError:
                self.decode_errors += 1
                return self._conceal(samples)
        if playout.kind is PlayoutKind.LOST and playout.payload:
            try:
                self._concealed = 0
                return self.decoder.recover(playout.payload, samples)
            except CodecError:
                return self._conceal(samples)
        if playout.kind in (PlayoutKind.LOST, PlayoutKind.WAIT):
            return self._conceal(samples)
        return None

    def _conceal(self, samples: int) -> Pcm | None:
        self._concealed += samples
        if self._concealed > MAX_CONCEAL_SECONDS * self.native_rate:
            return np.zeros(samples, dtype=np.float32)
        return self.decoder.conceal(samples)

    def _push(self, pcm: Pcm) -> None:
        if len(pcm):
            self._queue.append(pcm)
            self._queued += len(pcm)

    def _pop(self) -> Pcm:
        first = self._queue[0]
        if len(first) == self.tick_samples:  # packet time equals the tick: no copying
            self._queue.pop(0)
            self._queued -= self.tick_samples
            return first
        joined = np.concatenate(self._queue) if len(self._queue) > 1 else first
        frame, rest = joined[: self.tick_samples], joined[self.tick_samples :]
        self._queue = [rest] if len(rest) else []
        self._queued = len(rest)
        return frame

    def to_room_rate(self, pcm: Pcm, restart: bool) -> Pcm:
        return self._converter.convert(pcm, restart)
