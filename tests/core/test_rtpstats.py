"""RFC 3550 appendix A.1 (sequence tracking), A.3 (loss) and A.8 (jitter) statistics."""

from __future__ import annotations

import pytest

from mediacore.rtpstats import ReceptionStatistics

RATE = 8000
PTIME = 0.02
STEP = 160  # 20 ms at 8 kHz


def feed(stats: ReceptionStatistics, sequence_numbers: list[int], start_seq: int = 0) -> None:
    """Feed packets with perfectly regular timing derived from their sequence numbers."""
    for seq in sequence_numbers:
        index = (seq - start_seq) & 0xFFFF
        stats.update(seq, (index * STEP) & 0xFFFFFFFF, index * PTIME, RATE)


def test_no_packets_gives_an_empty_report() -> None:
    stats = ReceptionStatistics()
    assert (stats.packets_received, stats.expected, stats.cumulative_lost) == (0, 0, 0)
    block = stats.report_block(ssrc=7)
    assert (block.ssrc, block.fraction_lost, block.cumulative_lost, block.jitter) == (7, 0, 0, 0)


def test_in_order_stream_has_no_loss_and_no_jitter() -> None:
    stats = ReceptionStatistics()
    feed(stats, list(range(1000, 1050)), start_seq=1000)
    assert stats.packets_received == 50
    assert stats.extended_highest_sequence == 1049
    assert stats.expected == 50
    assert stats.cumulative_lost == 0
    assert stats.jitter == pytest.approx(0.0, abs=1e-6)
    block = stats.report_block(ssrc=1)
    assert (block.fraction_lost, block.cumulative_lost, block.highest_sequence) == (0, 0, 1049)


def test_loss_section_a3_fraction_is_lost_over_expected_in_eighths_of_a_byte() -> None:
    stats = ReceptionStatistics()
    feed(stats, [0, 1, 2, 4, 5, 6, 7, 9])  # 3 and 8 lost: 2 of 10 expected
    stats.update(10, 10 * STEP, 10 * PTIME, RATE)
    block = stats.report_block(ssrc=1)
    assert stats.expected == 11
    assert block.cumulative_lost == 2
    assert block.fraction_lost == (2 << 8) // 11


def test_fraction_lost_covers_only_the_interval_since_the_previous_report() -> None:
    stats = ReceptionStatistics()
    feed(stats, [0, 2, 4, 6])  # 3 lost of 7
    first = stats.report_block(ssrc=1)
    assert first.fraction_lost == (3 << 8) // 7
    feed(stats, list(range(7, 17)))  # 10 more, none lost
    second = stats.report_block(ssrc=1)
    assert second.fraction_lost == 0
    assert second.cumulative_lost == 3
    third = stats.report_block(ssrc=1)  # nothing new arrived
    assert third.fraction_lost == 0


def test_sequence_wrap_section_a1_extends_highest_sequence() -> None:
    stats = ReceptionStatistics()
    seqs = [(65530 + i) & 0xFFFF for i in range(20)]
    feed(stats, seqs, start_seq=65530)
    assert stats.extended_highest_sequence == 65536 + 13
    assert stats.expected == 20
    assert stats.cumulative_lost == 0
    assert stats.report_block(ssrc=1).highest_sequence == 65536 + 13


def test_reordered_packet_within_misorder_window_is_counted_without_loss() -> None:
    stats = ReceptionStatistics()
    feed(stats, [0, 1, 3, 2, 4])
    assert stats.packets_received == 5
    assert stats.cumulative_lost == 0
    assert stats.extended_highest_sequence == 4


def test_late_packet_across_wrap_does_not_add_a_cycle() -> None:
    stats = ReceptionStatistics()
    feed(stats, [65534, 65535, 1, 0, 2], start_seq=65534)
    assert stats.extended_highest_sequence == 65536 + 2
    assert stats.cumulative_lost == 0


def test_duplicates_make_cumulative_loss_negative_section_a3() -> None:
    stats = ReceptionStatistics()
    feed(stats, [0, 1, 2, 2, 2])
    assert stats.cumulative_lost == -2
    block = stats.report_block(ssrc=1)
    assert block.cumulative_lost == -2
    assert block.fraction_lost == 0  # negative interval loss reports as 0


def test_cumulative_loss_is_clamped_to_24_bits_in_reports() -> None:
    stats = ReceptionStatistics()
    seq = 0
    for _ in range(2900):  # each 2999-step gap loses 2998 packets: ~8.7 million in total
        stats.update(seq & 0xFFFF, 0, 0.0, RATE)
        seq += 2999
    assert stats.cumulative_lost > 0x7FFFFF
    assert stats.report_block(ssrc=1).cumulative_lost == 0x7FFFFF


def test_single_large_jump_is_ignored_as_a_stray_packet() -> None:
    stats = ReceptionStatistics()
    feed(stats, [100, 101, 102])
    stats.update(40000, 0, 1.0, RATE)
    feed(stats, [103, 104])
    assert stats.packets_received == 5
    assert stats.extended_highest_sequence == 104
    assert stats.cumulative_lost == 0


def test_source_restart_section_a1_two_sequential_jumped_packets_resync() -> None:
    stats = ReceptionStatistics()
    feed(stats, [100, 101, 102])
    stats.update(40000, 0, 1.0, RATE)  # first jumped packet: only remembered
    stats.update(40001, 160, 1.02, RATE)  # follows it: the sender restarted
    assert stats.packets_received == 1
    assert stats.extended_highest_sequence == 40001
    assert stats.expected == 1
    stats.update(40002, 320, 1.04, RATE)
    assert (stats.packets_received, stats.cumulative_lost) == (2, 0)
    assert stats.jitter == pytest.approx(0.0, abs=1e-6)  # the timestamp jump did not count


def test_large_jump_followed_by_unrelated_packet_does_not_resync() -> None:
    stats = ReceptionStatistics()
    feed(stats, [100, 101])
    stats.update(40000, 0, 1.0, RATE)
    stats.update(50000, 0, 1.0, RATE)
    stats.update(50001, 0, 1.0, RATE)  # follows the second jump: that one re-syncs
    assert stats.extended_highest_sequence == 50001


def test_jitter_section_a8_single_step() -> None:
    stats = ReceptionStatistics()
    stats.update(0, 0, 0.0, RATE)
    stats.update(1, 160, 0.030, RATE)  # 10 ms late: D = 240 - 160 = 80 units
    assert stats.jitter == pytest.approx(80 / 16)
    assert stats.jitter_seconds == pytest.approx(5 / 8000)
    assert stats.report_block(ssrc=1).jitter == 5


def test_jitter_converges_towards_mean_deviation() -> None:
    stats = ReceptionStatistics()
    # Alternate 0 and +5 ms arrival offsets: every |D| is 40 units, so J tends to 40.
    for i in range(400):
        stats.update(i, i * STEP, i * PTIME + (0.005 if i % 2 else 0.0), RATE)
    assert stats.jitter == pytest.approx(40.0, rel=1e-3)


def test_jitter_ignores_32_bit_timestamp_wrap() -> None:
    stats = ReceptionStatistics()
    start = 0xFFFFFFFF - 5 * STEP
    for i in range(20):
        stats.update(i, (start + i * STEP) & 0xFFFFFFFF, i * PTIME, RATE)
    assert stats.jitter == pytest.approx(0.0, abs=1e-6)


def test_reordered_and_duplicate_packets_give_no_jitter_sample() -> None:
    stats = ReceptionStatistics()
    feed(stats, [0, 1, 2])
    stats.update(1, STEP, 5.0, RATE)  # a very late duplicate
    assert stats.jitter == pytest.approx(0.0, abs=1e-6)


def test_jitter_restarts_when_clock_rate_changes() -> None:
    stats = ReceptionStatistics()
    stats.update(0, 0, 0.0, 8000)
    stats.update(1, 960, 0.02, 48000)  # new payload type: no sample across the change
    stats.update(2, 1920, 0.04, 48000)
    assert stats.jitter == pytest.approx(0.0, abs=1e-6)
    assert stats.jitter_seconds == pytest.approx(0.0, abs=1e-9)


def test_report_block_passes_lsr_and_dlsr_through() -> None:
    stats = ReceptionStatistics()
    feed(stats, [0, 1])
    block = stats.report_block(ssrc=9, lsr=0x12345678, dlsr=0x10000)
    assert (block.ssrc, block.lsr, block.dlsr) == (9, 0x12345678, 0x10000)
    assert bytes(block)  # encodable as it stands


def test_reset_forgets_the_previous_source() -> None:
    stats = ReceptionStatistics()
    feed(stats, [0, 2, 4])
    stats.update(5, 0, 9.0, RATE)
    stats.reset()
    assert (stats.packets_received, stats.expected, stats.cumulative_lost) == (0, 0, 0)
    assert stats.jitter == pytest.approx(0.0, abs=1e-6)
    feed(stats, [500, 501], start_seq=500)
    assert stats.expected == 2
    assert stats.report_block(ssrc=1).cumulative_lost == 0
