"""Where in the packet time a room's clock ticks: its phase, on the machine's monotonic clock.

Every process of one machine reads the same monotonic clock (CLOCK_MONOTONIC), so the rooms of
different media workers can tick at phases chosen against each other:

- A worker's rooms spread over the period: a new room takes the middle of the widest gap
  between the phases of the rooms it has, so their mixing does not pile up at one moment and
  push the later rooms' ticks late.
- The shards of one room tick apart: shard k at the room's phase plus a share of the period
  from the van der Corput sequence (1/2, 1/4, 3/4, 1/8, ...). A talker's frame sent over a
  cascade link after one shard's tick is mixed at the other's next tick: half a tick later
  with two shards, where shards opened at nearly the same moment made it wait a whole one.

Pure: the room's clock (mediacore/room.py) and the shard placement
(mediacore/server/shardedrooms.py) use it."""

from __future__ import annotations

import math
from collections.abc import Iterable


def spread(taken: Iterable[float], period: float) -> float | None:
    """The phase (0 <= phase < period) in the middle of the widest gap between the `taken`
    phases, going round the period; None when none is taken (any phase will do)."""
    phases = sorted(p % period for p in taken)
    if not phases:
        return None
    gaps = [(phases[0] + period - phases[-1], phases[-1])]  # the gap round the end
    gaps.extend((after - before, before) for before, after in zip(phases, phases[1:], strict=False))
    width, start = max(gaps, key=lambda gap: (gap[0], -gap[1]))  # ties: the earliest gap
    return (start + width / 2) % period


def shard_offset(index: int, period: float) -> float:
    """How far after its room's phase shard `index` ticks (shard 0 is the room's own)."""
    share, weight, n = 0.0, 0.5, index
    while n:
        share += weight * (n & 1)
        n >>= 1
        weight /= 2
    return share * period


def shard_phase(room_phase: float, index: int, period: float) -> float:
    """The phase of shard `index` of a room whose first shard ticks at `room_phase`."""
    return (room_phase + shard_offset(index, period)) % period


def next_shard_phase(room_phase: float, taken: Iterable[float], period: float) -> float:
    """The phase of a room's next shard: the first of the sequence that none of the `taken`
    phases (its shards', the first included) holds already (a shard may have gone)."""
    held = [p % period for p in taken]
    for index in range(1, 256):
        phase = shard_phase(room_phase, index, period)
        if all(_apart(phase, other, period) > period / 1024 for other in held):
            return phase
    return spread(held, period) or room_phase


def _apart(a: float, b: float, period: float) -> float:
    distance = abs(a - b) % period
    return min(distance, period - distance)


def first_deadline(now: float, phase: float, period: float) -> float:
    """The first moment after `now` that lies at `phase` of the period."""
    deadline = math.floor((now - phase) / period) * period + phase
    while deadline <= now:
        deadline += period
    return deadline


def phase_of(moment: float, period: float) -> float:
    """The phase a clock ticking at `moment` (and every period from it) has."""
    return moment % period
