"""Where a GB/T 28181 stream may come from: the device that answered the INVITE, not whoever
finds the media port.

No I/O here. A packet is taken from the address and port the device's SDP answer named; or,
within the first `LATCH_S` seconds and carrying the SSRC the platform asked for (the y= line),
from another port of one of the device's own hosts (the answer's address, or where its SIP came
from): many cameras send from another port than the one they answer with. The first source
taken is latched, and from then on packets from any other address or port are dropped and
counted, whatever SSRC they carry. A TCP media connection is taken only from the device's
hosts."""

from __future__ import annotations

LATCH_S = 5.0
_RTP_HEADER = 12


class MediaSourceLatch:
    """Decides, packet by packet, whether a datagram comes from the device."""

    def __init__(
        self,
        answered: tuple[str, int],
        hosts: frozenset[str],
        ssrc: int,
        started: float,
        window: float = LATCH_S,
    ) -> None:
        """`answered` is the answer's (c= address, m= port); `hosts` the device's addresses;
        `ssrc` the agreed SSRC; `started` when the answer came (the latch window opens)."""
        self.answered = answered
        self.hosts = hosts | {answered[0]}
        self.ssrc = ssrc
        self.deadline = started + window
        self.latched: tuple[str, int] | None = None
        self.refused = 0  # packets from anyone but the latched source

    def admit(self, packet: bytes, source: tuple[str, int], now: float) -> bool:
        """Whether `packet` from `source` (host, port) is the device's; latches the first."""
        if self.latched is None and self._first(packet, source, now):
            self.latched = source
        if source == self.latched:
            return True
        self.refused += 1
        return False

    def admit_connection(self, host: str) -> bool:
        """Whether a TCP media connection from `host` may be the device's."""
        if host in self.hosts:
            return True
        self.refused += 1
        return False

    def _first(self, packet: bytes, source: tuple[str, int], now: float) -> bool:
        if source == self.answered:
            return True
        if now > self.deadline or source[0] not in self.hosts or len(packet) < _RTP_HEADER:
            return False
        return int.from_bytes(packet[8:12], "big") == self.ssrc
