"""The UDP end of a wall's rtp output: FFmpeg's RTP muxer writes into it, one packet a call.

FFmpeg's own `rtp://` protocol would do the sending, but a wall's output outlives its
encoder: when a wall's video process is restarted, the receiver (an LED controller, ffplay)
must take the new packets as the same stream going on. So the muxer writes into this object
instead (a Python file object; the muxer flushes after every packet, so each `write()` is one
RTP or RTCP packet), which

- sends RTP to host:port and RTCP to host:port+1, as `rtp://` does;
- keeps the SSRC and sequence numbers the server gives it (the muxer's `ssrc` and `seq`
  options) and reports the last sequence number sent (`last_seq`), so that a restarted
  output continues ahead of it (a receiver drops packets that seem older than the last);
- puts RTP timestamps on the machine's monotonic clock (90 kHz), in the RTP packets and the
  RTCP sender reports alike, so they go on across a restart instead of jumping at random.

`restamp()` is the pure part: it rewrites one packet's timestamp in place."""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable

CLOCK_RATE = 90000
PACKET_SIZE = 1472  # what FFmpeg's udp protocol sends at most (an Ethernet MTU's payload)
MULTICAST_TTL = 16  # FFmpeg's udp default
_RTCP_TYPES = frozenset(range(192, 196)) | frozenset(range(200, 211))
_RTCP_SR = 200


def is_rtcp(packet: bytes | bytearray) -> bool:
    """Whether a packet of the muxer's is RTCP (by its payload type byte, as FFmpeg tells)."""
    return len(packet) >= 2 and packet[1] in _RTCP_TYPES


def restamp(packet: bytearray, offset: int) -> int | None:
    """Add `offset` (mod 2^32) to the RTP timestamp of an RTP packet or an RTCP sender
    report, in place. Returns an RTP packet's sequence number, None for RTCP or a packet too
    short to touch (left as it is)."""
    if is_rtcp(packet):
        if packet[1] == _RTCP_SR and len(packet) >= 20:
            _add(packet, 16, offset)
        return None
    if len(packet) < 12:
        return None
    _add(packet, 4, offset)
    return int.from_bytes(packet[2:4], "big")


def _add(packet: bytearray, at: int, offset: int) -> None:
    value = (int.from_bytes(packet[at : at + 4], "big") + offset) & 0xFFFFFFFF
    packet[at : at + 4] = value.to_bytes(4, "big")


class RtpSocketWriter:
    """What FFmpeg's RTP muxer writes to for an `rtp://host:port` output. Raises OSError
    (from the constructor: the host does not resolve; from `write`: the send failed), which
    makes the output reconnect."""

    def __init__(
        self, host: str, port: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        self._rtp = address
        self._rtcp = (address[0], port + 1, *address[2:])
        self._socket = socket.socket(family, socket.SOCK_DGRAM)
        if ipaddress.ip_address(address[0]).is_multicast:
            level, option = (
                (socket.IPPROTO_IP, socket.IP_MULTICAST_TTL)
                if family == socket.AF_INET
                else (socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS)
            )
            self._socket.setsockopt(level, option, MULTICAST_TTL)
        self._clock = clock
        self._offset: int | None = None
        self.last_seq: int | None = None
        self.packets = 0

    def write(self, data: bytes) -> int:
        packet = bytearray(data)
        if self._offset is None:
            first = 4 if not is_rtcp(packet) else 16
            muxed = int.from_bytes(packet[first : first + 4], "big")
            self._offset = (round(self._clock() * CLOCK_RATE) - muxed) & 0xFFFFFFFF
        seq = restamp(packet, self._offset)
        if seq is None:
            self._socket.sendto(packet, self._rtcp)
        else:
            self._socket.sendto(packet, self._rtp)
            self.last_seq = seq
            self.packets += 1
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self._socket.close()
