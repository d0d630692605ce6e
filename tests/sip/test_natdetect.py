"""Which callers are behind NAT: their INVITE names a private address they do not send from."""

from __future__ import annotations

from mediacore.sdp import SessionDescription
from sip.message import Request, parse_message
from sip.natdetect import behind_nat


def invite(via: str, contact: str, media: str) -> tuple[Request, SessionDescription]:
    sdp = (
        f"v=0\r\no=- 1 1 IN IP4 {media}\r\ns=-\r\nc=IN IP4 {media}\r\nt=0 0\r\n"
        "m=audio 4000 RTP/AVP 0\r\n"
    )
    text = (
        "INVITE sip:command@192.0.2.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {via}:5060;branch=z9hG4bK1\r\n"
        "From: <sip:a@192.0.2.1>;tag=1\r\nTo: <sip:command@192.0.2.1>\r\n"
        "Call-ID: x\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
        f"Contact: <sip:a@{contact}:5060>\r\nContent-Type: application/sdp\r\n"
        f"Content-Length: {len(sdp)}\r\n\r\n{sdp}"
    )
    request = parse_message(text.encode())
    assert isinstance(request, Request)
    return request, SessionDescription.parse(sdp)


def test_a_phone_that_says_the_address_it_sends_from_is_not_behind_nat() -> None:
    request, offer = invite("127.0.0.1", "127.0.0.1", "127.0.0.1")
    assert not behind_nat(request, "127.0.0.1", offer)
    request, offer = invite("93.184.216.8", "93.184.216.8", "93.184.216.8")
    assert not behind_nat(request, "93.184.216.8", offer)


def test_a_private_address_in_via_contact_or_sdp_other_than_the_source_means_nat() -> None:
    for via, contact, media in [
        ("192.168.1.20", "93.184.216.8", "93.184.216.8"),
        ("93.184.216.8", "10.0.0.5", "93.184.216.8"),
        ("93.184.216.8", "93.184.216.8", "172.17.0.2"),
        ("93.184.216.8", "93.184.216.8", "100.64.3.4"),
    ]:
        request, offer = invite(via, contact, media)
        assert behind_nat(request, "93.184.216.8", offer), (via, contact, media)


def test_a_public_address_elsewhere_is_not_taken_for_nat() -> None:
    request, offer = invite("93.184.216.8", "93.184.216.8", "93.184.216.34")
    assert not behind_nat(request, "93.184.216.8", offer)
