"""The adaptive jitter buffer, driven by a fake clock: packets every 20 ms of 160 units (8 kHz)."""

from __future__ import annotations

import random

from mediacore.jitter import JitterBuffer, PlayoutKind, PutResult

STEP = 160
PERIOD = 0.02


def payload(n: int) -> bytes:
    return n.to_bytes(4, "big")


def played(buffer: JitterBuffer, now: float) -> tuple[PlayoutKind, int | None]:
    out = buffer.get(now)
    number = int.from_bytes(out.payload, "big") if out.kind is PlayoutKind.PACKET else None
    return out.kind, number


def test_clean_network_adds_no_delay_packet_played_at_first_tick_after_arrival() -> None:
    buffer = JitterBuffer(8000)
    for n in range(50):
        arrival = n * PERIOD + 0.005  # 5 ms before each tick at (n * 20 + 10) ms
        buffer.put(n, n * STEP, payload(n), arrival)
        assert played(buffer, n * PERIOD + 0.010) == (PlayoutKind.PACKET, n)
    assert buffer.depth == 0
    assert buffer.target_depth(1.0) == 0


def test_reordered_packets_within_a_tick_are_played_in_sequence_order() -> None:
    buffer = JitterBuffer(8000)
    buffer.put(1, STEP, payload(1), 0.0)
    buffer.put(0, 0, payload(0), 0.001)  # earlier packet arrives second, before playout starts
    assert played(buffer, 0.01) == (PlayoutKind.PACKET, 0)
    assert played(buffer, 0.03) == (PlayoutKind.PACKET, 1)


def test_missing_packet_with_later_ones_present_is_lost_and_offers_next_payload_for_fec() -> None:
    buffer = JitterBuffer(8000)
    buffer.put(0, 0, payload(0), 0.0)
    assert played(buffer, 0.001)[0] is PlayoutKind.PACKET
    buffer.put(2, 2 * STEP, payload(2), 0.04)
    out = buffer.get(0.041)
    assert out.kind is PlayoutKind.LOST
    assert out.payload == payload(2)  # Opus can rebuild packet 1 from packet 2's FEC
    assert played(buffer, 0.061) == (PlayoutKind.PACKET, 2)
    assert buffer.stats.lost == 1


def test_packet_arriving_after_its_slot_is_dropped_as_late_and_raises_target() -> None:
    buffer = JitterBuffer(8000)
    buffer.put(0, 0, payload(0), 0.0)
    played(buffer, 0.001)
    buffer.put(2, 2 * STEP, payload(2), 0.035)
    assert buffer.get(0.041).kind is PlayoutKind.LOST
    assert buffer.put(1, STEP, payload(1), 0.045) is PutResult.LATE
    assert buffer.stats.late == 1
    assert buffer.target_depth(0.05) == 1


def test_underrun_waits_without_skipping_so_late_packet_is_still_played() -> None:
    buffer = JitterBuffer(8000)
    buffer.put(0, 0, payload(0), 0.0)
    played(buffer, 0.001)
    assert buffer.get(0.021).kind is PlayoutKind.WAIT  # packet 1 is 5 ms late
    buffer.put(1, STEP, payload(1), 0.026)
    buffer.put(2, 2 * STEP, payload(2), 0.040)
    assert played(buffer, 0.041) == (PlayoutKind.PACKET, 1)
    assert played(buffer, 0.061) == (PlayoutKind.PACKET, 2)
    assert buffer.stats.underruns == 1


def test_jitter_grows_the_buffer_and_it_shrinks_back_when_the_network_calms() -> None:
    rng = random.Random(7)
    buffer = JitterBuffer(8000, shrink_window=1.0)
    kinds: list[PlayoutKind] = []
    arrivals = []
    for n in range(500):  # 10 s of packets delayed 0-35 ms at random, then 10 s clean
        delay = rng.uniform(0, 0.035) if n < 250 else 0.001
        arrivals.append((n * PERIOD + delay, n))
    arrivals.sort()
    tick_time = 0.010
    index = 0
    delays_during_jitter = []
    while tick_time < 10.5:
        while index < len(arrivals) and arrivals[index][0] <= tick_time:
            n = arrivals[index][1]
            buffer.put(n, n * STEP, payload(n), arrivals[index][0])
            index += 1
        kinds.append(buffer.get(tick_time).kind)
        if 3.0 < tick_time < 5.0:
            delays_during_jitter.append(buffer.target_depth(tick_time))
        tick_time += PERIOD
    assert max(delays_during_jitter) >= 1  # it grew under jitter
    assert buffer.depth <= 1  # and shrank back once the network was clean
    assert buffer.stats.shrunk >= 1
    # Once grown, most ticks play a real packet.
    late_part = kinds[150:250]
    assert late_part.count(PlayoutKind.PACKET) >= 85


def test_duplicates_are_counted_and_played_once() -> None:
    buffer = JitterBuffer(8000)
    assert buffer.put(5, 0, payload(5), 0.0) is PutResult.ACCEPTED
    assert buffer.put(5, 0, payload(5), 0.001) is PutResult.DUPLICATE
    assert played(buffer, 0.01) == (PlayoutKind.PACKET, 5)
    assert buffer.stats.duplicate == 1


def test_sequence_numbers_wrap_around_at_65535() -> None:
    buffer = JitterBuffer(8000)
    for i, seq in enumerate([65534, 65535, 0, 1]):
        buffer.put(seq, i * STEP, payload(seq), i * PERIOD)
        assert played(buffer, i * PERIOD + 0.001) == (PlayoutKind.PACKET, seq)


def test_sender_restart_with_new_sequence_numbers_starts_over() -> None:
    buffer = JitterBuffer(8000)
    buffer.put(100, 0, payload(100), 0.0)
    played(buffer, 0.001)
    assert buffer.put(30000, 99999, payload(30000), 0.02) is PutResult.RESTARTED
    assert played(buffer, 0.021) == (PlayoutKind.PACKET, 30000)


def test_silent_sender_goes_idle_and_next_spurt_plays_at_once() -> None:
    buffer = JitterBuffer(8000)
    buffer.put(0, 0, payload(0), 0.0)
    played(buffer, 0.001)
    assert buffer.get(0.05).kind is PlayoutKind.WAIT
    assert buffer.get(0.2).kind is PlayoutKind.IDLE
    buffer.put(1, 8000, payload(1), 1.0)  # DTX: next packet one second later
    assert played(buffer, 1.001) == (PlayoutKind.PACKET, 1)


def test_never_holds_more_than_max_delay() -> None:
    buffer = JitterBuffer(8000, max_delay=0.1)
    for n in range(20):  # a burst of 400 ms arriving at once
        buffer.put(n, n * STEP, payload(n), 0.0)
    assert buffer.depth <= 5
    assert buffer.stats.overflow >= 15
