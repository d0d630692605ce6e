"""What a room needs of its audio mixer: the settings it passes, the mixer's protocol, and what a
tick reports. The core defines them; the assembly gives each room a mixer that fits
(`mixer.audiomixer.AudioMixer`), so the room never imports the mixer package."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from mediacore.codecs.base import Pcm
from mediacore.participant import Participant


@dataclass(frozen=True, slots=True)
class MixerSettings:
    rate: int = 48000
    ptime: int = 20
    max_talkers: int = 4
    talk_on_dbfs: float = -45.0
    talk_off_dbfs: float = -55.0
    talk_hang_ms: int = 400
    limiter_dbfs: float = -1.0

    @property
    def frame_samples(self) -> int:
        return self.rate * self.ptime // 1000


@dataclass(slots=True)
class TickResult:
    speakers: list[str] = field(default_factory=list)
    encodes: int = 0
    seconds: float = 0.0
    # The speakers' frames (and the floor holder's, when converted) at the room rate, gain
    # applied: what a room shard sends its other shards.
    frames: dict[str, Pcm] = field(default_factory=dict)


# Whispering talkers and who may hear each (mediacore/whispers.py).
Audiences = Mapping[str, frozenset[str]]
# Called as (participant, talking) when a participant starts or stops talking.
TalkingCallback = Callable[[Participant, bool], None]
# A tap sees every tick: (tick, now, participants, their frames at native rate, the sum of the
# mixed talkers at the room rate or None). Recorders tap here; they must be quick.
MixerTap = Callable[[int, float, Sequence[Participant], dict[str, Pcm], Pcm | None], None]


class RoomMixer(Protocol):
    settings: MixerSettings
    taps: list[MixerTap]
    # Whispering talkers and who may hear each; everyone else's mix leaves them out.
    audiences: Audiences

    @property
    def encodes(self) -> int:
        """Encodes done since the mixer started (shared encodes count once)."""
        ...

    def tick(
        self,
        tick: int,
        now: float,
        participants: Sequence[Participant],
        floor_holder: Participant | None = None,
        convert_holder: bool = False,
    ) -> TickResult:
        """Mix tick number `tick` for a snapshot of the participants; never waits for anyone.
        With `convert_holder` the floor holder's frame is converted (and in `frames`) even when
        no local radio hears it."""
        ...

    def reconfigure(self, settings: MixerSettings) -> None:
        """Apply changed talk detection or talker limits to everyone at once."""
        ...


# How a room makes its mixer: (settings, called when someone starts or stops talking).
MixerFactory = Callable[[MixerSettings, TalkingCallback], RoomMixer]
