"""Finding tone onsets in received RTP audio: when did each talker's burst first arrive?

A probe listener's packets are decoded into one matrix (one row per packet) and measured at
every talker's frequency with a single matrix product, so hours of audio cost little."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
    if not frames:
        return np.full((0, len(frequencies)), -127.0)
    # One odd packet (not audio, or another packet time) must not shorten every packet's
    # window: each is cut or zero-padded to the usual length.
    length = int(np.median([len(f) for f in frames]))
    if length == 0:
        return np.full((len(frames), len(frequencies)), -127.0)
    matrix = np.zeros((len(frames), length), dtype=np.float64)
    for row, frame in zip(matrix, frames, strict=True):
        row[: min(length, len(frame))] = frame[:length]
    n = np.arange(length)
    window = np.hanning(length + 2)[1:-1]
    kernels = np.exp(-2j * np.pi * np.outer(n, frequencies) / codec.sample_rate)
    kernels *= (window * np.sqrt(2.0) / window.sum())[:, None]
    magnitude = np.abs(matrix @ kernels)
    return 20 * np.log10(np.maximum(magnitude, 1e-7))


def find_onsets(
    times: Sequence[float], levels: npt.NDArray[np.float64], quiet_packets: int = 3
) -> list[list[float]]:
    """Arrival times where each frequency rises above ON after a quiet spell: of the
    `quiet_packets` + 1 packets before, at least `quiet_packets` below OFF and none above ON.

    One packet of the spell may lie between OFF and ON: a listener whose packets are not
    aligned with the talker's hears the first fraction of a millisecond of a burst in the
    packet before its onset, and the abrupt edge of a burst at a neighbouring frequency (150
    Hz away at a console hearing 20 talkers) leaks about -45 dBFS into one packet. Neither is
    the onset, and neither may hide it."""
    onsets: list[list[float]] = []
    spell = quiet_packets + 1
    for column in levels.T:
        found = []
        for index in range(spell, len(column)):
            if column[index] < ON_DBFS:
                continue
            before = column[index - spell : index]
            if np.count_nonzero(before < OFF_DBFS) >= quiet_packets and before.max() < ON_DBFS:
                found.append(times[index])
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


def lost_onsets(
    sent: Sequence[float], heard: Sequence[float], window: tuple[float, float], limit: float = 0.4
) -> tuple[int, int]:
    """(expected, lost): onsets sent inside `window` (start, end) that must have been heard,
    and how many of them no heard onset followed within `limit` seconds."""
    heard_sorted = np.sort(np.asarray(heard, dtype=np.float64))
    expected = lost = 0
    for time in sent:
        if not window[0] <= time <= window[1] - limit:
            continue
        expected += 1
        index = int(np.searchsorted(heard_sorted, time))
        if index >= len(heard_sorted) or heard_sorted[index] - time > limit:
            lost += 1
    return expected, lost


def self_hearing(levels: npt.NDArray[np.float64], own: int) -> dict[str, Any]:
    """What a talker heard of its own tone (column `own` of levels_by_packet): packets at or
    above ON_DBFS (mix-minus exact: 0) and the loudest packet in dBFS."""
    column = levels[:, own] if len(levels) else np.zeros(0)
    return {
        "packets": len(column),
        "own_tone_packets": int(np.count_nonzero(column >= ON_DBFS)),
        "own_tone_max_dbfs": round(float(column.max()), 1) if len(column) else None,
    }
