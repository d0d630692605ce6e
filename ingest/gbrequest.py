"""The out-of-dialog SIP requests of the GB/T 28181 platform: MESSAGE, SUBSCRIBE and INVITE to
its devices, REGISTER and MESSAGE to an upper platform. They carry the same header set, in the
same order, so it is written here once; what differs (Contact, Event, Subject...) is passed in."""

from __future__ import annotations

from collections.abc import Sequence

from ingest.gbsettings import GbSettings
from sip.dialog import MAX_FORWARDS, new_call_id, new_tag
from sip.message import Headers, Request
from sip.transaction import Peer

USER_AGENT = "mediacore"


def gb_request(
    method: str,
    request_uri: str,
    *,
    via: str,
    from_: str,
    to: str,
    cseq: int,
    call_id: str | None = None,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
) -> Request:
    """A `method` request to `request_uri`: Via, Max-Forwards, From (`from_` carries its tag),
    To, Call-ID (a new one unless given), CSeq, then `headers`, then User-Agent."""
    return Request(
        Headers(
            [
                ("Via", via),
                ("Max-Forwards", MAX_FORWARDS),
                ("From", from_),
                ("To", to),
                ("Call-ID", call_id or new_call_id()),
                ("CSeq", f"{cseq} {method}"),
                *headers,
                ("User-Agent", USER_AGENT),
            ]
        ),
        body,
        method,
        request_uri,
    )


def device_request(
    method: str,
    device_id: str,
    peer: Peer,
    settings: GbSettings,
    *,
    via: str,
    cseq: int,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
) -> Request:
    """A request of this platform (`settings`' server id, in a new dialog of its own) to the
    device or channel `device_id` registered from `peer`."""
    return gb_request(
        method,
        peer_uri(device_id, peer),
        via=via,
        from_=f"<sip:{settings.server_id}@{settings.domain}>;tag={new_tag()}",
        to=f"<sip:{device_id}@{settings.domain}>",
        cseq=cseq,
        headers=headers,
        body=body,
    )


def peer_uri(user: str, peer: Peer) -> str:
    """`sip:user@host:port` for a device at `peer` (an IPv6 host in brackets)."""
    host = f"[{peer.host}]" if ":" in peer.host else peer.host
    return f"sip:{user}@{host}:{peer.port}"
