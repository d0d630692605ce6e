"""Frames handed between two room clocks of one period and any phase."""

from __future__ import annotations

import numpy as np
import pytest

from mediacore.framerelay import FrameRelay

PERIOD = 0.02


def frame(n: int) -> np.ndarray:
    return np.full(4, n, dtype=np.float32)


def replay(relay: FrameRelay, events: list[tuple[float, str, int]]) -> list[int | None]:
    """Run ("push" | "pop", frame n) events in time order; what each pop got."""
    got: list[int | None] = []
    for at, kind, n in sorted(events, key=lambda e: e[0]):
        if kind == "push":
            relay.push(frame(n), at)
        else:
            pcm = relay.pop(at)
            got.append(None if pcm is None else int(pcm[0]))
    return got


@pytest.mark.parametrize("phase", [0.0, 0.0005, 0.004, 0.01, 0.0199])
@pytest.mark.parametrize("jitter", [0.0, 0.002])
def test_every_frame_is_handed_over_once_in_order_whatever_the_phase(
    phase: float, jitter: float
) -> None:
    rng = np.random.default_rng(7)
    relay = FrameRelay(PERIOD)
    events = []
    for n in range(200):
        events.append((n * PERIOD + rng.uniform(0, jitter), "push", n))
        events.append((n * PERIOD + phase + rng.uniform(0, jitter), "pop", n))
    steady = replay(relay, events)[5:]
    heard = [n for n in steady if n is not None]
    assert steady.count(None) == 0, steady[:20]
    assert heard == sorted(heard) and len(set(heard)) == len(heard)  # in order, never twice
    assert heard[-1] - heard[0] == len(heard) - 1  # none skipped


def test_a_producer_that_stops_is_not_repeated_and_one_that_resumes_is_locked_on_again() -> None:
    relay = FrameRelay(PERIOD)
    relay.push(frame(1), 0.0)
    assert relay.pop(0.01) is not None
    assert relay.pop(0.03) is None
    assert relay.pop(0.05) is None
    relay.push(frame(2), 0.06)
    assert relay.pop(0.061) is None  # younger than the settle time
    assert relay.pop(0.07) is not None


def test_a_backlog_is_dropped_to_stay_near_real_time() -> None:
    relay = FrameRelay(PERIOD)
    for n in range(6):
        relay.push(frame(n), n * 0.001)
    first = relay.pop(0.1)
    assert first is not None and int(first[0]) == 5  # locked on the newest ripe frame
    assert relay.dropped >= 1


@pytest.mark.parametrize("late", ["producer", "consumer"])
def test_a_clock_that_caught_up_in_a_burst_costs_no_lasting_delay(late: str) -> None:
    relay = FrameRelay(PERIOD)
    held = []
    for n in range(50):
        at = n * PERIOD
        if late == "producer" and n == 10:
            pass  # tick 10's frame comes with tick 11's
        elif late == "producer" and n == 11:
            relay.push(frame(10), at - 0.001)
            relay.push(frame(n), at)
        else:
            relay.push(frame(n), at)
        if late == "consumer" and n == 10:
            continue  # its tick 10 runs with tick 11
        if late == "consumer" and n == 11:
            relay.pop(at + 0.007)
        pcm = relay.pop(at + 0.008)
        held.append((n, None if pcm is None else int(pcm[0])))
    behind = [n - got for n, got in held[20:] if got is not None]
    assert len(behind) >= 29 and max(behind) == 0, held  # the frame of the same tick again
