"""RFC 4733 telephone-events: the 4-byte payload, a de-duplicating receiver and a sender.

The receiver turns the start/update/redundant-end packet train of each event into exactly one
DtmfDigit; the sender produces that train for one digit. Neither does I/O or RTP framing.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass

__all__ = [
    "EVENT_NAMES",
    "DtmfDigit",
    "DtmfError",
    "DtmfReceiver",
    "DtmfSender",
    "TelephoneEvent",
    "dtmf_packets",
    "event_name",
]

EVENT_NAMES: dict[int, str] = {
    **{code: str(code) for code in range(10)},
    10: "*",
    11: "#",
    12: "A",
    13: "B",
    14: "C",
    15: "D",
    16: "flash",
}
_EVENT_CODES: dict[str, int] = {name: code for code, name in EVENT_NAMES.items()}

EVENT_SIZE = 4
MAX_DURATION = 0xFFFF  # the 16-bit duration field; longer events are sent in segments
END_PACKET_COPIES = 3  # RFC 4733 section 2.5.1.4 recommends three end packets
DEFAULT_VOLUME = 10  # -10 dBm0, a typical DTMF level

_EVENT = struct.Struct("!BBH")


class DtmfError(ValueError):
    """A telephone-event payload that is malformed, or a digit/duration that cannot be sent."""


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """One RFC 4733 event block: event code, E bit, volume (0..63, -dBm0) and duration."""

    event: int
    end: bool
    volume: int
    duration: int

    @classmethod
    def parse(cls, payload: bytes) -> TelephoneEvent:
        """Parse the first event block of `payload`.

        Payloads of several 4-byte blocks (RFC 4733 section 2.5.1.5) yield only the first.
        Raises DtmfError if the payload is empty, shorter than 4 bytes or not whole blocks."""
        size = len(payload)
        if size < EVENT_SIZE or size % EVENT_SIZE:
            raise DtmfError(f"telephone-event payload of {size} bytes is not whole 4-byte events")
        event, flags, duration = _EVENT.unpack_from(payload)
        # The R bit (0x40) is reserved: ignored on receipt.
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)

    def serialize(self) -> bytes:
        """Encode the 4-byte block; raises DtmfError if a field is out of range."""
        if not 0 <= self.volume <= 0x3F:
            raise DtmfError(f"volume {self.volume} outside 0..63")
        try:
            return _EVENT.pack(self.event, (0x80 if self.end else 0) | self.volume, self.duration)
        except struct.error as exc:
            raise DtmfError(f"telephone-event field out of range: {exc}") from None

    def __bytes__(self) -> bytes:
        return self.serialize()


@dataclass(frozen=True, slots=True)
class DtmfDigit:
    """A completed event: its name ("0".."9", "*", "#", "A".."D", "flash" or "event-N"),
    total duration in RTP timestamp units, volume, and the RTP timestamp of its start."""

    digit: str
    duration: int
    volume: int
    rtp_timestamp: int


def event_name(code: int) -> str:
    """The name of event `code`: EVENT_NAMES' entry, or "event-N" for codes beyond DTMF."""
    return EVENT_NAMES.get(code) or f"event-{code}"


class DtmfReceiver:
    """Reports each telephone-event of one RTP stream once.

    Events are told apart by RTP timestamp: all packets of one event share it, and a later event
    has a new one. An event is reported on its first end packet; if all its end packets are
    lost, when a packet of the next event arrives or on `flush()`. Long events sent as segments
    (RFC 4733 section 2.5.1.3) are joined into one digit."""

    __slots__ = ("_pending", "_start_timestamp", "_segments", "_carried", "_reported", "_ready")

    def __init__(self) -> None:
        self._pending: TelephoneEvent | None = None
        self._start_timestamp = 0
        self._segments: list[int] = []  # RTP timestamps of the pending event's segments
        self._carried = 0  # duration of the pending event's earlier, completed segments
        # Timestamps of recently reported events, so late or redundant packets are dropped.
        self._reported: deque[int] = deque(maxlen=16)
        self._ready: deque[DtmfDigit] = deque()

    def receive(self, rtp_timestamp: int, payload: bytes, marker: bool) -> DtmfDigit | None:
        """Take one telephone-event packet; return a digit that just completed, or None.

        If one packet completes two digits (the previous event's end packets were all lost and
        this is the next event's end), the older is returned and the newer on the next call
        (usually the next redundant end packet) or from `flush()`. Raises DtmfError for a
        malformed payload."""
        event = TelephoneEvent.parse(payload)
        if rtp_timestamp in self._reported:
            return self._next_ready()
        pending = self._pending
        if pending is None:
            self._start(rtp_timestamp, event)
        elif rtp_timestamp in self._segments:
            # Keep the longest report of the current segment: updates may arrive out of order.
            if rtp_timestamp != self._segments[-1]:
                return self._next_ready()  # a late packet of an earlier segment
            if event.end or event.duration >= pending.duration:
                self._pending = event
        elif (
            not marker
            and not pending.end
            and event.event == pending.event
            and pending.duration == MAX_DURATION
        ):
            # The next segment of a long event: same event, new timestamp, no marker.
            self._carried += MAX_DURATION
            self._segments.append(rtp_timestamp)
            self._pending = event
        else:
            self._ready.append(self._finish())  # its end packets never arrived
            self._start(rtp_timestamp, event)
        if event.end:
            self._ready.append(self._finish())
        return self._next_ready()

    def flush(self) -> list[DtmfDigit]:
        """Report everything still outstanding, including an event that never saw an end packet
        (call at end of stream or after a silence timeout). Returns digits oldest first."""
        if self._pending is not None:
            self._ready.append(self._finish())
        digits = list(self._ready)
        self._ready.clear()
        return digits

    def _start(self, rtp_timestamp: int, event: TelephoneEvent) -> None:
        self._pending = event
        self._start_timestamp = rtp_timestamp
        self._segments = [rtp_timestamp]
        self._carried = 0

    def _finish(self) -> DtmfDigit:
        event = self._pending
        assert event is not None  # callers check
        self._pending = None
        self._reported.extend(self._segments)
        return DtmfDigit(
            digit=event_name(event.event),
            duration=self._carried + event.duration,
            volume=event.volume,
            rtp_timestamp=self._start_timestamp,
        )

    def _next_ready(self) -> DtmfDigit | None:
        return self._ready.popleft() if self._ready else None


def dtmf_packets(
    digit: str, duration_ms: int, clock_rate: int, ptime_ms: int, volume: int = DEFAULT_VOLUME
) -> list[tuple[bytes, bool, int]]:
    """The telephone-event payloads for one digit, to be sent one per `ptime_ms`.

    Takes the digit ("0".."9", "*", "#", "A".."D" in either case, or "flash"), its duration,
    the RTP clock rate (8000 for telephone-event/8000) and the packet interval. Returns
    (payload, marker, duration in timestamp units) for the start and update packets followed by
    three identical end packets; all share one RTP timestamp, the marker is set on the first.
    Raises DtmfError for an unknown digit, a non-positive duration or interval, or a duration
    over 65535 timestamp units."""
    code = _EVENT_CODES.get(digit)
    if code is None:
        code = _EVENT_CODES.get(digit.upper(), _EVENT_CODES.get(digit.lower()))
    if code is None:
        raise DtmfError(f"unknown DTMF digit {digit!r}")
    total = duration_ms * clock_rate // 1000
    step = ptime_ms * clock_rate // 1000
    if total <= 0 or step <= 0:
        raise DtmfError("duration and packet interval must each be at least one timestamp unit")
    if total > MAX_DURATION:
        raise DtmfError(f"duration of {total} timestamp units exceeds {MAX_DURATION}")
    packets: list[tuple[bytes, bool, int]] = []
    for elapsed in range(step, total, step):
        payload = TelephoneEvent(code, False, volume, elapsed).serialize()
        packets.append((payload, not packets, elapsed))
    end_payload = TelephoneEvent(code, True, volume, total).serialize()
    for _ in range(END_PACKET_COPIES):
        packets.append((end_payload, not packets, total))
    return packets


class DtmfSender:
    """dtmf_packets() with the stream's clock rate, packet interval and volume fixed."""

    __slots__ = ("clock_rate", "ptime_ms", "volume")

    def __init__(
        self, clock_rate: int = 8000, ptime_ms: int = 20, volume: int = DEFAULT_VOLUME
    ) -> None:
        self.clock_rate = clock_rate
        self.ptime_ms = ptime_ms
        self.volume = volume

    def packets(self, digit: str, duration_ms: int) -> list[tuple[bytes, bool, int]]:
        """The payload train for `digit`; see dtmf_packets() for the shape and errors."""
        return dtmf_packets(digit, duration_ms, self.clock_rate, self.ptime_ms, self.volume)
