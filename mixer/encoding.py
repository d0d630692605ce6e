"""Shared encoding: one encoder per distinct (mix, output format), its payloads fanned out.

Listeners whose own voice is not in the mix all hear the same signal, so it is encoded once per
format; only talkers get their own mix-minus encode. Encode cost grows with talkers, not with
listeners. Every group of one packet time emits on the same ticks (phase taken from the global
tick number), so a listener moving between groups keeps an even packet rhythm."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np

from mediacore.codecs import registry
from mediacore.codecs.base import Encoder, Pcm
from mediacore.endpoint import AudioOutput, OutputFormat
from mediacore.resample import Resampler

# A group unused for this many ticks is dropped (its encoder state is stale by then).
IDLE_TICKS = 50


@dataclass(slots=True)
class EncodeGroup:
    format: OutputFormat
    encoder: Encoder
    resampler: Resampler
    packet_samples: int
    pending: list[Pcm] = field(default_factory=list)
    pending_samples: int = 0
    last_tick: int = 0


class SharedEncoders:
    def __init__(self, room_rate: int, tick_ms: int) -> None:
        self.room_rate = room_rate
        self.tick_ms = tick_ms
        self._groups: dict[tuple[Hashable, OutputFormat], EncodeGroup] = {}
        self.encodes = 0  # packets encoded, for the benchmarks and /metrics

    def deliver(
        self, signal: Hashable, pcm: Pcm, listeners: Sequence[AudioOutput], tick: int
    ) -> None:
        """Feed one tick of a mix to every listener (all with the same output format)."""
        group = self._group(signal, listeners[0].format, tick)
        group.last_tick = tick
        converted = group.resampler.process(pcm)
        group.pending.append(converted)
        group.pending_samples += len(converted)
        while group.pending_samples >= group.packet_samples:
            payload = group.encoder.encode(self._take(group))
            self.encodes += 1
            for listener in listeners:
                listener.send_payload(payload, tick)

    def _group(self, signal: Hashable, fmt: OutputFormat, tick: int) -> EncodeGroup:
        group = self._groups.get((signal, fmt))
        if group is None:
            codec = fmt.codec
            group = EncodeGroup(
                format=fmt,
                encoder=registry.new_encoder(codec, fmt.ptime),
                resampler=Resampler(self.room_rate, codec.sample_rate),
                packet_samples=codec.samples_per_packet(fmt.ptime),
            )
            # Start part-way into a packet so this group emits on the same ticks as its peers.
            elapsed_ms = (tick * self.tick_ms) % fmt.ptime
            lead = codec.sample_rate * elapsed_ms // 1000
            if lead:
                group.pending.append(np.zeros(lead, dtype=np.float32))
                group.pending_samples = lead
            self._groups[(signal, fmt)] = group
        return group

    @staticmethod
    def _take(group: EncodeGroup) -> Pcm:
        joined = np.concatenate(group.pending) if len(group.pending) > 1 else group.pending[0]
        packet, rest = joined[: group.packet_samples], joined[group.packet_samples :]
        group.pending = [rest] if len(rest) else []
        group.pending_samples = len(rest)
        return packet

    def expire(self, tick: int) -> None:
        """Forget groups nobody listened to lately."""
        stale = [key for key, group in self._groups.items() if tick - group.last_tick > IDLE_TICKS]
        for key in stale:
            del self._groups[key]

    @property
    def group_count(self) -> int:
        return len(self._groups)
