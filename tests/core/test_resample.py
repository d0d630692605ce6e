"""Streaming and one-shot rate conversion: tones keep frequency and level, every 20 ms chunk
yields exactly 20 ms, aliases are removed, and the delay stays under 2 ms."""

from __future__ import annotations

import numpy as np
import pytest

from mediacore.audio import dominant_frequency, tone, tone_level_dbfs, tone_levels_by_block
from mediacore.resample import Resampler, resample_once

PAIRS = [
    (8000, 48000),
    (16000, 48000),
    (24000, 48000),
    (44100, 48000),
    (48000, 8000),
    (48000, 16000),
    (48000, 44100),
    (8000, 16000),
    (16000, 8000),
]


def stream(resampler: Resampler, pcm: np.ndarray, chunk_seconds: float = 0.02) -> list[np.ndarray]:
    n = round(chunk_seconds * resampler.in_rate)
    return [resampler.process(pcm[i : i + n]) for i in range(0, pcm.size, n)]


@pytest.mark.parametrize(("in_rate", "out_rate"), PAIRS)
def test_streamed_tone_keeps_frequency_and_level_in_every_block(
    in_rate: int, out_rate: int
) -> None:
    out = np.concatenate(stream(Resampler(in_rate, out_rate), tone(1000.0, 1.0, in_rate)))
    steady = out[out_rate // 50 :]
    assert dominant_frequency(steady, out_rate) == pytest.approx(1000.0, abs=2.0)
    levels = tone_levels_by_block(steady, 1000.0, out_rate)
    assert np.all(np.abs(levels + 12.0) < 0.2)  # no block boundary glitches


@pytest.mark.parametrize(("in_rate", "out_rate"), PAIRS)
@pytest.mark.parametrize("chunk_seconds", [0.01, 0.02, 0.06])
def test_every_chunk_yields_exactly_its_duration(
    in_rate: int, out_rate: int, chunk_seconds: float
) -> None:
    silence = np.zeros(in_rate * 6 // 5, dtype=np.float32)  # 1.2 s: whole chunks of every size
    chunks = stream(Resampler(in_rate, out_rate), silence, chunk_seconds)
    assert {c.size for c in chunks} == {round(chunk_seconds * out_rate)}


@pytest.mark.parametrize(("in_rate", "out_rate"), PAIRS)
def test_delay_is_below_two_milliseconds_and_matches_the_filter(
    in_rate: int, out_rate: int
) -> None:
    pulse = np.zeros(in_rate // 2, dtype=np.float32)
    at = in_rate // 4 + 7
    taps = np.arange(-64, 65)
    pulse[at - 64 : at + 65] = 0.5 * np.sinc(taps / 8) * np.hanning(taps.size)  # band-limited
    resampler = Resampler(in_rate, out_rate)
    out = np.concatenate(stream(resampler, pulse))
    measured = (int(np.argmax(np.abs(out))) - at * out_rate / in_rate) / out_rate
    assert resampler.delay_seconds < 0.002
    assert measured == pytest.approx(resampler.delay_seconds, abs=2.5 / out_rate)


def test_downsampling_removes_what_the_lower_rate_cannot_carry() -> None:
    out = np.concatenate(stream(Resampler(48000, 8000), tone(6000.0, 0.5, 48000, level_dbfs=-6.0)))
    assert tone_level_dbfs(out[400:], 2000.0, 8000) < -55.0  # where 6 kHz would alias


def test_upsampling_leaves_no_images_above_the_source_band() -> None:
    out = np.concatenate(stream(Resampler(8000, 48000), tone(1000.0, 0.5, 8000)))
    assert tone_level_dbfs(out[960:], 7000.0, 48000) < -55.0  # the first image of 1 kHz


@pytest.mark.parametrize(("in_rate", "out_rate"), [(8000, 48000), (48000, 16000), (44100, 48000)])
def test_one_shot_tone_keeps_frequency_level_and_length(in_rate: int, out_rate: int) -> None:
    out = resample_once(tone(1000.0, 0.5, in_rate), in_rate, out_rate)
    assert out.dtype == np.float32 and out.size == out_rate // 2
    assert dominant_frequency(out, out_rate) == pytest.approx(1000.0, abs=2.0)
    assert tone_level_dbfs(out[out_rate // 20 : -out_rate // 20], 1000.0, out_rate) == (
        pytest.approx(-12.0, abs=0.1)
    )


def test_reset_starts_the_stream_afresh() -> None:
    resampler = Resampler(16000, 48000)
    signal = tone(1000.0, 0.1, 16000)
    first = np.concatenate(stream(resampler, signal))
    resampler.reset()
    again = np.concatenate(stream(resampler, signal))
    assert np.array_equal(first, again)


def test_equal_rates_pass_through_untouched() -> None:
    pcm = tone(1000.0, 0.02, 48000)
    assert Resampler(48000, 48000).process(pcm) is pcm
    assert resample_once(pcm, 48000, 48000) is pcm


def test_bad_rates_are_refused() -> None:
    with pytest.raises(ValueError):
        Resampler(0, 48000)
