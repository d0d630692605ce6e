"""RFC 4571 framing: RTP and RTCP packets over a TCP byte stream, each after a 16-bit length.

GB/T 28181-2016 section 4.4 and annex L carry media over TCP this way (TCP/RTP/AVP). No I/O
here: feed the bytes read from the socket, send the bytes `frame()` returns.
"""

from __future__ import annotations

MAX_PACKET = 0xFFFF


class FramingError(ValueError):
    """A packet too long for a 16-bit length prefix."""


def frame(packet: bytes) -> bytes:
    """The packet with its 2-byte big-endian length; raises FramingError over 65535 bytes."""
    if len(packet) > MAX_PACKET:
        raise FramingError(f"packet of {len(packet)} bytes does not fit a 16-bit length")
    return len(packet).to_bytes(2, "big") + packet


class Rfc4571Framer:
    """Splits a TCP byte stream back into packets.

    Memory is bounded by one packet (65537 bytes). Zero-length frames, which RFC 4571 allows,
    are skipped; so are frames shorter than `min_packet` (12, an RTP header), counted in
    `skipped`. The stream cannot resync after a corrupt length: the caller closes the
    connection when `skipped` keeps growing."""

    def __init__(self, min_packet: int = 12) -> None:
        self.min_packet = min_packet
        self.skipped = 0
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """Take the next bytes read from the connection; return the packets they completed."""
        self._buffer += data
        packets: list[bytes] = []
        buf = self._buffer
        at = 0
        while len(buf) - at >= 2:
            length = int.from_bytes(buf[at : at + 2], "big")
            if len(buf) - at - 2 < length:
                break
            if length == 0:
                at += 2
                continue
            if length < self.min_packet:
                self.skipped += 1
            else:
                packets.append(bytes(buf[at + 2 : at + 2 + length]))
            at += 2 + length
        del buf[:at]
        return packets

    @staticmethod
    def frame(packet: bytes) -> bytes:
        """Same as the module's `frame()`: the packet with its length prefix."""
        return frame(packet)

    @property
    def pending(self) -> int:
        """Bytes held for a packet not yet complete (at most 65536)."""
        return len(self._buffer)
