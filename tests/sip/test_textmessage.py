"""Instant messages as data (RFC 3428): what an incoming MESSAGE may carry (§7: the body is a
MIME body; we take text/plain in UTF-8), the MESSAGE we send (§4), and what its final response
means for delivery (§7: 2xx is delivered; 202 too, for a relay that accepted it)."""

from __future__ import annotations

import pytest

from sip.address import Address, SipUri
from sip.message import Request, Response, parse_message
from sip.textmessage import Delivery, TextRefused, check_text, message_request, read_text

MAX = 20


def incoming(body: bytes, content_type: str | None = "text/plain", **headers: str) -> Request:
    lines = [
        "MESSAGE sip:dispatch@192.0.2.1 SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK-1",
        "Max-Forwards: 70",
        "From: <sip:alice@192.0.2.1>;tag=a1",
        "To: <sip:dispatch@192.0.2.1>",
        "Call-ID: m1",
        "CSeq: 1 MESSAGE",
        *([f"Content-Type: {content_type}"] if content_type is not None else []),
        *[f"{name.replace('_', '-')}: {value}" for name, value in headers.items()],
        f"Content-Length: {len(body)}",
    ]
    message = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    assert isinstance(message, Request)
    return message


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "text/plain;charset=UTF-8", "Text/Plain; charset=\"utf-8\"",
     "text/plain;charset=us-ascii"],
)  # fmt: skip
def test_plain_text_in_utf8_or_ascii_is_read(content_type: str) -> None:
    assert read_text(incoming("到达 gate".encode(), content_type), MAX) == "到达 gate"


@pytest.mark.parametrize(
    ("body", "content_type", "headers", "status"),
    [
        (b"<b>x</b>", "text/html", {}, 415),
        (b"{}", "application/json", {}, 415),
        (b"hi", None, {}, 415),  # a body says what it is, or it is not taken
        (b"hi", "text/plain;charset=ISO-8859-1", {}, 415),
        (b"hi", "text/plain", {"Content_Encoding": "gzip"}, 415),
        (b"", "text/plain", {}, 400),
        (b"", None, {}, 400),
        (b"   \r\n", "text/plain", {}, 400),
        (b"\xff\xfe", "text/plain", {}, 400),
        (b"bell\x07", "text/plain", {}, 400),
        (b"nul\x00", "text/plain", {}, 400),
        (b"x" * (MAX + 1), "text/plain", {}, 413),
        ("字" .encode() * (MAX + 1), "text/plain", {}, 413),
        (b"x" * (4 * MAX + 1), "text/plain", {}, 413),  # refused before decoding
    ],
    ids=["html", "json", "no-type", "latin1", "gzip", "empty", "empty-untyped", "blank",
         "not-utf8", "control", "nul", "too-long", "too-long-chinese", "too-many-bytes"],
)  # fmt: skip
def test_other_bodies_are_refused_with_the_right_status(
    body: bytes, content_type: str | None, headers: dict[str, str], status: int
) -> None:
    with pytest.raises(TextRefused) as refused:
        read_text(incoming(body, content_type, **headers), MAX)
    assert refused.value.status == status


def test_the_limit_counts_characters_not_bytes() -> None:
    text = "紧急" * (MAX // 2)  # 20 characters, 60 bytes
    assert read_text(incoming(text.encode()), MAX) == text


def test_tabs_and_line_breaks_are_text() -> None:
    assert check_text("line 1\r\n\tline 2", MAX) == "line 1\r\n\tline 2"


def test_the_message_we_send_parses_back_with_its_text_and_no_dialog() -> None:
    request = message_request(
        request_uri="sip:bob@192.0.2.7:5062",
        from_=Address(SipUri("sip", "192.0.2.1", "dispatch", 5060), "调度台", {"tag": "t1"}),
        to=Address(SipUri("sip", "192.0.2.1", "bob")),
        call_id="c1",
        cseq=1,
        via="SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-x;rport",
        text="撤离 now",
        extra=(("User-Agent", "mediacore"),),
    )
    parsed = parse_message(request.serialize())
    assert isinstance(parsed, Request) and parsed.method == "MESSAGE"
    assert parsed.body.decode() == "撤离 now"
    assert parsed.headers.get("Content-Type") == "text/plain;charset=UTF-8"
    assert parsed.cseq == (1, "MESSAGE") and parsed.from_.tag == "t1" and parsed.to.tag is None
    assert parsed.from_.display_name == "调度台" and parsed.from_.uri.port == 5060
    assert "Contact" not in parsed.headers  # §4: a MESSAGE sets up no dialog
    assert read_text(parsed, MAX) == "撤离 now"  # what we send, we would take


@pytest.mark.parametrize(
    ("status", "delivery"),
    [(200, "delivered"), (202, "delivered"), (302, "failed"), (404, "failed"),
     (408, "failed"), (480, "failed"), (503, "failed"), (603, "failed")],
)  # fmt: skip
def test_a_2xx_is_delivered_anything_else_failed(status: int, delivery: str) -> None:
    outcome = Delivery.of(Response(status=status, reason="Why"))
    assert (outcome.status, outcome.code, outcome.reason) == (delivery, status, "Why")
