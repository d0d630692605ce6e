"""The SIP side of the server: stack, user agent and dialer over the room directory."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any, Protocol

import redis.asyncio as aioredis

from ingest.gbplatform import GbPlatform
from ingest.gbstore import GbDeviceStore
from mediacore.clock import iso8601
from mediacore.events import EventBus
from mediacore.server.config import Config
from mediacore.server.directory import RoomDirectory
from mediacore.server.gbtalkbacks import GbTalkbacks
from mediacore.server.radiogateways import GatewayKeeper
from mediacore.server.sipbindings import RedisBindings
from mediacore.server.sipradio import IncomingRadio
from sip.dialout import Dialer
from sip.message import Request, Response
from sip.pager import Pager, TextSink
from sip.roomport import CallLegs
from sip.stack import SipStack, UserAgent
from sip.transaction import Peer, ServerTransaction
from sip.transfer import Transfers
from sip.transport import SipTls
from sip.trunk import TrunkRegistration
from sip.useragent import RoomLookup, SipUserAgent

log = logging.getLogger(__name__)

BYE_GRACE = 2.0  # seconds to let BYEs of a stopping server be answered


class SipService:
    def __init__(
        self,
        config: Config,
        directory: RoomDirectory,
        bus: EventBus,
        rooms: RoomLookup | None = None,
        legs: CallLegs | None = None,
        tls: SipTls | None = None,
        redis: aioredis.Redis | None = None,
    ) -> None:
        """SIP over the rooms of `directory`, or over `rooms` and `legs` when the rooms run
        elsewhere (media workers); over TLS too (on `[sip] tls_port`) when `tls` is given;
        registrations shared through the cluster's `redis` when clustered."""
        self.config = config
        self.stack = SipStack(clock=directory.clock, tcp_limits=config.sip.tcp_limits, tls=tls)
        rooms = rooms or directory.rooms.get
        self.agent = SipUserAgent(
            config.sip, self.stack, rooms, legs or directory.legs, bus, [IncomingRadio()]
        )
        self.bindings: RedisBindings | None = None  # registrations shared in a cluster
        if redis is not None:  # the node's client of the cluster's Redis
            self.bindings = RedisBindings(redis, config.cluster.node_name)
            self.agent.shared_bindings = self.bindings
        self.dialer = Dialer(self.agent)
        self.transfers = Transfers(self.agent, self.dialer)  # REFER, NOTIFY, Replaces
        self.trunks = [
            TrunkRegistration(trunk, self.agent) for trunk in config.sip.trunks if trunk.register
        ]
        self.gateways = GatewayKeeper(config.radio_gateways, self.dialer, rooms)
        self.gb: GbPlatform | None = None  # GB/T 28181 devices, when [gb28181] is configured
        self.gb_talkbacks: GbTalkbacks | None = None  # their voice broadcast and talkback
        if config.gb28181.enabled:
            self.gb = GbPlatform(
                config.gb28181,
                self.stack,
                bus,
                throttle=self.agent.throttle,
                media_address=config.rtp.public_address,
                store=GbDeviceStore(config.data_dir),  # the registry survives restarts
                phones=self.agent.users.__contains__,  # [[sip.users]] numbers stay phones
            )
            self.gb_talkbacks = GbTalkbacks(self.gb, self.agent, bus)
            self.stack.user_agent = _GbFirst(self.gb, self.agent, self.gb_talkbacks)

    def add_upper_platforms(self, cascade: UpperPlatforms) -> None:
        """Requests from GB/T 28181 upper platforms (级联) go to `cascade`, ahead of the
        device platform and the user agent."""
        if self.stack.user_agent is not None:
            self.stack.user_agent = _UpperFirst(cascade, self.stack.user_agent)

    def texts(self, sink: TextSink) -> Pager:
        """Take SIP MESSAGE from now on (sip.pager), handing texts and their delivery states
        to `sink`; returns the pager, which also sends texts."""
        sip = self.config.sip
        pager = Pager(
            self.dialer,
            sink,
            console=sip.message_console,
            max_chars=sip.message_max_chars,
            timeout=sip.message_timeout,
        )
        self.agent.messages = pager.request_received
        self.agent.call_messages = pager.call_message
        return pager

    async def start(self) -> None:
        sip = self.config.sip
        tls_port = sip.tls_port if sip.tls_port and self.stack.transports.tls else None
        await self.stack.start(self.config.server.host, sip.port, tls_port)
        self.agent.start()
        for trunk in self.trunks:
            trunk.start()
        self.gateways.start()
        if self.gb is not None:
            self.gb.start()
        log.info("sip listening", extra={"port": self.stack.port,
                 "tls_port": self.stack.transports.tls_port or None})  # fmt: skip

    async def stop(self) -> None:
        """Call after the rooms closed: their BYEs are on the way; give them a moment."""
        await self.gateways.stop()
        if self.gb is not None:
            await self.gb.stop()  # BYE to devices still sending
        for trunk in self.trunks:
            await trunk.stop()
        deadline = self.stack.clock.now() + BYE_GRACE
        while self.agent.calls and self.stack.clock.now() < deadline:
            await asyncio.sleep(0.05)
        await self.agent.stop()
        await self.stack.stop()
        if self.bindings is not None:
            await self.bindings.close()

    def statistics(self) -> dict[str, float]:
        """Counters and gauges for /metrics."""
        counters = self.stack.counters
        return {
            "received": counters["received"],
            "sent": counters["sent"],
            "malformed": counters["malformed"],
            "dropped": counters["dropped"],
            "tcp_refused": self.stack.transports.refused,
            "calls": len(self.agent.calls),
            "registrations": len(self.agent.registrar.all(self.stack.clock.now())),
            "transactions": self.stack.layer.transactions(),
            "tcp_connections": self.stack.transports.tcp_connections,
        }

    def registrations(self) -> dict[str, Any]:
        now = self.stack.clock.now()
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


class _GbFirst:
    """The stack's user agent when GB/T 28181 is on: requests the platform claims (device
    REGISTER and MESSAGE, its play dialogs) go to it, everything else to the SIP user agent."""

    def __init__(self, gb: GbPlatform, agent: SipUserAgent, talkbacks: GbTalkbacks) -> None:
        self.gb = gb
        self.agent = agent
        self.talkbacks = talkbacks

    def admits(self, source: Peer) -> bool:
        return self.agent.admits(source)  # one throttle for both: they share the port

    def request_received(
        self, request: Request, source: Peer, transaction: ServerTransaction | None
    ) -> None:
        if self.gb.claims(request):
            self.gb.request_received(request, source, transaction)
        elif transaction is not None and self.talkbacks.claims(request, source):
            self.talkbacks.invite_received(request, source, transaction)  # a device calls back
        else:
            self.agent.request_received(request, source, transaction)

    def ack_timed_out(self, call_id: str, cseq: int) -> None:
        self.agent.ack_timed_out(call_id, cseq)

    def server_transaction_timed_out(self, transaction: ServerTransaction) -> None:
        self.agent.server_transaction_timed_out(transaction)

    def stray_response(self, response: Response, source: Peer) -> None:
        if not self.gb.stray_response(response, source):
            self.agent.stray_response(response, source)


class UpperPlatforms(Protocol):
    """What takes requests from GB/T 28181 upper platforms (ingest.gbcascade.GbCascade)."""

    def claims(self, request: Request) -> bool: ...

    def request_received(
        self, request: Request, source: Peer, transaction: ServerTransaction | None
    ) -> None: ...


class _UpperFirst:
    """The stack's user agent with upper platforms configured: their requests go to the
    cascade, everything else to the user agent it was before."""

    def __init__(self, upper: UpperPlatforms, rest: UserAgent) -> None:
        self.upper = upper
        self.rest = rest
        # what the cascade does not take is the rest's, as it was
        self.admits = rest.admits
        self.ack_timed_out = rest.ack_timed_out
        self.server_transaction_timed_out = rest.server_transaction_timed_out
        self.stray_response = rest.stray_response

    def request_received(
        self, request: Request, source: Peer, transaction: ServerTransaction | None
    ) -> None:
        if self.upper.claims(request):
            self.upper.request_received(request, source, transaction)
        else:
            self.rest.request_received(request, source, transaction)


def _peer_text(peer: Peer) -> str:
    return f"{peer.transport}:{peer.host}:{peer.port}"
