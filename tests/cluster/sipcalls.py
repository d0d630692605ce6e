"""A confirmed SIP call in room "command" with a known dialog, for the tests of its record."""

from __future__ import annotations

from typing import Any

from mediacore.codecs import PCMU
from mediacore.legpolicy import LegPolicy
from mediacore.offeranswer import AudioNegotiation
from sip.address import Address, SipUri
from sip.call import SipCall
from sip.dialog import Dialog
from sip.peer import Peer

NEGOTIATION = AudioNegotiation(
    codec=PCMU,
    payload_type=0,
    ptime=20,
    telephone_event_pt=101,
    remote_address="10.0.0.7",
    remote_port=4000,
    remote_rtcp=None,
    rtcp_mux=True,
    direction="sendrecv",
    fmtp=None,
    extmaps=(),
)


class _Leg:
    kind = "rtp"
    floor_listener = False
    negotiation = NEGOTIATION
    on_dtmf: Any = None


def make_call(direction: str = "inbound") -> SipCall:
    call = SipCall(_Leg(), policy=LegPolicy("optional", True))  # type: ignore[arg-type]
    call.dialog = Dialog(
        call_id="abc123@phone",
        local_tag="ours",
        remote_tag="theirs",
        local=Address.parse("<sip:command@10.0.0.1>"),
        remote=Address.parse('"Desk 7" <sip:7001@10.0.0.7>'),
        remote_target=SipUri.parse("sip:7001@10.0.0.7:5062;transport=udp"),
        peer=Peer("udp", "10.0.0.2", 5060),
        local_contact="<sip:command@10.0.0.1:5060>",
        route_set=["<sip:10.0.0.2;lr>"],
        local_cseq=41,
        remote_cseq=3,
    )
    call.direction = direction
    call.remote_uri = "sip:7001@10.0.0.7"
    call.room_name = "command"
    call.participant_id = "p-1"
    call.trunk = "carrier" if direction == "outbound" else None
    return call
