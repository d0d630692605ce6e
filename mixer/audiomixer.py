"""The audio mixer of one room: each tick, read every input once, sum the speakers once, and
give every listener the sum without its own voice.

Modelled on Janus AudioBridge's mixer thread (snapshot participants, sum once, `sum - own` per
listener) with three differences: only the detected talkers are summed (at most `max_talkers`,
higher priority first), the result goes through a limiter instead of being truncated, and
listeners with the same mix and format share one encode (see `encoding.py`).

Beyond mix-minus, a listener may be kept from hearing some talkers: a whispering talker is heard
only by its audience (`audiences`, set by the room), and a listener's own `hear_not` and
`hear_only` say whom it never or only hears. Its signal is then the total minus those talkers.
A listener that monitors other rooms adds their audio (`Participant.feeds`) to its own mix, and
a relay into another room (`Endpoint.pcm_output`) takes its mix as samples."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mediacore.audio import level_dbfs
from mediacore.codecs.base import Pcm
from mediacore.endpoint import AudioOutput, OutputFormat, PcmOutput
from mediacore.limiter import Limiter
from mediacore.mixing import Audiences, MixerSettings, MixerTap, TalkingCallback, TickResult
from mediacore.participant import Participant
from mixer.encoding import SharedEncoders
from mixer.talk import TalkDetector

log = logging.getLogger(__name__)

SILENCE = "silence"
TOTAL = "total"
# What a listener hears: silence, the total, ("minus", participant id) for a talker,
# ("except", ids) for a listener kept from hearing several talkers, ("floor", holder id) for a
# floor listener (a radio) while someone else holds the floor, or ("feeds", listener id) for a
# listener that adds rooms it monitors to its mix.
Signal = str | tuple[str, str] | tuple[str, frozenset[str]]


@dataclass(slots=True)
class _ParticipantState:
    talk: TalkDetector
    was_mixed: bool = False


class AudioMixer:
    """A room's mixer (`mediacore.mixing.RoomMixer`); the assembly passes the class to rooms."""

    def __init__(self, settings: MixerSettings, on_talking: TalkingCallback | None = None) -> None:
        self.settings = settings
        self.encoders = SharedEncoders(settings.rate, settings.ptime)
        self._states: dict[str, _ParticipantState] = {}
        self._limiters: dict[Signal, Limiter] = {}
        self._on_talking = on_talking
        self._silence = np.zeros(settings.frame_samples, dtype=np.float32)
        self._mixed_ids: set[str] = set()  # who was mixed last tick
        # Last tick's speakers: one that drops out keeps a signal of its own for a tick, as
        # the shared signals' resamplers still hold a few samples of its voice.
        self._last_speakers: frozenset[str] = frozenset()
        self.taps: list[MixerTap] = []
        # Whispering talkers and who may hear each (the room sets it; mediacore/whispers.py).
        self.audiences: Audiences = {}

    def tick(
        self,
        tick: int,
        now: float,
        participants: Sequence[Participant],
        floor_holder: Participant | None = None,
        convert_holder: bool = False,
    ) -> TickResult:
        """Mix one tick. `participants` is a snapshot; the mixer never waits for anyone.

        Floor listeners (radio legs) hear only `floor_holder`, whole (not just while the talk
        detector says it talks, so a keyed radio carries every syllable), and nothing at all
        while the floor is free or their own. With `convert_holder` the holder's frame is
        converted even when no local radio hears it (another shard's radios may)."""
        started = time.perf_counter()
        frames = self._read_inputs(now, participants)
        speakers = self._choose_speakers(participants, frames)
        heard = convert_holder or self._floor_is_heard(floor_holder, participants)
        holder = floor_holder if heard else None
        mixed, holder_pcm, converted = self._convert(speakers, holder, frames)
        total = self._sum(mixed)
        encodes_before = self.encoders.encodes
        self._send(tick, now, participants, mixed, total, holder, holder_pcm)
        self._last_speakers = frozenset(mixed)
        for tap in list(self.taps):
            try:
                tap(tick, now, participants, frames, total)
            except Exception:  # a broken recorder must not take the room's audio with it
                log.exception("mixer tap failed and was removed")
                self.taps.remove(tap)
        if tick % 50 == 0:
            self.encoders.expire(tick)
            self._forget_departed(participants)
        return TickResult(
            speakers=[p.id for p in speakers],
            encodes=self.encoders.encodes - encodes_before,
            seconds=time.perf_counter() - started,
            frames=converted,
        )

    @property
    def encodes(self) -> int:
        return self.encoders.encodes

    def reconfigure(self, settings: MixerSettings) -> None:
        """Apply changed talk detection or talker limits, to everyone in the room at once."""
        self.settings = settings
        for state in self._states.values():
            state.talk.on_dbfs = settings.talk_on_dbfs
            state.talk.off_dbfs = settings.talk_off_dbfs
            state.talk.hang_frames = self._hang_frames()

    def _hang_frames(self) -> int:
        return max(1, self.settings.talk_hang_ms // self.settings.ptime)

    def _state(self, participant: Participant) -> _ParticipantState:
        state = self._states.get(participant.id)
        if state is None:
            detector = TalkDetector(
                self.settings.talk_on_dbfs, self.settings.talk_off_dbfs, self._hang_frames()
            )
            state = self._states[participant.id] = _ParticipantState(detector)
        return state

    def _read_inputs(self, now: float, participants: Sequence[Participant]) -> dict[str, Pcm]:
        frames: dict[str, Pcm] = {}
        for participant in participants:
            source = participant.endpoint.audio_input
            pcm = source.read(now) if source is not None else None
            level = -127.0 if pcm is None else level_dbfs(pcm)
            participant.level_db = level
            talking = self._state(participant).talk.update(level)
            if talking != participant.talking:
                participant.talking = talking
                if self._on_talking is not None:
                    self._on_talking(participant, talking)
            if pcm is not None:
                frames[participant.id] = pcm
                for uplink in participant.uplinks:
                    uplink.push(pcm, now)
        return frames

    def _choose_speakers(
        self, participants: Sequence[Participant], frames: dict[str, Pcm]
    ) -> list[Participant]:
        candidates = [
            p
            for p in participants
            if p.talking and not p.muted and p.id in frames and (p.duplex == "full" or p.has_floor)
        ]
        if len(candidates) > self.settings.max_talkers:
            # Priority first; among equals keep whoever was already mixed, then the loudest.
            candidates.sort(
                key=lambda p: (p.priority, self._states[p.id].was_mixed, p.level_db), reverse=True
            )
            candidates = candidates[: self.settings.max_talkers]
        return candidates

    @staticmethod
    def _floor_is_heard(holder: Participant | None, participants: Sequence[Participant]) -> bool:
        return holder is not None and any(
            p.endpoint.floor_listener and p is not holder and p.endpoint.audio_output is not None
            for p in participants
        )

    def _convert(
        self, speakers: list[Participant], holder: Participant | None, frames: dict[str, Pcm]
    ) -> tuple[dict[str, Pcm], Pcm | None, dict[str, Pcm]]:
        """Speakers' frames (and the floor holder's, when radios hear it) at the room rate:
        the speakers', the holder's, and all converted."""
        converting = list(speakers)
        if holder is not None and holder not in speakers:
            if holder.id in frames and not holder.muted:
                converting.append(holder)
        converted_ids = {p.id for p in converting}
        for participant_id in self._mixed_ids - converted_ids:
            state = self._states.get(participant_id)
            if state is not None:
                state.was_mixed = False
        self._mixed_ids = converted_ids
        converted: dict[str, Pcm] = {}
        for participant in converting:
            state = self._states[participant.id]
            source = participant.endpoint.audio_input
            assert source is not None
            pcm = source.to_room_rate(frames[participant.id], restart=not state.was_mixed)
            state.was_mixed = True
            if participant.gain_db:
                pcm = pcm * np.float32(10 ** (participant.gain_db / 20))
            converted[participant.id] = pcm
        holder_pcm = converted.get(holder.id) if holder is not None else None
        mixed = {p.id: converted[p.id] for p in speakers}
        return mixed, holder_pcm, converted

    def _sum(self, mixed: dict[str, Pcm]) -> Pcm | None:
        if not mixed:
            return None
        frames = list(mixed.values())
        if len(frames) == 1:
            return frames[0]
        total: Pcm = np.sum(frames, axis=0, dtype=np.float32)
        return total

    def _send(
        self,
        tick: int,
        now: float,
        participants: Sequence[Participant],
        mixed: dict[str, Pcm],
        total: Pcm | None,
        holder: Participant | None,
        holder_pcm: Pcm | None,
    ) -> None:
        audiences: dict[Signal, dict[OutputFormat, list[AudioOutput]]] = {}
        relays: dict[Signal, list[PcmOutput]] = {}
        fed: dict[Signal, tuple[Signal, list[Pcm]]] = {}  # ("feeds", id): its own signal, feeds
        for participant in participants:
            endpoint = participant.endpoint
            output = endpoint.audio_output
            if output is None:
                if endpoint.pcm_output is not None:
                    heard = self._signal_for(participant, mixed)
                    if heard != SILENCE:
                        relays.setdefault(heard, []).append(endpoint.pcm_output)
                continue
            if endpoint.floor_listener:
                if holder is None or holder is participant or participant.deaf:
                    continue  # a radio is keyed only by someone else's floor
                signal: Signal = ("floor", holder.id)
            else:
                signal = self._signal_for(participant, mixed)
                if participant.feeds and not participant.deaf:
                    signal = self._with_feeds(participant, signal, now, fed)
            by_format = audiences.get(signal)
            if by_format is None:
                by_format = audiences[signal] = {}
            listeners = by_format.get(output.format)
            if listeners is None:
                by_format[output.format] = [output]
            else:
                listeners.append(output)
        rendered: dict[Signal, Pcm] = {}  # each signal goes through its limiter once a tick
        for signal, by_format in audiences.items():
            if isinstance(signal, tuple) and signal[0] == "floor":
                pcm = holder_pcm if holder_pcm is not None else self._silence
            elif signal in fed:
                own, feeds = fed[signal]
                pcm = self._limit(signal, np.sum([self._raw(own, mixed, total), *feeds], axis=0))
            else:
                pcm = rendered[signal] = self._render(signal, mixed, total)
            for outputs in by_format.values():
                self.encoders.deliver(signal, pcm, outputs, tick)
        for heard, relay_outputs in relays.items():
            samples = rendered.get(heard)
            if samples is None:
                samples = self._render(heard, mixed, total)
            for relay in relay_outputs:
                relay.receive_pcm(samples, now)
        for key in [key for key in self._limiters if key not in audiences and key not in relays]:
            del self._limiters[key]

    def _signal_for(self, participant: Participant, mixed: dict[str, Pcm]) -> Signal:
        if participant.deaf or not mixed:
            return SILENCE
        if self.audiences or participant.hear_not or participant.hear_only:
            return self._filtered_signal(participant, mixed)
        if participant.id in mixed:
            return SILENCE if len(mixed) == 1 else ("minus", participant.id)
        if participant.id in self._last_speakers:
            return ("minus", participant.id)  # the total without it, from its own encoder
        return TOTAL

    def _filtered_signal(self, listener: Participant, mixed: dict[str, Pcm]) -> Signal:
        """The signal of a listener some talkers are kept from: whisperers it is not the
        audience of, and the ones its own relations exclude."""
        own = listener.id
        audiences = self.audiences
        left_out = frozenset(
            talker
            for talker in mixed
            if talker == own
            or (talker in audiences and own not in audiences[talker])
            or talker in listener.hear_not
            or (listener.hear_only and talker not in listener.hear_only)
        )
        if own in self._last_speakers:
            left_out |= {own}  # out of the mix this tick, but in the shared signals' history
        if not left_out:
            return TOTAL
        if left_out >= mixed.keys():
            return SILENCE
        if len(left_out) == 1:
            return ("minus", next(iter(left_out)))
        return ("except", left_out)

    @staticmethod
    def _with_feeds(
        listener: Participant,
        signal: Signal,
        now: float,
        fed: dict[Signal, tuple[Signal, list[Pcm]]],
    ) -> Signal:
        """A listener hearing monitored rooms this tick gets a signal of its own."""
        feeds = [pcm for feed in listener.feeds if (pcm := feed.read(now)) is not None]
        if not feeds:
            return signal
        own: Signal = ("feeds", listener.id)
        fed[own] = (signal, feeds)
        return own

    def _raw(self, signal: Signal, mixed: dict[str, Pcm], total: Pcm | None) -> Pcm:
        """A signal's samples before the limiter."""
        if signal == SILENCE or total is None:
            return self._silence
        if not isinstance(signal, tuple):
            return total
        left_out = signal[1]
        if isinstance(left_out, str):
            return np.subtract(total, mixed[left_out]) if left_out in mixed else total
        present = [mixed[t] for t in left_out if t in mixed]
        return np.subtract(total, np.sum(present, axis=0)) if present else total

    def _render(self, signal: Signal, mixed: dict[str, Pcm], total: Pcm | None) -> Pcm:
        if signal == SILENCE or total is None:
            return self._silence
        return self._limit(signal, self._raw(signal, mixed, total))

    def _limit(self, signal: Signal, pcm: Pcm) -> Pcm:
        limiter = self._limiters.get(signal)
        if limiter is None:
            limiter = self._limiters[signal] = Limiter(
                self.settings.rate, self.settings.limiter_dbfs
            )
        return limiter.process(pcm.astype(np.float32, copy=False))

    def _forget_departed(self, participants: Sequence[Participant]) -> None:
        present = {p.id for p in participants}
        for participant_id in [pid for pid in self._states if pid not in present]:
            del self._states[participant_id]
