"""An upper platform's INVITE for live video (s=Play), as a lower platform answers it. No I/O.

The upper platform's offer names where it wants the stream (c=, m= port), over UDP
(RTP/AVP) or TCP (TCP/RTP/AVP, RFC 4571), and the SSRC it expects (y=). Over TCP its
`a=setup` says who connects: `passive` (it listens, we connect: our answer says active) or
`active` (it connects to the port our answer names: we say passive). Our answer is sendonly,
payload type 96 PS/90000, with the same y= (GB/T 28181-2016 annex F).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from ingest.gbsdp import GbAnswer, GbSdpError, make_ssrc, parse_answer, ssrc_value
from mediacore.sdp import Connection, MediaDescription, Origin, SessionDescription


@dataclass(frozen=True, slots=True)
class UpperOffer:
    """What the upper platform asked for: `mode` is how our media goes out ("udp",
    "tcp-active": we connect, "tcp-passive": we listen), `ssrc` the y= we send with."""

    address: str
    port: int
    mode: str
    ssrc: str

    @property
    def ssrc_value(self) -> int:
        return ssrc_value(self.ssrc)


def read_offer(body: bytes, local_id: str) -> UpperOffer:
    """Read the INVITE's SDP; raises GbSdpError when it is no live-play offer we can serve."""
    text = body.decode("utf-8", "replace")
    offer: GbAnswer = parse_answer(text)  # an offer has the same shape as an answer
    session = next((line for line in text.splitlines() if line.startswith("s=")), "s=Play")
    if session.strip()[2:].lower() not in ("play", ""):
        raise GbSdpError(f"only live play is served, not {session.strip()[:30]!r}")
    if offer.encoding.upper() not in ("PS", "MP2P", ""):
        raise GbSdpError(f"the offer wants {offer.encoding!r}; we send PS (payload type 96)")
    if offer.port == 0 or not offer.address or offer.address in ("0.0.0.0", "::"):
        raise GbSdpError("the offer names no address to send to")
    if offer.transport == "udp":
        mode = "udp"
    else:
        mode = "tcp-passive" if (offer.setup or "").lower() == "active" else "tcp-active"
    ssrc = (
        f"{offer.ssrc:010d}"
        if offer.ssrc is not None
        else make_ssrc(local_id, secrets.randbelow(10_000))
    )
    return UpperOffer(offer.address, offer.port, mode, ssrc)


def build_answer(
    offer: UpperOffer, *, channel_id: str, address: str, port: int
) -> SessionDescription:
    """Our 200 OK SDP: sending PS from `address`:`port` with the offer's SSRC."""
    tcp = offer.mode != "udp"
    attributes: list[tuple[str, str | None]] = [("sendonly", None), ("rtpmap", "96 PS/90000")]
    if tcp:
        attributes += [
            ("setup", "active" if offer.mode == "tcp-active" else "passive"),
            ("connection", "new"),
        ]
    media = MediaDescription(
        kind="video",
        port=port,
        proto="TCP/RTP/AVP" if tcp else "RTP/AVP",
        formats=["96"],
        attributes=attributes,
        extra_lines=[("y", offer.ssrc), ("f", "")],
    )
    return SessionDescription(
        version=0,
        origin=Origin(channel_id, 0, 0, "IN", "IP4", address),
        session_name="Play",
        connection=Connection("IN", "IP4", address),
        timing="0 0",
        media=[media],
    )
