"""An upper platform's INVITE for live video (s=Play) or a device's recording (s=Playback, or
s=Download with a=downloadspeed, over the t= range in Unix seconds), as a lower platform
answers it. No I/O.

The upper platform's offer names where it wants the stream (c=, m= port), over UDP
(RTP/AVP) or TCP (TCP/RTP/AVP, RFC 4571), and the SSRC it expects (y=). Over TCP its
`a=setup` says who connects: `passive` (it listens, we connect: our answer says active) or
`active` (it connects to the port our answer names: we say passive). Our answer is sendonly,
payload type 96 PS/90000, with the same y= (GB/T 28181-2016 annex F).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from ingest.gbrecords import MAX_RANGE_S
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
    kind: str = "Play"  # or "Playback" / "Download"
    playback: tuple[int, int] | None = None  # the t= range of a Playback or Download
    download_speed: int | None = None

    @property
    def ssrc_value(self) -> int:
        return ssrc_value(self.ssrc)


def read_offer(body: bytes, local_id: str) -> UpperOffer:
    """Read the INVITE's SDP; raises GbSdpError when it is no offer we can serve."""
    text = body.decode("utf-8", "replace")
    offer: GbAnswer = parse_answer(text)  # an offer has the same shape as an answer
    kind, playback, speed = _session(text)
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
    return UpperOffer(offer.address, offer.port, mode, ssrc, kind, playback, speed)


def _session(text: str) -> tuple[str, tuple[int, int] | None, int | None]:
    """The offer's s= (Play, Playback or Download), its t= range and a=downloadspeed."""
    lines = [line.strip() for line in text.splitlines()]
    session = next((line[2:] for line in lines if line.startswith("s=")), "Play") or "Play"
    kind = {"play": "Play", "playback": "Playback", "download": "Download"}.get(session.lower())
    if kind is None:
        raise GbSdpError(f"s= must be Play, Playback or Download, not {session[:30]!r}")
    if kind == "Play":
        return kind, None, None
    timing = next((line[2:].split() for line in lines if line.startswith("t=")), [])
    if len(timing) != 2 or not all(t.isdigit() and len(t) <= 12 for t in timing):
        raise GbSdpError(f"a {kind} offer needs t=<start> <end> in Unix seconds")
    start, end = int(timing[0]), int(timing[1])
    if not 0 < end - start <= MAX_RANGE_S:
        raise GbSdpError(f"the t= range must be positive and at most {MAX_RANGE_S // 86400} days")
    speed = None
    if kind == "Download":
        value = next((x[16:] for x in lines if x.startswith("a=downloadspeed:")), "1")
        speed = int(value) if value.isdigit() and 0 < int(value) <= 32 else 1
    return kind, (start, end), speed


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
        session_name=offer.kind,
        connection=Connection("IN", "IP4", address),
        timing=f"{offer.playback[0]} {offer.playback[1]}" if offer.playback else "0 0",
        media=[media],
    )
