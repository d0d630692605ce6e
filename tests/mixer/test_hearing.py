"""Who hears whom beyond mix-minus: whispers, hear_not / hear_only, monitor feeds, relays."""

from __future__ import annotations

import numpy as np
import pytest

from mediacore.audio import tone_level_dbfs
from mediacore.codecs.base import Pcm
from mediacore.endpoint import Endpoint
from mediacore.mixing import MixerSettings
from mediacore.participant import Participant
from mixer.audiomixer import AudioMixer
from tests.mixer.test_audiomixer import RATE, ToneInput, heard, participant, run


def test_a_whisper_is_heard_by_its_audience_only_and_the_rest_is_unchanged() -> None:
    mixer = AudioMixer(MixerSettings())
    boss, aide, crowd = participant("boss", 500), participant("aide", None), participant("c", 900)
    mixer.audiences = {boss.id: frozenset({aide.id})}
    run(mixer, [boss, aide, crowd])
    assert heard(aide, 500) == pytest.approx(-20, abs=1)
    assert heard(aide, 900) == pytest.approx(-20, abs=1)
    assert heard(crowd, 500) < -60  # not the audience
    assert heard(boss, 900) == pytest.approx(-20, abs=1) and heard(boss, 500) < -60


def test_hear_not_and_hear_only_shape_one_listeners_mix() -> None:
    mixer = AudioMixer(MixerSettings(max_talkers=4))
    a, b, c = participant("a", 400), participant("b", 700), participant("c", 1100)
    never, only = participant("never", None), participant("only", None)
    never.hear_not = (a.id, b.id)
    only.hear_only = (c.id,)
    run(mixer, [a, b, c, never, only])
    assert heard(never, 400) < -60 and heard(never, 700) < -60
    assert heard(never, 1100) == pytest.approx(-20, abs=1)
    assert heard(only, 1100) == pytest.approx(-20, abs=1)
    assert heard(only, 400) < -60 and heard(only, 700) < -60


class ToneFeed:
    def __init__(self, frequency: float) -> None:
        self.tone = ToneInput(frequency, level=-26.0)

    def read(self, now: float) -> Pcm | None:
        return self.tone.read(now)


def test_a_monitor_feed_is_added_to_its_listeners_mix_only() -> None:
    mixer = AudioMixer(MixerSettings())
    talker, console, other = (
        participant("t", 500),
        participant("console", None),
        participant("o", None),
    )
    console.feeds = (ToneFeed(1300),)
    run(mixer, [talker, console, other])
    assert heard(console, 500) == pytest.approx(-20, abs=1)
    assert heard(console, 1300) == pytest.approx(-26, abs=1)
    assert heard(other, 1300) < -60


class RelayEnd(Endpoint):
    kind = "monitor"

    def __init__(self) -> None:
        self.audio_input = ToneInput(None)
        self.pcm_output = self
        self.received: list[Pcm] = []

    def receive_pcm(self, pcm: Pcm, now: float) -> None:
        self.received.append(pcm)

    async def close(self, reason: str) -> None:
        pass


def test_a_relay_takes_its_mix_minus_as_samples() -> None:
    mixer = AudioMixer(MixerSettings())
    relay_end = RelayEnd()
    relay = Participant(name="relay", endpoint=relay_end)
    talker = participant("t", 800)
    run(mixer, [talker, relay])
    assert len(relay_end.received) == 25
    level = tone_level_dbfs(np.concatenate(relay_end.received[-10:]), 800, RATE)
    assert level == pytest.approx(-20, abs=1)
    relay_end.audio_input = ToneInput(600)  # now it talks: it must not get itself back
    relay_end.received.clear()
    run(mixer, [talker, relay])
    assert tone_level_dbfs(np.concatenate(relay_end.received[-10:]), 600, RATE) < -60
    assert heard(talker, 600) == pytest.approx(-20, abs=1)
