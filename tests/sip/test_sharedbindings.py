"""Path (RFC 3327) in the registrar and the shared bindings of a cluster: what a REGISTER's
Path becomes, and where requests along it go."""

from __future__ import annotations

import pytest

from sip.address import Address, SipSyntaxError, SipUri
from sip.message import Request, parse_message
from sip.registrar import Registrar
from sip.sharedbindings import first_hop, path_of
from sip.transaction import Peer

PROXY = "<sip:10.0.0.5:5060;lr;received=sip:198.51.100.20:40000>"
EDGE = "<sip:edge.example.net;lr>"


def register_request(*paths: str) -> Request:
    lines = [
        "REGISTER sip:10.0.0.5 SIP/2.0",
        "Via: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK1",
        "From: <sip:alice@10.0.0.5>;tag=1",
        "To: <sip:alice@10.0.0.5>",
        "Call-ID: reg-1",
        "CSeq: 1 REGISTER",
        "Contact: <sip:alice@198.51.100.20:40000>",
        *(f"Path: {path}" for path in paths),
        "Content-Length: 0",
    ]
    message = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(message, Request)
    return message


def test_path_values_keep_their_order_across_headers_and_commas() -> None:
    assert path_of(register_request(PROXY, EDGE)) == (PROXY, EDGE)
    assert path_of(register_request(f"{PROXY}, {EDGE}")) == (PROXY, EDGE)
    assert path_of(register_request()) == ()


def test_requests_along_a_path_go_to_its_first_entry() -> None:
    hop = first_hop((PROXY, EDGE))
    assert (hop.host, hop.port, hop.params["received"]) == (
        "10.0.0.5",
        5060,
        "sip:198.51.100.20:40000",
    )
    with pytest.raises(SipSyntaxError):
        first_hop(())


def test_the_registrar_keeps_each_binding_s_path() -> None:
    registrar = Registrar()
    [binding] = registrar.update(
        "alice",
        [Address(SipUri("sip", "198.51.100.20", user="alice", port=40000))],
        expires_header="600",
        source=Peer("udp", "10.0.0.5", 5060),
        call_id="reg-1",
        cseq=1,
        user_agent="",
        now=0.0,
        wall_now=0.0,
        path=(PROXY,),
    )
    assert binding.path == (PROXY,)
    assert registrar.lookup("alice", 1.0)[0].path == (PROXY,)
