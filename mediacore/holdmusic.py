"""Music on hold: held participants leave the room's mix and hear a looping clip instead.

A held participant stays in the room (roster, events, its call) but the room's mixer no longer
sees it: it is neither heard nor sent the room. `HoldMusic` gives the held their own small mix,
on the room's clock: one source (the clip, looping) and the held as listeners, through a mixer
made by the room's own factory, so the music is encoded once per codec for all of them and
paced like everything else. What the held send is read and dropped, so their jitter buffers
start fresh on resume."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from mediacore.codecs.base import Pcm
from mediacore.endpoint import AudioInput, AudioOutput, Endpoint
from mediacore.mixing import MixerFactory, MixerSettings, RoomMixer
from mediacore.participant import Participant

Samples = npt.NDArray[np.int16]
_SCALE = np.float32(1 / 32768)
# The default melody: a slow C-major arpeggio (C5 E5 G5 E5), soft, with short fades.
MELODY_HZ = (523.25, 659.25, 783.99, 659.25)
NOTE_S = 0.4
MELODY_DBFS = -18.0


def default_melody(rate: int) -> Samples:
    """A few seconds of gentle tones at `rate`, for rooms with no configured hold music."""
    note = int(rate * NOTE_S)
    fade = max(1, int(rate * 0.02))
    envelope = np.ones(note, dtype=np.float64)
    envelope[:fade] = np.linspace(0.0, 1.0, fade)
    envelope[-fade:] = np.linspace(1.0, 0.0, fade)
    t = np.arange(note) / rate
    amplitude = 10 ** (MELODY_DBFS / 20) * 32767
    notes = [np.sin(2 * np.pi * hz * t) * envelope * amplitude for hz in MELODY_HZ]
    return np.concatenate(notes).astype(np.int16)


class LoopingClip:
    """An `AudioInput` playing `samples` (mono int16 at `rate`) round and round, one tick of
    `tick_ms` per read."""

    def __init__(self, samples: Samples, rate: int, tick_ms: int) -> None:
        if len(samples) == 0 or rate <= 0 or tick_ms <= 0:
            raise ValueError("a looping clip needs samples, a rate and a tick")
        self.native_rate = rate
        self.tick_samples = rate * tick_ms // 1000
        self.samples = samples
        self.position = 0

    def read(self, now: float) -> Pcm:
        end = self.position + self.tick_samples
        count = len(self.samples)
        indices = np.arange(self.position, end) % count
        self.position = end % count
        frame: Pcm = self.samples[indices].astype(np.float32) * _SCALE
        return frame

    def to_room_rate(self, pcm: Pcm, restart: bool) -> Pcm:
        return pcm  # prepared at the room's rate


class _Music(Endpoint):
    kind = "music"

    def __init__(self, source: AudioInput) -> None:
        self.audio_input = source

    async def close(self, reason: str) -> None:
        return None


class _Listener(Endpoint):
    """A held participant as the hold mix sees it: it hears, it is not heard."""

    kind = "held"

    def __init__(self, held: Participant) -> None:
        self.held = held

    @property
    def audio_output(self) -> AudioOutput | None:  # type: ignore[override]
        return self.held.endpoint.audio_output  # read through: a re-INVITE may change it

    async def close(self, reason: str) -> None:
        return None


class HoldMusic:
    """The held participants of one room and the music they hear."""

    def __init__(self, make_mixer: MixerFactory, settings: MixerSettings) -> None:
        # Every frame of music is "talking", however quiet: talk detection must not gate it.
        quiet = replace(settings, max_talkers=1, talk_on_dbfs=-126.0, talk_off_dbfs=-127.0)
        self._make_mixer = make_mixer
        self._settings = quiet
        self._mixer: RoomMixer | None = None
        self._music: Participant | None = None
        self._listeners: dict[str, Participant] = {}

    @property
    def held(self) -> frozenset[str]:
        return frozenset(self._listeners)

    def hold(self, participant: Participant, music: AudioInput) -> None:
        """`participant` leaves the mix and hears `music` (the first hold's music plays for
        everyone held until the last one resumes)."""
        if self._music is None:
            self._music = Participant(name="music on hold", endpoint=_Music(music))
            self._mixer = self._make_mixer(self._settings, lambda participant, talking: None)
        self._listeners[participant.id] = Participant(
            name=participant.name, endpoint=_Listener(participant), id=participant.id
        )

    def resume(self, participant_id: str) -> None:
        self._listeners.pop(participant_id, None)
        if not self._listeners:
            self._music = None
            self._mixer = None

    def play(self, tick: int, now: float, participants: Sequence[Participant]) -> list[Participant]:
        """Play this tick to the held ones among `participants`; returns the others, whom the
        room mixes as usual."""
        listeners, mixed = [], []
        for participant in participants:
            listener = self._listeners.get(participant.id)
            if listener is None:
                mixed.append(participant)
                continue
            source = participant.endpoint.audio_input
            if source is not None:
                source.read(now)  # dropped: nobody hears the held
            participant.level_db, participant.talking = -127.0, False
            listeners.append(listener)
        if self._mixer is not None and self._music is not None and listeners:
            self._mixer.tick(tick, now, [self._music, *listeners])
        return mixed
