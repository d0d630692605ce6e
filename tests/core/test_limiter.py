import numpy as np

from mediacore.audio import tone
from mediacore.limiter import Limiter

RATE = 48000


def test_quiet_signal_passes_untouched() -> None:
    limiter = Limiter(RATE)
    pcm = tone(440, 0.02, RATE, level_dbfs=-20)
    assert np.array_equal(limiter.process(pcm), pcm)


def test_sum_of_loud_talkers_is_limited_below_threshold_without_clipping_flat_tops() -> None:
    limiter = Limiter(RATE, threshold_dbfs=-1.0)
    loud = tone(440, 0.02, RATE, level_dbfs=-6) + tone(660, 0.02, RATE, level_dbfs=-6)
    frames = [limiter.process(loud) for _ in range(10)]
    threshold = 10 ** (-1 / 20)
    for frame in frames:
        assert np.abs(frame).max() <= threshold + 1e-6
    # A limiter turns the gain down; a clipper would leave many samples sitting at the threshold.
    last = frames[-1]
    assert np.count_nonzero(np.abs(last) >= threshold - 1e-4) < len(last) * 0.01


def test_gain_recovers_after_the_loud_part() -> None:
    limiter = Limiter(RATE, release_per_second=4.0)
    limiter.process(tone(440, 0.02, RATE, level_dbfs=-6) * 3)
    assert limiter.gain < 0.9
    quiet = tone(440, 0.02, RATE, level_dbfs=-30)
    for _ in range(20):  # 400 ms
        limiter.process(quiet)
    assert limiter.gain == 1.0
