"""Finding tone onsets in received RTP audio: when did each talker's burst first arrive?

A probe listener's packets are decoded into one matrix (one row per packet) and measured at
every talker's frequency with a single matrix product, so hours of audio cost little."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from mediacore.codecs import registry
from mediacore.codecs.base import CodecInfo

ON_DBFS = -32.0  # a burst sent at -20 dBFS is this loud or louder when it arrives
OFF_DBFS = -45.0  # and the listener must have heard less than this just before


def levels_by_packet(
    payloads: Sequence[bytes], codec: CodecInfo, frequencies: Sequence[float]
) -> npt.NDArray[np.float64]:
    """dBFS RMS of each frequency in each packet: shape (packets, frequencies)."""
    decoder = registry.new_decoder(codec)
    frames = [decoder.decode(p) for p in payloads]
    length = min((len(f) for f in frames), default=0)
    if length == 0:
        return np.full((0, len(frequencies)), -127.0)
    matrix = np.stack([f[:length] for f in frames]).astype(np.float64)
    n = np.arange(length)
    window = np.hanning(length + 2)[1:-1]
    kernels = np.exp(-2j * np.pi * np.outer(n, frequencies) / codec.sample_rate)
    kernels *= (window * np.sqrt(2.0) / window.sum())[:, None]
    magnitude = np.abs(matrix @ kernels)
    return 20 * np.log10(np.maximum(magnitude, 1e-7))


def find_onsets(
    times: Sequence[float], levels: npt.NDArray[np.float64], quiet_packets: int = 3
) -> list[list[float]]:
    """Arrival times where each frequency rises above ON after `quiet_packets` below OFF."""
    onsets: list[list[float]] = []
    for column in levels.T:
        found = []
        quiet = 0
        for time, level in zip(times, column, strict=True):
            if level >= ON_DBFS and quiet >= quiet_packets:
                found.append(time)
            quiet = quiet + 1 if level < OFF_DBFS else 0
        onsets.append(found)
    return onsets


def match_latencies(
    sent: Sequence[float], heard: Sequence[float], limit: float = 0.4
) -> list[float]:
    """Pair each heard onset with the latest onset sent before it; keep plausible pairs."""
    sent_sorted = np.sort(np.asarray(sent))
    latencies = []
    for time in heard:
        index = int(np.searchsorted(sent_sorted, time)) - 1
        if index >= 0 and 0 <= time - sent_sorted[index] <= limit:
            latencies.append(float(time - sent_sorted[index]))
    return latencies
