"""The benchmarks' onset finder: a burst is found once, after a quiet spell, and neither the
first fraction of it in the packet before nor a neighbour's edge leaking into the spell hides
it."""

from __future__ import annotations

import numpy as np

from bench.onsets import find_onsets, levels_by_packet
from mediacore.codecs import PCMU, registry


def onsets(levels: list[float]) -> list[float]:
    times = [0.02 * n for n in range(len(levels))]
    return [round(t, 2) for t in find_onsets(times, np.array([levels]).T)[0]]


def test_a_burst_after_silence_is_one_onset() -> None:
    assert onsets([-70, -70, -70, -70, -22, -22, -22, -70, -70, -70, -70, -22]) == [0.08, 0.22]


def test_the_first_fraction_of_a_burst_in_the_packet_before_does_not_hide_it() -> None:
    assert onsets([-62, -63, -58, -45, -23, -22, -22]) == [0.08]


def test_a_neighbours_edge_leaking_into_the_quiet_spell_does_not_hide_it() -> None:
    assert onsets([-64, -62, -85, -45, -79, -23, -22]) == [0.10]


def test_a_burst_going_on_or_a_short_gap_is_no_new_onset() -> None:
    assert onsets([-70, -70, -70, -70, -22, -22, -70, -22, -70, -70, -22]) == [0.08]
    assert onsets([-70, -70, -70, -40, -40, -22]) == []  # too little quiet before


def test_an_odd_short_packet_does_not_shorten_every_packets_window() -> None:
    """A 40-byte packet among 160-byte ones (an RTCP report read as audio, say) once cut every
    packet's window to 5 ms, where 20 tones 150 Hz apart cannot be told apart."""
    rate = PCMU.sample_rate
    t = np.arange(160) / rate
    encoder = registry.new_encoder(PCMU, 20)
    tone_900 = encoder.encode((0.1 * np.sin(2 * np.pi * 900 * t)).astype(np.float32))
    tone_1050 = encoder.encode((0.1 * np.sin(2 * np.pi * 1050 * t)).astype(np.float32))
    levels = levels_by_packet([tone_900, bytes(40), tone_1050], PCMU, [900.0, 1050.0])
    assert levels[0, 0] > -25 and levels[0, 1] < -40  # each tone apart from its neighbour
    assert levels[2, 1] > -25 and levels[2, 0] < -40
