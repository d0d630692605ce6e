"""Where a SIP message came from or goes to: transport, address and port."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Peer:
    """Where a message came from or goes to; `transport` is lower case ("udp", "tcp", "tls").

    `server_name` is the host name a TLS connection we open must find in the peer's certificate
    (empty: its address); it is not part of the peer's identity, so it neither compares nor
    hashes."""

    transport: str
    host: str
    port: int
    server_name: str = field(default="", compare=False)

    @property
    def reliable(self) -> bool:
        """Anything but UDP delivers or fails by itself, so nothing is retransmitted (§17)."""
        return self.transport.lower() != "udp"
