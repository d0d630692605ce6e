"""Adaptive jitter buffer: orders packets, drops late ones, tells the reader what to conceal.

Pure and clock-free: `put()` is called when a packet arrives and `get(now)` when the reader needs
the next packet. It adds no delay on a clean network (a packet that arrived before the tick is
played at that tick), grows when packets arrive late, and shrinks back after a quiet window.

How delay adapts:
- An underrun (nothing to play, the stream is still running) makes the reader conceal without
  advancing, so the late packet is still played: the buffer has grown by one packet.
- A packet that arrives after its slot was concealed is late; it is dropped and raises the target
  depth for a while.
- The target depth also follows the RFC 3550 interarrival jitter estimate.
- When the buffer held more than the target for a whole window, one packet is dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum


class PutResult(Enum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    LATE = "late"  # its playout slot has passed
    RESTARTED = "restarted"  # a jump in sequence numbers: the buffer started over


class PlayoutKind(Enum):
    PACKET = "packet"  # decode `payload`
    LOST = "lost"  # conceal one packet; `payload` is the next packet (for in-band FEC) or b""
    WAIT = "wait"  # the next packet is late: conceal, it will still be played
    IDLE = "idle"  # no stream: silence


@dataclass(frozen=True, slots=True)
class Playout:
    kind: PlayoutKind
    payload: bytes = b""
    samples_hint: int = 0  # RTP timestamp units this packet (or its replacement) covers


IDLE = Playout(PlayoutKind.IDLE)

# Late arrivals keep the target raised this long, so the buffer does not oscillate.
LATE_PENALTY_SECONDS = 10.0
# A buffer holding two or more packets beyond its target this long drops them at once.
FAST_SHRINK_WINDOW = 0.5
# Further than this ahead (in packets) a sequence number means the sender restarted.
RESTART_DISTANCE = 100


@dataclass(slots=True)
class JitterStatistics:
    accepted: int = 0
    duplicate: int = 0
    late: int = 0
    lost: int = 0
    underruns: int = 0
    shrunk: int = 0
    overflow: int = 0
    restarts: int = 0


class JitterBuffer:
    """Packets of one RTP stream in playout order.

    Args:
        clock_rate: RTP timestamp rate of the stream.
        max_delay: the buffer never holds more than this many seconds of audio.
        shrink_window: seconds of too-deep buffer before one packet is dropped.
        idle_after: seconds with no arrivals after which the stream is idle (silence, not PLC).
    """

    def __init__(
        self,
        clock_rate: int,
        *,
        max_delay: float = 0.3,
        shrink_window: float = 2.0,
        idle_after: float = 0.12,
    ) -> None:
        self.clock_rate = clock_rate
        self.max_delay = max_delay
        self.shrink_window = shrink_window
        self.idle_after = idle_after
        self.stats = JitterStatistics()
        self._packets: dict[int, tuple[int, bytes]] = {}  # extended seq -> (timestamp, payload)
        self._next: int | None = None  # extended seq of the next packet to play
        self._highest: int | None = None  # highest extended seq seen
        self._started = False
        self._units = clock_rate // 50  # timestamp units per packet; learnt from the stream
        self._max_packets = self._depth_limit()
        self._last_arrival = -math.inf
        self._transit: float | None = None
        self._jitter = 0.0  # seconds, RFC 3550 A.8
        self._penalty = 0
        self._penalty_until = -math.inf
        self._window_start: float | None = None
        self._window_min_depth = math.inf
        self._fast_start = 0.0
        self._fast_min_depth = math.inf

    # -- arrivals --------------------------------------------------------------------------

    def put(
        self, sequence_number: int, timestamp: int, payload: bytes, arrival: float
    ) -> PutResult:
        """File one packet that arrived at `arrival` (seconds, the reader's clock)."""
        extended = self._extend(sequence_number)
        result = PutResult.ACCEPTED
        if self._next is None or (not self._started and extended < self._next):
            self._next = extended  # a new talk spurt, or an earlier packet before playout began
        elif extended < self._next:
            self.stats.late += 1
            self._raise_penalty(arrival)
            return PutResult.LATE
        elif extended - self._next > RESTART_DISTANCE:
            self._restart(extended)
            result = PutResult.RESTARTED
        if extended in self._packets:
            self.stats.duplicate += 1
            return PutResult.DUPLICATE
        self._learn_timing(extended, timestamp, arrival)
        self._packets[extended] = (timestamp, payload)
        if self._highest is None or extended > self._highest:
            self._highest = extended
        self._last_arrival = arrival
        self.stats.accepted += 1
        self._limit_depth()
        return result

    def _extend(self, sequence_number: int) -> int:
        reference = self._highest if self._highest is not None else sequence_number
        delta = (sequence_number - reference) & 0xFFFF
        if delta >= 0x8000:
            delta -= 0x10000
        return reference + delta

    def _learn_timing(self, extended: int, timestamp: int, arrival: float) -> None:
        previous = self._packets.get(extended - 1)
        if previous is not None:
            step = (timestamp - previous[0]) & 0xFFFFFFFF
            if 0 < step <= self.clock_rate // 8 and step != self._units:  # >125 ms: a gap
                self._units = step
                self._max_packets = self._depth_limit()
        # RFC 3550 A.8 interarrival jitter, in seconds.
        transit = arrival - timestamp / self.clock_rate
        if self._transit is not None:
            difference = abs(transit - self._transit)
            if difference < 1.0:  # a timestamp jump is a new spurt, not jitter
                self._jitter += (difference - self._jitter) / 16
        self._transit = transit

    def _restart(self, extended: int) -> None:
        self._packets.clear()
        self._next = extended
        self._started = False
        self._transit = None
        self.stats.restarts += 1

    def _raise_penalty(self, now: float) -> None:
        self._penalty = min(self._penalty + 1, self._max_packets - 1)
        self._penalty_until = now + LATE_PENALTY_SECONDS

    def _limit_depth(self) -> None:
        while len(self._packets) > self._max_packets:
            assert self._next is not None
            self._drop_next()
            self.stats.overflow += 1

    def _drop_next(self) -> None:
        assert self._next is not None
        self._packets.pop(self._next, None)
        self._next += 1

    # -- playout ---------------------------------------------------------------------------

    @property
    def packet_seconds(self) -> float:
        return self._units / self.clock_rate

    @property
    def jitter_seconds(self) -> float:
        return self._jitter

    @property
    def depth(self) -> int:
        """Packets waiting to be played."""
        return len(self._packets)

    @property
    def delay_seconds(self) -> float:
        """Audio waiting in the buffer: the delay it adds right now."""
        return len(self._packets) * self.packet_seconds

    def target_depth(self, now: float) -> int:
        """Packets the buffer should hold beyond the one being played."""
        if now > self._penalty_until and self._penalty > 0:
            self._penalty -= 1
            self._penalty_until = now + LATE_PENALTY_SECONDS
        # Hold a spare packet only for jitter that is a real part of a packet time; small
        # scheduling noise is absorbed by underruns (which grow the buffer when they happen).
        from_jitter = int(3.0 * self._jitter / self.packet_seconds)
        return min(max(from_jitter, self._penalty), self._max_packets - 1)

    def _depth_limit(self) -> int:
        return max(2, int(self.max_delay / self.packet_seconds))

    def get(self, now: float) -> Playout:
        """What the reader plays next; call it once per packet duration of audio needed."""
        if self._next is None:
            return IDLE
        if not self._started:
            filling = len(self._packets) <= self.target_depth(now)
            if filling and now - self._last_arrival < self.idle_after:
                return IDLE  # still filling to the target before the spurt starts
            self._started = True
            self._window_start = self._fast_start = now
        packet = self._packets.pop(self._next, None)
        if packet is not None:
            self._next += 1
            self._track_depth(now)
            return Playout(PlayoutKind.PACKET, packet[1], self._units)
        if self._packets:
            self._next += 1
            self.stats.lost += 1
            following = self._packets.get(self._next)
            return Playout(PlayoutKind.LOST, following[1] if following else b"", self._units)
        if now - self._last_arrival >= self.idle_after:
            self._next = None  # the sender went quiet; its next packet starts a new spurt
            self._started = False
            return IDLE
        self.stats.underruns += 1
        return Playout(PlayoutKind.WAIT, b"", self._units)

    def _track_depth(self, now: float) -> None:
        """Shrink when the buffer was deeper than its target for a whole window.

        One spare packet is dropped after `shrink_window`; a large excess (after the reader
        stalled, say) is dropped at once after FAST_SHRINK_WINDOW, so delay never lingers."""
        depth = len(self._packets)
        if depth < self._window_min_depth:
            self._window_min_depth = depth
        if depth < self._fast_min_depth:
            self._fast_min_depth = depth
        if self._window_start is None or now - self._fast_start < FAST_SHRINK_WINDOW:
            return
        target = self.target_depth(now)
        drop = 0
        if self._fast_min_depth - target >= 2:
            drop = int(self._fast_min_depth) - target
        elif now - self._window_start >= self.shrink_window:
            drop = 1 if self._window_min_depth > target else 0
        self._fast_start = now
        self._fast_min_depth = math.inf
        if drop or now - self._window_start >= self.shrink_window:
            for _ in range(drop):
                self._drop_next()  # play the following packets earlier: less delay
            self.stats.shrunk += drop
            self._window_start = now
            self._window_min_depth = math.inf
