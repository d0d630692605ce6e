"""The mixer tick, with in-memory endpoints: tones in, decoded payloads measured out."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from mediacore.audio import tone_level_dbfs
from mediacore.codecs import L16_48000, PCMU, registry
from mediacore.codecs.base import CodecInfo, Pcm
from mediacore.endpoint import Endpoint, OutputFormat, output_format
from mediacore.mixing import MixerSettings
from mediacore.participant import Participant
from mixer.audiomixer import AudioMixer

RATE = 48000
FRAME = 960


class ToneInput:
    """Plays a tone (or nothing) at 48 kHz, continuously across ticks."""

    native_rate = RATE

    def __init__(self, frequency: float | None, level: float = -20.0) -> None:
        self.frequency = frequency
        self.level = level
        self._phase = 0

    def read(self, now: float) -> Pcm | None:
        if self.frequency is None:
            return None
        t = (np.arange(FRAME) + self._phase) / RATE
        self._phase += FRAME
        amplitude = np.sqrt(2) * 10 ** (self.level / 20)
        return (amplitude * np.sin(2 * np.pi * self.frequency * t)).astype(np.float32)

    def to_room_rate(self, pcm: Pcm, restart: bool) -> Pcm:
        return pcm


@dataclass
class CapturingOutput:
    format: OutputFormat
    payloads: list[bytes] = field(default_factory=list)

    def send_payload(self, payload: bytes, tick: int) -> None:
        self.payloads.append(payload)

    def heard(self, codec: CodecInfo, last: int = 10) -> Pcm:
        decoder = registry.new_decoder(codec)
        return np.concatenate([decoder.decode(p) for p in self.payloads[-last:]])


class MemoryEndpoint(Endpoint):
    kind = "test"

    def __init__(self, frequency: float | None, codec: CodecInfo = L16_48000) -> None:
        self.audio_input = ToneInput(frequency)
        self.audio_output = CapturingOutput(output_format(codec, 20))

    async def close(self, reason: str) -> None:
        pass


def participant(
    name: str, frequency: float | None, codec: CodecInfo = L16_48000, **state: object
) -> Participant:
    return Participant(name=name, endpoint=MemoryEndpoint(frequency, codec), **state)  # type: ignore[arg-type]


def run(mixer: AudioMixer, people: list[Participant], ticks: int = 25) -> None:
    for tick in range(1, ticks + 1):
        mixer.tick(tick, tick * 0.02, people)


def heard(p: Participant, frequency: float, codec: CodecInfo = L16_48000, last: int = 10) -> float:
    output = p.endpoint.audio_output
    assert isinstance(output, CapturingOutput)
    return tone_level_dbfs(output.heard(codec, last), frequency, codec.sample_rate)


def test_each_listener_hears_the_others_and_not_itself() -> None:
    mixer = AudioMixer(MixerSettings())
    a, b, c = participant("a", 500), participant("b", 700), participant("c", None)
    run(mixer, [a, b, c])
    assert heard(a, 700) == pytest.approx(-20, abs=1) and heard(a, 500) < -60
    assert heard(b, 500) == pytest.approx(-20, abs=1) and heard(b, 700) < -60
    assert heard(c, 500) == pytest.approx(-20, abs=1) and heard(c, 700) == pytest.approx(-20, abs=1)


def test_muted_talker_is_not_mixed_but_still_hears_the_room() -> None:
    mixer = AudioMixer(MixerSettings())
    a, b = participant("a", 500, muted=True), participant("b", 700)
    run(mixer, [a, b])
    assert heard(b, 500) < -60
    assert heard(a, 700) == pytest.approx(-20, abs=1)


def test_deaf_listener_receives_silence_while_others_are_heard() -> None:
    mixer = AudioMixer(MixerSettings())
    a, b = participant("a", 500, deaf=True), participant("b", None)
    run(mixer, [a, b])
    assert heard(a, 500) < -60
    assert heard(b, 500) == pytest.approx(-20, abs=1)


def test_more_talkers_than_allowed_mixes_highest_priority_first() -> None:
    mixer = AudioMixer(MixerSettings(max_talkers=2))
    people = [
        participant("low", 400),
        participant("mid", 600, priority=1),
        participant("top", 800, priority=3),
        participant("ear", None),
    ]
    run(mixer, people)
    ear = people[3]
    assert heard(ear, 800) > -25 and heard(ear, 600) > -25
    assert heard(ear, 400) < -60


def test_talking_is_detected_and_reported_once_per_change() -> None:
    changes: list[tuple[str, bool]] = []
    mixer = AudioMixer(
        MixerSettings(talk_hang_ms=100),
        on_talking=lambda p, talking: changes.append((p.name, talking)),
    )
    a = participant("a", 500)
    run(mixer, [a], ticks=5)
    assert a.talking and changes == [("a", True)]
    a.endpoint.audio_input.frequency = None  # type: ignore[union-attr]
    run(mixer, [a], ticks=10)
    assert not a.talking and changes == [("a", True), ("a", False)]


def test_encode_cost_grows_with_talkers_not_listeners() -> None:
    def encodes_per_tick(listeners: int) -> float:
        mixer = AudioMixer(MixerSettings())
        people = [participant(f"t{i}", 300 + 100 * i, PCMU) for i in range(3)]
        people += [participant(f"l{i}", None, PCMU) for i in range(listeners)]
        total = 0
        for tick in range(1, 11):
            total += mixer.tick(tick, tick * 0.02, people).encodes
        return total / 10

    # Three talkers each get their own mix-minus; every listener shares one encode.
    assert encodes_per_tick(10) == encodes_per_tick(200) == 4


def test_loud_talkers_are_limited_not_clipped() -> None:
    mixer = AudioMixer(MixerSettings())
    people = [participant(f"t{i}", 300 + 150 * i) for i in range(4)]
    for p in people:
        p.endpoint.audio_input.level = -6  # type: ignore[union-attr]
    ear = participant("ear", None)
    run(mixer, [*people, ear])
    output = ear.endpoint.audio_output
    pcm = output.heard(L16_48000)  # type: ignore[union-attr]
    assert np.abs(pcm).max() <= 10 ** (-1 / 20) + 1e-3


def test_changed_talk_thresholds_apply_to_participants_already_in_the_room() -> None:
    mixer = AudioMixer(MixerSettings())
    quiet = participant("quiet", 500)
    quiet.endpoint.audio_input.level = -40  # type: ignore[union-attr]
    ear = participant("ear", None)
    run(mixer, [quiet, ear], ticks=3)
    assert quiet.talking  # -40 dBFS is above the default -45 dBFS threshold
    mixer.reconfigure(MixerSettings(talk_on_dbfs=-30, talk_off_dbfs=-35, talk_hang_ms=40))
    run(mixer, [quiet, ear], ticks=15)
    assert not quiet.talking
    assert heard(ear, 500) < -60


def radio(name: str, frequency: float | None) -> Participant:
    """A floor listener: a half-duplex radio leg that hears only the floor holder."""
    person = participant(name, frequency, duplex="half")
    person.endpoint.floor_listener = True  # type: ignore[misc]
    return person


def run_with_floor(
    mixer: AudioMixer, people: list[Participant], holder: Participant | None, ticks: int = 25
) -> None:
    for person in people:
        person.has_floor = person is holder
    for tick in range(1, ticks + 1):
        mixer.tick(tick, tick * 0.02, people, holder)


def sent(p: Participant) -> int:
    output = p.endpoint.audio_output
    assert isinstance(output, CapturingOutput)
    return len(output.payloads)


def test_radios_receive_nothing_while_the_floor_is_free() -> None:
    a, b = radio("a", 500.0), radio("b", 700.0)
    console = participant("console", 1000.0)
    run_with_floor(AudioMixer(MixerSettings()), [a, b, console], holder=None)
    assert sent(a) == sent(b) == 0
    # Without the floor the radios' own audio is not mixed: the console hears silence.
    assert heard(console, 500.0) < -60 and heard(console, 700.0) < -60


def test_radios_hear_only_the_holder_and_the_holder_hears_the_room() -> None:
    a, b = radio("a", 500.0), radio("b", 700.0)
    console, phone = participant("console", 1000.0), participant("phone", 1300.0)
    people = [a, b, console, phone]
    run_with_floor(AudioMixer(MixerSettings()), people, holder=a)
    assert sent(a) == 0  # never its own voice back
    assert heard(b, 500.0) > -25  # radio A patched to radio B
    assert heard(b, 1000.0) < -60 and heard(b, 1300.0) < -60  # not the room's mix
    assert heard(console, 500.0) > -25  # full-duplex listeners hear the radio in the mix


def test_a_holder_that_sends_nothing_keys_the_radios_with_silence() -> None:
    a, b = radio("a", None), radio("b", 700.0)
    run_with_floor(AudioMixer(MixerSettings()), [a, b], holder=a, ticks=5)
    assert sent(b) == 5 and sent(a) == 0
    assert heard(b, 700.0, L16_48000) < -60


def test_a_full_duplex_holder_keys_the_radios_with_its_voice() -> None:
    a = radio("a", 500.0)
    commander = participant("commander", 1000.0, priority=2)
    run_with_floor(AudioMixer(MixerSettings()), [a, commander], holder=commander)
    assert heard(a, 1000.0) > -25


def test_a_talker_whose_frame_goes_missing_never_hears_its_own_voice_in_the_next_packet() -> None:
    # The others' mix is resampled to 8 kHz by a filter that remembers its last few samples,
    # which held this talker's voice: dropping out of the mix, it must not get that tail.
    mixer = AudioMixer(MixerSettings())
    a, b, c = participant("a", 500, PCMU), participant("b", 700, PCMU), participant("c", None, PCMU)
    run(mixer, [a, b, c])
    a_input = a.endpoint.audio_input
    assert isinstance(a_input, ToneInput)
    a_input.frequency = None  # its packet is late: no frame this tick, so not mixed
    mixer.tick(26, 26 * 0.02, [a, b, c])
    # What b alone sounds like through the same path: a room where only b ever talked.
    alone = AudioMixer(MixerSettings())
    b2, x = participant("b", 700, PCMU), participant("x", None, PCMU)
    run(alone, [b2, x], ticks=26)
    a_output, x_output = a.endpoint.audio_output, x.endpoint.audio_output
    assert isinstance(a_output, CapturingOutput) and isinstance(x_output, CapturingOutput)
    assert a_output.payloads[-1] == x_output.payloads[-1]
