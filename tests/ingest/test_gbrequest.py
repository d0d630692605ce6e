"""The platform's out-of-dialog requests (to devices and to an upper platform) carry one header
set in one order, and address a device at its registered source."""

from __future__ import annotations

from ingest.gbrequest import gb_request, peer_uri
from sip.message import parse_message
from sip.peer import Peer


def test_a_request_has_the_common_headers_then_its_own_then_the_user_agent() -> None:
    request = gb_request(
        "MESSAGE",
        "sip:34020000001320000001@192.0.2.7:5060",
        via="SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKx",
        from_="<sip:34020000002000000001@3402000000>;tag=a1",
        to="<sip:34020000001320000001@3402000000>",
        cseq=7,
        headers=[("Content-Type", "Application/MANSCDP+xml")],
        body=b"<Query/>",
    )
    names = [name for name, _ in request.headers]
    assert names[:6] == ["Via", "Max-Forwards", "From", "To", "Call-ID", "CSeq"]
    assert names[6:8] == ["Content-Type", "User-Agent"]
    parsed = parse_message(request.serialize())
    assert parsed.cseq == (7, "MESSAGE")
    assert parsed.call_id  # a new one when none is given
    assert parsed.body == b"<Query/>"


def test_a_given_call_id_is_kept_and_each_new_one_differs() -> None:
    def made(call_id: str | None) -> str:
        return gb_request(
            "REGISTER", "sip:a@b", via="v", from_="<sip:a@b>;tag=t", to="<sip:a@b>", cseq=1,
            call_id=call_id,
        ).call_id  # fmt: skip

    assert made("fixed@here") == "fixed@here"
    assert made(None) != made(None)


def test_a_device_uri_brackets_an_ipv6_host() -> None:
    assert peer_uri("dev", Peer("udp", "192.0.2.7", 5060)) == "sip:dev@192.0.2.7:5060"
    assert peer_uri("dev", Peer("udp", "2001:db8::7", 5062)) == "sip:dev@[2001:db8::7]:5062"
