"""Refer-To (RFC 3515 §2.1), Replaces (RFC 3891 §6.1) and message/sipfrag (RFC 3515 §2.4.5)."""

from __future__ import annotations

import pytest

from sip.refer import (
    ReferError,
    ReferTarget,
    Replaces,
    event_id,
    parse_sipfrag,
    refer_target,
    sipfrag,
    subscription_terminated,
)

# What pjsua's Call.xferReplaces sends (RFC 5589 §7.1 shape): the Replaces is %-escaped.
PJSUA_REPLACES = (
    "<sip:command@127.0.0.1:5060?Replaces=4f1c2a%3Bto-tag%3Dabc123%3Bfrom-tag%3Dxyz789>"
)


def test_3515_blind_refer_to_name_addr() -> None:
    target = refer_target(['"Bob" <sip:bob@example.com;transport=tcp>'])
    assert str(target.uri) == "sip:bob@example.com;transport=tcp"
    assert target.display_name == "Bob"
    assert target.replaces is None


def test_3515_refer_to_addr_spec() -> None:
    assert refer_target(["sip:1001@pbx.example"]).uri.user == "1001"


def test_3891_replaces_in_refer_to_is_unescaped() -> None:
    target = refer_target([PJSUA_REPLACES])
    assert target.replaces == Replaces("4f1c2a", "abc123", "xyz789")
    assert target.uri.headers == ""  # the URI we call carries no headers
    assert str(target.uri) == "sip:command@127.0.0.1:5060"


def test_refer_to_round_trips() -> None:
    target = refer_target([PJSUA_REPLACES])
    again = ReferTarget.parse(str(target))
    assert again == target


def test_only_replaces_and_harmless_headers_pass_into_the_invite() -> None:
    target = refer_target(["<sip:a@b?Via=evil&Route=%3Csip:x%3E&Require=replaces&body=hi>"])
    assert target.headers == (("Require", "replaces"),)


@pytest.mark.parametrize(
    ("values", "status"),
    [
        ([], 400),  # §2.4.1: exactly one Refer-To
        (["<sip:a@b>", "<sip:c@d>"], 400),
        (["<http://example.com/>"], 416),
        (["<tel:+4912345>"], 416),
        (["<sip:a@b;method=BYE>"], 403),
        (["<sip:a@b?Replaces=onlycallid>"], 400),
        (["<sip:a@b?Replaces=c%3Bto-tag%3Dx>"], 400),  # no from-tag
        (
            [
                "<sip:a@b?Replaces=a%3Bto-tag%3D1%3Bfrom-tag%3D2&Replaces=b%3Bto-tag%3D1%3Bfrom-tag%3D2>"
            ],
            400,
        ),
        (["<sip:a@b?novalue>"], 400),
        (["<sip:a@b?X=%0d%0aVia:%20x>"], 400),  # header injection by %-escapes
        (["<sip:a@b?" + "&".join(f"h{i}=1" for i in range(20)) + ">"], 400),
        (["<sip:a b@c>"], 400),
        (["<sip:a@b"], 400),
    ],
)
def test_bad_refer_to_is_refused_with_its_status(values: list[str], status: int) -> None:
    with pytest.raises(ReferError) as raised:
        refer_target(values)
    assert raised.value.status == status


def test_3891_replaces_header() -> None:
    replaces = Replaces.parse("98732@sip.example.com;from-tag=r33th4x0r;to-tag=ff87ff;early-only")
    assert replaces == Replaces("98732@sip.example.com", "ff87ff", "r33th4x0r", True)
    assert Replaces.parse(str(replaces)) == replaces
    assert replaces.reversed().to_tag == "r33th4x0r"


def test_3515_sipfrag_bodies() -> None:
    assert sipfrag(180, "Ringing") == b"SIP/2.0 180 Ringing\r\n"
    assert parse_sipfrag(b"SIP/2.0 200 OK\r\nContact: <sip:x@y>\r\n\r\n") == (200, "OK")
    assert parse_sipfrag(b"SIP/2.0 100\r\n") == (100, "")
    for bad in (b"", b"HTTP/1.1 200 OK", b"SIP/2.0 99 Low", b"SIP/2.0 2000 X", b"\xff\xfe"):
        with pytest.raises(ReferError):
            parse_sipfrag(bad)


def test_event_and_subscription_state() -> None:
    assert event_id("refer;id=93809824") == "93809824"
    assert event_id("refer") == ""
    assert event_id("presence") is None
    assert event_id(None) is None
    assert subscription_terminated("terminated;reason=noresource")
    assert not subscription_terminated("active;expires=60")
