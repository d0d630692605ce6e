"""The SIP side of the server: stack, user agent and dialer over the room directory."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

from mediacore.clock import iso8601
from mediacore.events import EventBus
from mediacore.server.config import Config
from mediacore.server.directory import RoomDirectory
from radio.gateways import GatewayKeeper
from radio.sipcall import IncomingRadio
from sip.dialout import Dialer
from sip.stack import SipStack
from sip.transaction import Peer
from sip.trunk import TrunkRegistration
from sip.useragent import SipUserAgent

log = logging.getLogger(__name__)

BYE_GRACE = 2.0  # seconds to let BYEs of a stopping server be answered


class SipService:
    def __init__(self, config: Config, directory: RoomDirectory, bus: EventBus) -> None:
        self.config = config
        self.stack = SipStack()
        self.agent = SipUserAgent(
            config.sip, self.stack, directory.rooms.get, directory.legs, bus, [IncomingRadio()]
        )
        self.dialer = Dialer(self.agent)
        self.trunks = [
            TrunkRegistration(trunk, self.agent) for trunk in config.sip.trunks if trunk.register
        ]
        self.gateways = GatewayKeeper(config.radio_gateways, self.dialer, directory.rooms.get)

    async def start(self) -> None:
        await self.stack.start(self.config.server.host, self.config.sip.port)
        self.agent.start()
        for trunk in self.trunks:
            trunk.start()
        self.gateways.start()
        log.info("sip listening", extra={"port": self.stack.port})

    async def stop(self) -> None:
        """Call after the rooms closed: their BYEs are on the way; give them a moment."""
        await self.gateways.stop()
        for trunk in self.trunks:
            await trunk.stop()
        deadline = time.monotonic() + BYE_GRACE
        while self.agent.calls and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await self.agent.stop()
        await self.stack.stop()

    def statistics(self) -> dict[str, float]:
        """Counters and gauges for /metrics."""
        counters = self.stack.counters
        return {
            "received": counters["received"],
            "sent": counters["sent"],
            "malformed": counters["malformed"],
            "calls": len(self.agent.calls),
            "registrations": len(self.agent.registrar.all(time.monotonic())),
            "transactions": self.stack.layer.transactions(),
            "tcp_connections": self.stack.transports.tcp_connections,
        }

    def registrations(self) -> dict[str, Any]:
        now = time.monotonic()
        return {
            "users": [
                {
                    "user": binding.user,
                    "contact": binding.contact,
                    "source": _peer_text(binding.source),
                    "expires_in": binding.remaining(now),
                    "registered_at": iso8601(datetime.fromtimestamp(binding.registered_at, UTC)),
                    "user_agent": binding.user_agent,
                }
                for binding in self.agent.registrar.all(now)
            ],
            "trunks": [trunk.status() for trunk in self.trunks],
            "radio_gateways": self.gateways.status(),
        }


def _peer_text(peer: Peer) -> str:
    return f"{peer.transport}:{peer.host}:{peer.port}"
