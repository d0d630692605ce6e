"""Where a SIP message came from or goes to: transport, address and port."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Peer:
    """Where a message came from or goes to; `transport` is lower case ("udp", "tcp")."""

    transport: str
    host: str
    port: int

    @property
    def reliable(self) -> bool:
        """Anything but UDP delivers or fails by itself, so nothing is retransmitted (§17)."""
        return self.transport.lower() != "udp"
