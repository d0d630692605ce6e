"""Signal measures in mediacore.audio: the yardsticks every other audio test relies on."""

from __future__ import annotations

import numpy as np
import pytest

from mediacore.audio import (
    SILENCE_DBFS,
    dominant_frequency,
    float_to_int16,
    int16_to_float,
    level_dbfs,
    peak,
    tone,
    tone_level_dbfs,
    tone_levels_by_block,
)


@pytest.mark.parametrize("level", [-3.5, -12.0, -40.0])
def test_tone_level_reads_back_with_both_meters(level: float) -> None:
    pcm = tone(1000.0, 0.5, 8000, level_dbfs=level)
    assert pcm.dtype == np.float32 and pcm.size == 4000
    assert level_dbfs(pcm) == pytest.approx(level, abs=0.02)
    assert tone_level_dbfs(pcm, 1000.0, 8000) == pytest.approx(level, abs=0.05)
    assert peak(pcm) == pytest.approx(np.sqrt(2) * 10 ** (level / 20), rel=1e-3)


def test_tone_refuses_a_level_that_would_clip() -> None:
    with pytest.raises(ValueError):
        tone(1000.0, 0.1, 8000, level_dbfs=-2.0)


def test_silence_and_empty_blocks_read_the_floor() -> None:
    silence = np.zeros(160, dtype=np.float32)
    empty = np.zeros(0, dtype=np.float32)
    assert level_dbfs(silence) == SILENCE_DBFS == -127.0
    assert level_dbfs(empty) == SILENCE_DBFS
    assert tone_level_dbfs(silence, 1000.0, 8000) == SILENCE_DBFS
    assert tone_level_dbfs(empty, 1000.0, 8000) == SILENCE_DBFS
    assert peak(empty) == 0.0
    assert dominant_frequency(empty, 8000) == 0.0


def test_full_scale_square_is_zero_dbfs() -> None:
    square = np.where(np.arange(800) % 8 < 4, 0.999, -0.999).astype(np.float32)
    assert level_dbfs(square) == pytest.approx(0.0, abs=0.01)


def test_tone_meter_ignores_other_frequencies() -> None:
    pcm = tone(2000.0, 0.02, 8000, level_dbfs=-6.0)
    assert tone_level_dbfs(pcm, 1000.0, 8000) < -60.0


def test_blocks_see_a_tone_that_a_phase_flip_hides_from_a_long_window() -> None:
    # 0.5 s of 1 kHz is 500 whole cycles, so the second half is exactly the first, inverted.
    flipped = np.concatenate([tone(1000.0, 0.5, 8000), tone(1000.0, 0.5, 8000, phase=np.pi)])
    assert tone_level_dbfs(flipped, 1000.0, 8000) < -40.0
    blocks = tone_levels_by_block(flipped, 1000.0, 8000, block_seconds=0.02)
    assert blocks.shape == (50,)
    np.testing.assert_allclose(blocks, -12.0, atol=0.05)


def test_blocks_drop_a_partial_tail_and_handle_short_input() -> None:
    pcm = tone(500.0, 0.05, 16000)
    assert tone_levels_by_block(pcm, 500.0, 16000).shape == (2,)
    assert tone_levels_by_block(pcm[:100], 500.0, 16000).shape == (0,)


@pytest.mark.parametrize(("frequency", "rate"), [(1234.5, 48000), (440.0, 8000), (7000.0, 16000)])
def test_dominant_frequency_finds_the_tone(frequency: float, rate: int) -> None:
    pcm = tone(frequency, 0.1, rate) + np.float32(0.01)  # a DC offset must not win
    assert dominant_frequency(pcm, rate) == pytest.approx(frequency, abs=2.0)


def test_int16_conversions_round_trip_every_value_and_clip() -> None:
    every = np.arange(-32768, 32768, dtype=np.int16)
    np.testing.assert_array_equal(float_to_int16(int16_to_float(every)), every)
    out_of_range = np.array([1.5, 1.0, -1.0, -1.5, 0.49 / 32768], dtype=np.float32)
    np.testing.assert_array_equal(float_to_int16(out_of_range), [32767, 32767, -32768, -32768, 0])
    assert int16_to_float(every).dtype == np.float32
    assert int16_to_float(every).min() == -1.0 and int16_to_float(every).max() < 1.0
