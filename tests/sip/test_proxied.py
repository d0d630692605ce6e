"""Whom a relayed request's authentication failures count against (sip.proxied)."""

from __future__ import annotations

from sip.message import Request, parse_message
from sip.proxied import client_address
from sip.transaction import Peer

PROXY = Peer("udp", "10.0.0.5", 5060)
PROXY_VIA = "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKproxy"


def request(*vias: str) -> Request:
    lines = [
        "REGISTER sip:10.0.0.5 SIP/2.0",
        *(f"Via: {via}" for via in vias),
        "From: <sip:alice@10.0.0.5>;tag=1",
        "To: <sip:alice@10.0.0.5>",
        "Call-ID: reg-1",
        "CSeq: 1 REGISTER",
        "Content-Length: 0",
    ]
    message = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(message, Request)
    return message


def test_a_relayed_request_counts_against_where_the_proxy_received_it() -> None:
    behind_nat = request(PROXY_VIA, "SIP/2.0/UDP 192.168.1.9:5060;rport=4000;received=203.0.113.7")
    assert client_address(behind_nat, PROXY, {"10.0.0.5"}) == "203.0.113.7"
    direct = request(PROXY_VIA, "SIP/2.0/UDP 198.51.100.20:5060;rport=5060")
    assert client_address(direct, PROXY, {"10.0.0.5"}) == "198.51.100.20"


def test_without_a_proxy_or_a_hop_below_it_the_sender_counts() -> None:
    relayed = request(PROXY_VIA, "SIP/2.0/UDP 198.51.100.20:5060")
    assert client_address(relayed, PROXY, set()) == "10.0.0.5"  # not a configured proxy
    assert client_address(request(PROXY_VIA), PROXY, {"10.0.0.5"}) == "10.0.0.5"
