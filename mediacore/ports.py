"""UDP port pairs for RTP legs, taken from the configured range (RTP even, RTCP the odd above)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable


class PortsExhausted(RuntimeError):
    """Every port pair in the range is taken."""


class PortPool:
    def __init__(self, low: int, high: int) -> None:
        if low < 1024 or high > 65535 or high - low < 2:
            raise ValueError(f"bad RTP port range {low}-{high}")
        self.low = low + (low % 2)
        self.high = high
        self._in_use: set[int] = set()
        self._cursor = self.low

    def start_at(self, port: int) -> None:
        """Hand out pairs from `port` on (wrapping): a restarted process starts away from the
        ports its predecessor gave out, to which lost peers may still be sending."""
        span = self.high - self.low
        self._cursor = self.low + ((port - self.low) % span) // 2 * 2

    @property
    def in_use(self) -> int:
        return len(self._in_use)

    async def bind(
        self,
        host: str,
        rtp_protocol: Callable[[], asyncio.DatagramProtocol],
        rtcp_protocol: Callable[[], asyncio.DatagramProtocol] | None,
    ) -> tuple[int, asyncio.DatagramTransport, asyncio.DatagramTransport | None]:
        """Bind the next free pair; returns (rtp_port, rtp_transport, rtcp_transport or None).

        Raises PortsExhausted when no pair in the range can be bound."""
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        pairs = (self.high - self.low) // 2
        for _ in range(pairs):
            port = self._cursor
            self._cursor = self.low if self._cursor + 2 >= self.high else self._cursor + 2
            if port in self._in_use:
                continue
            try:
                rtp, _ = await loop.create_datagram_endpoint(
                    rtp_protocol, local_addr=(host, port), family=family
                )
            except OSError:
                continue  # taken by another program
            rtcp = None
            if rtcp_protocol is not None:
                try:
                    rtcp, _ = await loop.create_datagram_endpoint(
                        rtcp_protocol, local_addr=(host, port + 1), family=family
                    )
                except OSError:
                    rtp.close()
                    continue
            self._in_use.add(port)
            return port, rtp, rtcp
        raise PortsExhausted(f"no free RTP port pair in {self.low}-{self.high}")

    def release(self, port: int) -> None:
        self._in_use.discard(port)
