"""ICE set-up for the server's peers: the configured STUN/TURN servers, and loopback candidates.

aioice gathers host candidates on every interface address except 127.0.0.1 and ::1. A server
reached over loopback (bound to 127.0.0.1, or a browser on the same machine told to use
loopback) would then offer only addresses that such a client may not pair with, or none at
all on a machine without another interface. So the server offers the loopback address the
client reached it on as one more host candidate."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Iterable

from aioice.candidate import Candidate, candidate_foundation, candidate_priority
from aioice.ice import StunProtocol
from aiortc import RTCConfiguration, RTCIceServer
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.rtcicetransport import RTCIceGatherer

from webrtc.settings import WebRtcSettings

log = logging.getLogger(__name__)

RTP_COMPONENT = 1  # rtcp-mux: one component carries RTP and RTCP


def rtc_configuration(settings: WebRtcSettings) -> RTCConfiguration:
    """The RTCConfiguration for one server-side peer.

    An explicit empty server list matters: given None, aiortc uses a public Google STUN server,
    and gathering then waits for it (5 s where it cannot be reached). max-bundle keeps one
    transport per peer, which later transceivers (video added by renegotiation) share."""
    servers = [
        RTCIceServer(list(server.urls), server.username, server.credential)
        for server in settings.ice_servers
    ]
    return RTCConfiguration(iceServers=servers, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


def loopback_addresses(addresses: Iterable[str | None]) -> list[str]:
    """The loopback addresses among `addresses` (server host, address the client reached),
    without repeats; anything that is not an IP address is ignored."""
    found: list[str] = []
    for text in addresses:
        if not text:
            continue
        try:
            address = ipaddress.ip_address(text.strip("[]"))
        except ValueError:
            continue
        if address.is_loopback and str(address) not in found:
            found.append(str(address))
    return found


async def add_host_candidates(gatherer: RTCIceGatherer, addresses: Iterable[str]) -> None:
    """Add a host candidate on each address to `gatherer` before it gathers the rest.

    Call between createAnswer()/createOffer() and setLocalDescription(). aioice has no public
    call for this: the candidate is built as aioice builds its own host candidates and put in
    the connection's lists (gather_candidates() appends to them, close() closes the socket).
    No STUN or TURN request is made from these sockets: a loopback address has no reflexive
    address, and a second TURN allocation would be wasted."""
    connection = getattr(gatherer, "_connection", None)
    protocols = getattr(connection, "_protocols", None)
    candidates = getattr(connection, "_local_candidates", None)
    if connection is None or not isinstance(protocols, list) or not isinstance(candidates, list):
        log.warning("cannot add loopback ICE candidates to this aioice version")
        return
    loop = asyncio.get_running_loop()
    for address in addresses:
        try:
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: StunProtocol(connection), local_addr=(address, 0)
            )
        except OSError as error:
            log.warning("cannot bind an ICE candidate", extra={"address": address, "error": error})
            continue
        host, port = transport.get_extra_info("sockname")[:2]
        protocol.local_candidate = Candidate(
            foundation=candidate_foundation("host", "udp", host),
            component=RTP_COMPONENT,
            transport="udp",
            priority=candidate_priority(RTP_COMPONENT, "host"),
            host=host,
            port=port,
            type="host",
        )
        protocols.append(protocol)
        candidates.append(protocol.local_candidate)
