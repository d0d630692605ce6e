"""Room clock phases: a worker's rooms spread over the packet time, a room's shards apart, and
a room's clock ticking at the phase it was given."""

from __future__ import annotations

import asyncio

import pytest

from mediacore.clock import FakeClock
from mediacore.clockphase import (
    first_deadline,
    next_shard_phase,
    shard_offset,
    shard_phase,
    spread,
)
from mediacore.events import EventBus
from mediacore.room import RoomSettings
from mediacore.server.config import Config
from mediacore.server.directory import RoomDirectory

PERIOD = 0.02


def test_the_first_room_takes_any_phase_and_the_next_the_middle_of_the_widest_gap() -> None:
    assert spread([], PERIOD) is None
    assert spread([0.004], PERIOD) == pytest.approx(0.014)
    assert spread([0.004, 0.014], PERIOD) == pytest.approx(0.009)  # ties: the earliest gap
    assert spread([0.019, 0.001], PERIOD) == pytest.approx(0.010)  # the gap round the end counts


def test_rooms_opened_one_after_another_spread_evenly_over_the_period() -> None:
    taken = [0.0]
    for _ in range(15):
        phase = spread(taken, PERIOD)
        assert phase is not None
        taken.append(phase)
    ordered = sorted(taken)
    gaps = {round((b - a) * 1000, 6) for a, b in zip(ordered, ordered[1:], strict=False)}
    assert len(gaps) == 1 and gaps.pop() == pytest.approx(PERIOD * 1000 / 16)


def test_shards_tick_half_a_period_apart_then_in_between() -> None:
    offsets = [shard_offset(k, PERIOD) / PERIOD for k in range(6)]
    assert offsets == pytest.approx([0.0, 0.5, 0.25, 0.75, 0.125, 0.625])
    assert shard_phase(0.015, 1, PERIOD) == pytest.approx(0.005)  # round the period
    # the second shard gone, the next one takes its place, not the third's
    assert next_shard_phase(0.0, [0.0, 0.005], PERIOD) == pytest.approx(0.010)
    assert next_shard_phase(0.0, [0.0, 0.010], PERIOD) == pytest.approx(0.005)


def test_the_first_deadline_lies_at_the_phase_and_after_now() -> None:
    assert first_deadline(100.003, 0.007, PERIOD) == pytest.approx(100.007)
    assert first_deadline(100.008, 0.007, PERIOD) == pytest.approx(100.027)
    assert first_deadline(100.007, 0.007, PERIOD) == pytest.approx(100.027)  # now is not after


async def test_a_directory_spreads_its_rooms_and_a_room_ticks_at_its_phase() -> None:
    clock = FakeClock(start=500.0031)
    directory = RoomDirectory(Config(rooms=()), EventBus(), clock=clock)
    first = directory.open(RoomSettings("alpha"))
    second = directory.open(RoomSettings("bravo"))
    given = directory.open(RoomSettings("charlie"), phase=0.0125)
    assert first.phase == pytest.approx(0.0031)  # the first: a ptime from its opening
    assert second.phase == pytest.approx(0.0131)  # half the period after it
    assert given.phase == pytest.approx(0.0125)
    summary = directory.summary(given)
    assert summary["clock"]["phase_ms"] == 12.5
    for room in (first, second, given):
        await room.close()
    await asyncio.sleep(0)
