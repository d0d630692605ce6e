"""`best_effort_response`: answering requests we cannot parse (RFC 3261 §21.4.1, §8.2)."""

from __future__ import annotations

import pytest

from sip.message import MAX_MESSAGE, SipParseError, parse_message
from sip.stack import best_effort_response

VIA_1 = "SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK-bad-1;rport"
VIA_2 = "SIP/2.0/UDP proxy.example.com;branch=z9hG4bK-bad-0"


def broken_request(*extra: str, cseq: str = "1 INVITE", via: bool = True) -> bytes:
    """An INVITE with a Max-Forwards parse_message refuses, plus `extra` header lines."""
    lines = [
        "INVITE sip:bob@example.com SIP/2.0",
        *([f"Via: {VIA_2}", f"Via: {VIA_1}"] if via else []),
        "Max-Forwards: lots",
        "From: <sip:alice@example.com>;tag=f-1",
        "To: <sip:bob@example.com>",
        "Call-ID: broken-1@198.51.100.1",
        f"CSeq: {cseq}",
        "Contact: <sip:alice@198.51.100.1>",
        *extra,
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def refusal(data: bytes) -> SipParseError:
    with pytest.raises(SipParseError) as caught:
        parse_message(data)
    return caught.value


def test_broken_request_with_via_gets_the_given_status_and_reason() -> None:
    data = broken_request()
    error = refusal(data)
    response = best_effort_response(data, error.status, "Bad Request (bad Max-Forwards)")
    assert response is not None
    assert (response.status, response.reason) == (400, "Bad Request (bad Max-Forwards)")


def test_broken_request_response_copies_the_dialog_headers() -> None:
    """RFC 3261 §8.2.6.2: Via (all, in order), From, To, Call-ID and CSeq are copied."""
    response = best_effort_response(broken_request(), 400, "Bad Request")
    assert response is not None
    assert list(response.headers) == [
        ("Via", VIA_2),
        ("Via", VIA_1),
        ("From", "<sip:alice@example.com>;tag=f-1"),
        ("To", "<sip:bob@example.com>"),
        ("Call-ID", "broken-1@198.51.100.1"),
        ("CSeq", "1 INVITE"),
    ]
    answer = parse_message(response.serialize())
    assert answer.cseq == (1, "INVITE")
    assert [via.branch for via in answer.vias] == ["z9hG4bK-bad-0", "z9hG4bK-bad-1"]


def test_headers_are_copied_even_when_they_are_what_is_broken() -> None:
    data = broken_request(cseq="one INVITE")
    response = best_effort_response(data, refusal(data).status, "Bad Request")
    assert response is not None
    assert response.headers.get("CSeq") == "one INVITE"


def test_compact_header_names_are_copied_under_full_names() -> None:
    data = (
        b"OPTIONS sip:bob@example.com SIP/2.0\r\n"
        b"v: " + VIA_1.encode() + b"\r\n"
        b"f: <sip:alice@example.com>;tag=f-1\r\n"
        b"t: <sip:bob@example.com>\r\n"
        b"i: compact-1\r\n"
        b"CSeq: 1 BYE\r\n\r\n"
    )
    error = refusal(data)  # CSeq method does not match
    response = best_effort_response(data, error.status, error.reason)
    assert response is not None
    assert [name for name, _ in response.headers] == ["Via", "From", "To", "Call-ID", "CSeq"]


def test_reason_is_kept_to_one_short_line() -> None:
    response = best_effort_response(broken_request(), 400, "Bad\r\nInjected: yes" + "x" * 500)
    assert response is not None
    assert "\r" not in response.reason and "\n" not in response.reason
    assert len(response.reason) <= 200
    assert b"\r\nInjected:" not in response.serialize()


def test_long_header_values_are_cut() -> None:
    data = broken_request().replace(b"Call-ID: broken-1", b"Call-ID: " + b"c" * 5000)
    response = best_effort_response(data, 400, "Bad Request")
    assert response is not None
    assert len(response.call_id) <= 1024


def test_non_utf8_bytes_do_not_stop_the_answer() -> None:
    data = broken_request().replace(b"Call-ID: broken-1", b"Call-ID: \xff\xfe-broken")
    assert refusal(data).status == 400
    response = best_effort_response(data, 400, "Bad Request")
    assert response is not None
    assert response.call_id.endswith("-broken@198.51.100.1")
    response.serialize()


def test_no_answer_for_a_response() -> None:
    """A response is never answered with a response: a broken one is dropped."""
    data = b"SIP/2.0 200 OK\r\nVia: " + VIA_1.encode() + b"\r\nCSeq: x\r\n\r\n"
    assert best_effort_response(data, 400, "Bad Request") is None


def test_no_answer_without_a_via() -> None:
    """RFC 3261 §18.2.2: without a Via there is nowhere to send a response."""
    assert best_effort_response(broken_request(via=False), 400, "Bad Request") is None
    assert best_effort_response(b"", 400, "Bad Request") is None
    assert best_effort_response(b"\x00\xff garbage", 400, "Bad Request") is None


def test_no_answer_for_an_oversized_datagram() -> None:
    data = broken_request("X-Pad: " + "p" * MAX_MESSAGE)
    assert refusal(data).status == 513
    assert best_effort_response(data, 513, "Message Too Large") is None
