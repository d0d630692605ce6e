"""Per-source RTP reception statistics as RFC 3550 appendix A.1, A.3 and A.8 compute them.

Feed every received packet of one SSRC to `update()`; `report_block()` gives the RR/SR block.
"""

from __future__ import annotations

from mediacore.rtcp import ReportBlock

__all__ = ["MAX_DROPOUT", "MAX_MISORDER", "ReceptionStatistics"]

SEQ_MOD = 1 << 16
MAX_DROPOUT = 3000  # a forward jump up to this is loss; bigger is a possible source restart
MAX_MISORDER = 100  # a backward step up to this is reordering or a duplicate


class ReceptionStatistics:
    """Sequence tracking, loss and interarrival jitter for one RTP source.

    Probation (A.1's MIN_SEQUENTIAL) is skipped: the first packet starts the statistics at once.
    A jump of more than MAX_DROPOUT is ignored unless the next packet follows it in sequence,
    in which case the sender is taken to have restarted and the statistics re-sync on it."""

    __slots__ = (
        "_base_seq",
        "_max_seq",
        "_cycles",
        "_bad_seq",
        "_received",
        "_received_prior",
        "_expected_prior",
        "_jitter",
        "_last_arrival",
        "_last_timestamp",
        "_last_clock_rate",
        "_started",
    )

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget everything, e.g. when the source changes SSRC."""
        self._started = False
        self._base_seq = 0
        self._max_seq = 0
        self._cycles = 0
        self._bad_seq = SEQ_MOD + 1  # matches no 16-bit sequence number
        self._received = 0
        self._received_prior = 0
        self._expected_prior = 0
        self._jitter = 0.0
        self._last_arrival: float | None = None
        self._last_timestamp = 0
        self._last_clock_rate = 0

    def _init_sequence(self, sequence_number: int) -> None:
        self._started = True
        self._base_seq = sequence_number
        self._max_seq = sequence_number
        self._cycles = 0
        self._bad_seq = SEQ_MOD + 1
        self._received = 0
        self._received_prior = 0
        self._expected_prior = 0
        self._last_arrival = None  # the restarted source's timestamps are unrelated to the old

    def update(
        self, sequence_number: int, rtp_timestamp: int, arrival_time: float, clock_rate: int
    ) -> None:
        """Account for one received packet.

        Takes its 16-bit sequence number, 32-bit RTP timestamp, arrival time in seconds (any
        monotonic clock) and the payload's RTP clock rate in Hz."""
        if not self._started:
            self._init_sequence(sequence_number)
            in_order = True
        else:
            delta = (sequence_number - self._max_seq) & 0xFFFF
            if delta < MAX_DROPOUT:
                # In order, possibly with a gap; a smaller number than max means we wrapped.
                if sequence_number < self._max_seq:
                    self._cycles += SEQ_MOD
                self._max_seq = sequence_number
                in_order = delta != 0
            elif delta <= SEQ_MOD - MAX_MISORDER:
                # A very large jump: re-sync only if the packet after it follows in sequence.
                if sequence_number != self._bad_seq:
                    self._bad_seq = (sequence_number + 1) & 0xFFFF
                    return
                self._init_sequence(sequence_number)
                in_order = True
            else:
                in_order = False  # duplicate or reordered: counted, but no jitter sample
        self._received += 1
        if in_order:
            self._update_jitter(rtp_timestamp, arrival_time, clock_rate)

    def _update_jitter(self, rtp_timestamp: int, arrival_time: float, clock_rate: int) -> None:
        last_arrival = self._last_arrival
        if last_arrival is not None and clock_rate == self._last_clock_rate:
            # D(i-1,i) of A.8, with the 32-bit timestamp difference taken wrap-aware.
            timestamp_delta = (rtp_timestamp - self._last_timestamp) & 0xFFFFFFFF
            if timestamp_delta >= 0x80000000:
                timestamp_delta -= 0x100000000
            d = abs((arrival_time - last_arrival) * clock_rate - timestamp_delta)
            self._jitter += (d - self._jitter) / 16.0
        self._last_arrival = arrival_time
        self._last_timestamp = rtp_timestamp
        self._last_clock_rate = clock_rate

    @property
    def packets_received(self) -> int:
        """Packets counted so far, duplicates included (A.3)."""
        return self._received

    @property
    def extended_highest_sequence(self) -> int:
        """The highest sequence number seen, extended with the count of 16-bit wraps."""
        return self._cycles + self._max_seq

    @property
    def expected(self) -> int:
        """Packets expected from the first sequence number to the highest (0 before any)."""
        if not self._started:
            return 0
        return self.extended_highest_sequence - self._base_seq + 1

    @property
    def cumulative_lost(self) -> int:
        """Expected minus received; negative when duplicates outnumber losses (unclamped)."""
        return self.expected - self._received

    @property
    def jitter(self) -> float:
        """Interarrival jitter estimate in RTP timestamp units (A.8)."""
        return self._jitter

    @property
    def jitter_seconds(self) -> float:
        """Interarrival jitter in seconds, using the clock rate of the latest packet."""
        if not self._last_clock_rate:
            return 0.0
        return self._jitter / self._last_clock_rate

    def report_block(self, ssrc: int, lsr: int = 0, dlsr: int = 0) -> ReportBlock:
        """Build the reception report for source `ssrc` and start a new reporting interval.

        `lsr`/`dlsr` are the middle 32 bits of the source's last SR NTP time and the delay
        since it in 1/65536 s (0 if none). The fraction lost covers packets since the previous
        call; the cumulative loss is clamped to the signed 24-bit field (A.3)."""
        expected = self.expected
        expected_interval = expected - self._expected_prior
        received_interval = self._received - self._received_prior
        self._expected_prior = expected
        self._received_prior = self._received
        lost_interval = expected_interval - received_interval
        if expected_interval <= 0 or lost_interval <= 0:
            fraction = 0
        else:
            # Capped defensively: a non-empty interval always holds at least one received packet.
            fraction = min(255, (lost_interval << 8) // expected_interval)
        cumulative = max(-0x800000, min(0x7FFFFF, self.cumulative_lost))
        return ReportBlock(
            ssrc=ssrc,
            fraction_lost=fraction,
            cumulative_lost=cumulative,
            highest_sequence=self.extended_highest_sequence & 0xFFFFFFFF,
            jitter=int(self._jitter) & 0xFFFFFFFF,
            lsr=lsr,
            dlsr=dlsr,
        )
