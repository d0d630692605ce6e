"""A configured radio gateway (`[[radio.gateways]]`): one the server calls and keeps in its room.

The calling and keeping is the assembly's (mediacore/server/radiogateways.py): it goes through
the SIP dialer, and the radio package does not import SIP."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GatewayMode = Literal["txrx", "rx", "tx"]


@dataclass(frozen=True, slots=True)
class RadioGateway:
    name: str
    uri: str  # sip:radio1@192.0.2.10:5060
    room: str
    mode: GatewayMode = "txrx"  # txrx: talk and listen; rx: listen only; tx: key only
    priority: int = 0  # of the gateway's own transmissions on the room's floor
    srtp: str = ""  # off, optional or mandatory; empty: the server's ([sip] srtp)
    nat: bool = False  # behind NAT: its media leg may latch onto its real address
