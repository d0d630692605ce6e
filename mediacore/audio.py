"""Signal measures and conversions for mono float32 PCM, used by the mixer, tests and benchmarks.

Levels are RMS relative to full scale 1.0 (so a full-scale sine reads -3.01 dBFS, and a tone made
with `tone(level_dbfs=L)` reads L with both `level_dbfs` and `tone_level_dbfs`)."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

# Same alias as mediacore.codecs.base.Pcm; not imported from there because the codecs import this
# module, and importing mediacore.codecs from here would make the import order circular.
Pcm = npt.NDArray[np.float32]

# What every level function returns for silence (and for an empty block): below any real signal.
SILENCE_DBFS = -127.0

_INT16_SCALE = 32768.0
_TINY_POWER = 10.0 ** (SILENCE_DBFS / 10.0)


def _power_to_dbfs(power: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    # Clamping the power (not the dB) keeps log10 away from zero without a warning.
    return np.asarray(10.0 * np.log10(np.maximum(power, _TINY_POWER)), dtype=np.float64)


def level_dbfs(pcm: Pcm) -> float:
    """RMS level of a block relative to full scale 1.0.

    Takes: mono PCM. Returns: dBFS, SILENCE_DBFS (-127.0) for silence or an empty block."""
    if pcm.size == 0:
        return SILENCE_DBFS
    # The mixer meters every leg every tick: one BLAS dot and scalar math, no temporaries.
    power = float(np.dot(pcm, pcm)) / pcm.size
    return 10.0 * math.log10(power) if power > _TINY_POWER else SILENCE_DBFS


def peak(pcm: Pcm) -> float:
    """Largest absolute sample value of a block; 0.0 for an empty block."""
    if pcm.size == 0:
        return 0.0
    return float(np.max(np.abs(pcm)))


def tone(
    frequency: float,
    seconds: float,
    rate: int,
    level_dbfs: float = -12.0,
    phase: float = 0.0,
) -> Pcm:
    """A sine tone.

    Takes: frequency in Hz, duration in seconds, sample rate, RMS level in dBFS (peak is 3.01 dB
    higher), starting phase in radians. Returns: round(seconds * rate) float32 samples.
    Raises: ValueError if the level would put the peak at or above full scale."""
    amplitude = np.sqrt(2.0) * 10.0 ** (level_dbfs / 20.0)
    if amplitude >= 1.0:
        raise ValueError(f"a tone at {level_dbfs} dBFS RMS would clip (peak {amplitude:.3f})")
    n = np.arange(round(seconds * rate), dtype=np.float64)
    return np.asarray(amplitude * np.sin(2.0 * np.pi * frequency * n / rate + phase), np.float32)


def _tone_kernel(frequency: float, rate: int, length: int) -> npt.NDArray[np.complex128]:
    """Hann-windowed complex exponential, scaled so that a sine of RMS r gives |<x, k>| == r."""
    n = np.arange(length, dtype=np.float64)
    window = np.hanning(length + 2)[1:-1]  # no zero end points: short blocks keep every sample
    scale = np.sqrt(2.0) / window.sum()  # amplitude A -> A/2 * sum(w); RMS = A / sqrt(2)
    return np.asarray(window * scale * np.exp(-2j * np.pi * frequency * n / rate))


def tone_level_dbfs(pcm: Pcm, frequency: float, rate: int) -> float:
    """Level of one frequency in a block (windowed single-bin DFT), as RMS dBFS.

    Takes: mono PCM, the frequency in Hz, the sample rate. Returns: the RMS level a pure tone at
    that frequency would need to produce what was found, SILENCE_DBFS if nothing. Use blocks of
    at least ~10 cycles; a phase jump inside the block lowers the reading (see
    tone_levels_by_block)."""
    if pcm.size == 0:
        return SILENCE_DBFS
    amplitude = np.abs(np.dot(pcm.astype(np.float64), _tone_kernel(frequency, rate, pcm.size)))
    return float(_power_to_dbfs(np.asarray(amplitude**2, dtype=np.float64)))


def tone_levels_by_block(
    pcm: Pcm, frequency: float, rate: int, block_seconds: float = 0.02
) -> npt.NDArray[np.float64]:
    """tone_level_dbfs for each whole block of `block_seconds` (a partial last block is dropped).

    Short blocks show a tone that a long window would hide when codecs or concealment shift its
    phase. Returns: one dBFS value per block (empty if the PCM is shorter than one block)."""
    block = max(1, round(block_seconds * rate))
    count = pcm.size // block
    if count == 0:
        return np.empty(0, dtype=np.float64)
    blocks = pcm[: count * block].astype(np.float64).reshape(count, block)
    amplitudes = np.abs(blocks @ _tone_kernel(frequency, rate, block))
    return _power_to_dbfs(amplitudes**2)


def dominant_frequency(pcm: Pcm, rate: int) -> float:
    """Frequency of the strongest spectral peak, in Hz (Hann window, parabolic peak interpolation).

    Returns: 0.0 for an empty or silent block."""
    if pcm.size < 4 or not np.any(pcm):
        return 0.0
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64) * np.hanning(pcm.size)))
    spectrum[0] = 0.0  # DC offset is not a tone
    k = int(np.argmax(spectrum))
    offset = 0.0
    if 0 < k < spectrum.size - 1:
        # Parabola through the log magnitudes of the peak bin and its neighbours.
        a, b, c = np.log(np.maximum(spectrum[k - 1 : k + 2], 1e-300))
        denominator = a - 2.0 * b + c
        if denominator != 0.0:
            offset = float(0.5 * (a - c) / denominator)
    return (k + offset) * rate / pcm.size


def float_to_int16(pcm: Pcm) -> npt.NDArray[np.int16]:
    """Scale [-1, 1) float PCM to int16 (x 32768), rounding to nearest and clipping out-of-range."""
    scaled = np.rint(pcm * np.float32(_INT16_SCALE))
    return np.asarray(np.clip(scaled, -32768, 32767), dtype=np.int16)


def int16_to_float(samples: npt.NDArray[np.int16]) -> Pcm:
    """Scale int16 samples to float32 PCM in [-1, 1) (/ 32768)."""
    return samples.astype(np.float32) * np.float32(1.0 / _INT16_SCALE)
