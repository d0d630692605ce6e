"""The wall benchmark's arithmetic: stamps read at the output matched to the frames sent, and
the output's frames against their schedule. Pure functions over the two logs.

Latency: a stamp says (source, k), k = n mod F of the frame the sender wrote as number n. The
frame shown is the newest n with that k written before the output frame arrived (the loop is
many seconds long, the latency well under one). A source frame's latency is from its send to
the first output frame that shows it; later output frames showing it again (the wall repeats a
picture when no newer one was decoded in time) are counted as repeats and give the "age"
figures, not the latency. Unreadable stamps are counted, never matched.

On time: output frame i carries the 90 kHz pts of its wall tick, so its schedule is
T0 + tick / fps. The wall's own clock is not visible from outside, so T0 is taken from the
frame that arrived earliest against its tick: the schedule includes the window's fastest
paint + encode + send, a constant delay does not count and jitter does. A frame is on time
when it arrives within one frame period of its schedule; ticks that never arrived (skipped by
the wall, dropped by an output, lost) count against the share. When even the fastest frame is
late against the wall's real deadline (an overloaded server), this is milder than the server's
own `frames_late` (sent more than a period after the real deadline), reported beside it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

Records = npt.NDArray[Any]  # structured arrays: wallsend.SEND_RECORD, wallrecv.READ_RECORD
CLOCK_RATE = 90000


def percentiles(values: Sequence[float] | npt.NDArray[Any], digits: int = 1) -> dict[str, Any]:
    """p50, p95, p99, max and count of `values` (None where empty)."""
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        return {"p50": None, "p95": None, "p99": None, "max": None, "count": 0}
    found = {f"p{q}": round(float(np.percentile(array, q)), digits) for q in (50, 95, 99)}
    return found | {"max": round(float(array.max()), digits), "count": int(array.size)}


CDF_POINTS = (*range(0, 100), 99.5, 99.9, 100)


def cdf(values: Sequence[float]) -> list[tuple[float, float]]:
    """(percent, value) at every whole percent and 99.5, 99.9 and 100: the distribution's
    shape in a hundred points, whatever the number of samples."""
    if not values:
        return []
    found = np.percentile(np.asarray(values, dtype=np.float64), CDF_POINTS)
    return [(float(q), round(float(v), 2)) for q, v in zip(CDF_POINTS, found, strict=True)]


def thin(points: list[Any], at_most: int) -> list[Any]:
    """Every k-th of `points` so that at most `at_most` remain (for plots kept in JSON)."""
    step = max(1, -(-len(points) // at_most))
    return points[::step]


class SendIndex:
    """When each (source, n) was written, from the sender's log."""

    def __init__(self, sends: Records, loop_frames: int) -> None:
        self.loop_frames = loop_frames
        self._by_source: dict[int, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] = {}
        for source in np.unique(sends["source"]):
            mine = sends[sends["source"] == source]
            order = np.argsort(mine["n"], kind="stable")
            self._by_source[int(source)] = (
                mine["n"][order].astype(np.int64),
                mine["t"][order].astype(np.float64),
            )

    def match(self, source: int, k: int, arrival: float) -> tuple[int, float] | None:
        """(n, send time) of the newest frame n = k mod F of `source` written before
        `arrival`, or None (nothing such was written: skipped by a catch-up, or not yet)."""
        found = self._by_source.get(source)
        if found is None:
            return None
        numbers, times = found
        latest = int(np.searchsorted(times, arrival, side="right")) - 1
        if latest < 0:
            return None
        n = int(numbers[latest])
        n -= (n - k) % self.loop_frames
        at = int(np.searchsorted(numbers, n))
        if at >= len(numbers) or numbers[at] != n:
            return None
        return n, float(times[at])

    def sent_between(self, start: float, end: float) -> dict[int, set[int]]:
        """Frame numbers of each source written in [start, end)."""
        return {
            source: {int(n) for n, t in zip(numbers, times, strict=True) if start <= t < end}
            for source, (numbers, times) in self._by_source.items()
        }


def latency(
    reads: Records,
    sends: Records,
    *,
    loop_frames: int,
    tile_sources: dict[int, int],
    start: float,
    end: float,
) -> dict[str, Any]:
    """Source-to-output latency of the source frames first shown by an output frame that
    arrived in [start, end) (first arrivals are found over every read, so a picture first shown
    before `start` and repeated inside the window is a repeat, not a late first arrival).
    `tile_sources` maps a tile to the source the wall said it shows; a stamp of another source
    there is counted as `wrong_source`. The counts are of the reads inside the window."""
    index = SendIndex(sends, loop_frames)
    shown_reads = reads[reads["tile"] >= 0]
    inside = (shown_reads["arrival"] >= start) & (shown_reads["arrival"] < end)
    first: dict[tuple[int, int], tuple[float, float]] = {}  # (source, n) -> (arrival, sent)
    ages: list[float] = []
    unreadable = wrong = unmatched = 0
    rows = shown_reads[["arrival", "tile", "source", "k"]]
    for (arrival, tile, source, k), counted in zip(rows, inside, strict=True):
        if source < 0 or tile_sources.get(int(tile)) != int(source):
            unreadable += bool(counted and source < 0)
            wrong += bool(counted and source >= 0)
            continue
        matched = index.match(int(source), int(k), float(arrival))
        if matched is None:
            unmatched += bool(counted)
            continue
        n, sent = matched
        if counted:
            ages.append(float(arrival) - sent)
        key = (int(source), n)
        if key not in first or arrival < first[key][0]:
            first[key] = (float(arrival), sent)
    first = {key: value for key, value in first.items() if start <= value[0] < end}
    window = shown_reads[inside]
    latencies = sorted(((a, a - s, key[0]) for key, (a, s) in first.items()), key=lambda x: x[0])
    early = index.sent_between(start, end - 1.0)  # frames sent early enough to be shown
    considered = sum(len(numbers) for numbers in early.values())
    shown = sum(1 for (s, n) in first if n in early.get(s, ()))
    reads_total = len(window)
    values = [x[1] * 1000 for x in latencies]
    return {
        "latency_ms": percentiles(values),
        "cdf_ms": cdf(values),
        "age_ms": percentiles([a * 1000 for a in ages]),
        "reads": reads_total,
        "unreadable": unreadable,
        "readable_percent": round(100 * (reads_total - unreadable) / reads_total, 3)
        if reads_total
        else None,
        "wrong_source": wrong,
        "unmatched": unmatched,
        "source_frames_sent": considered,
        "source_frames_shown": shown,
        "shown_percent": round(100 * shown / considered, 2) if considered else None,
        "repeats": len(ages) - len(first),
        # (seconds since start, latency ms, source) of every first arrival, for the plot
        "series": [(round(a - start, 4), round(lat * 1000, 2), s) for a, lat, s in latencies],
    }


def timing(reads: Records, *, fps: float, start: float, end: float) -> dict[str, Any]:
    """The output frames that arrived in [start, end) against their wall ticks: frames per
    second, share on time, ticks missing, lateness percentiles."""
    window = reads[(reads["arrival"] >= start) & (reads["arrival"] < end)]
    if len(window) == 0:
        return {
            "frames": 0,
            "fps": 0.0,
            "on_time_percent": 0.0,
            "expected_frames": None,
            "missing_frames": None,
            "late_frames": None,
            "lateness_ms": percentiles([]),
        }
    stamps, at = np.unique(window["ts"], return_index=True)
    arrivals = window["arrival"][at]
    ticks = np.round((stamps - stamps[0]) * fps / CLOCK_RATE).astype(np.int64)
    period = 1.0 / fps
    offsets = arrivals - ticks * period
    lateness = offsets - offsets.min()
    expected = int(ticks.max() - ticks.min() + 1)
    on_time = int((lateness <= period).sum())
    return {
        "frames": int(len(stamps)),
        "fps": round(len(stamps) / (end - start), 2),
        "expected_frames": expected,
        "missing_frames": expected - int(len(np.unique(ticks))),
        "late_frames": int(len(stamps)) - on_time,
        "on_time_percent": round(100 * on_time / expected, 3),
        "lateness_ms": percentiles(lateness * 1000),
        "series": [
            (round(float(a) - start, 4), round(float(x) * 1000, 2))
            for a, x in zip(arrivals, lateness, strict=True)
        ],
    }
