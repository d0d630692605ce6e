"""Answering a digest challenge as a client (RFC 3261 §22.2, §8.1.3.5): the request goes again
as a new transaction (new Via branch, next CSeq) with credentials our own server accepts."""

from __future__ import annotations

import pytest

from sip.address import Address, SipUri
from sip.authclient import with_credentials
from sip.digest import Credentials, DigestServer, Verdict
from sip.message import Headers, Response
from sip.textmessage import message_request

NOW = 1_700_000_000.0


def challenged(status: int, server: DigestServer) -> Response:
    header = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
    response = Response(Headers(), b"", status, "Unauthorized")
    for challenge in server.challenges(NOW):
        response.headers.add(header, challenge.header_value())
    return response


@pytest.mark.parametrize(("status", "header"),
                         [(401, "Authorization"), (407, "Proxy-Authorization")])  # fmt: skip
def test_a_message_answers_the_challenge_in_a_new_transaction(status: int, header: str) -> None:
    server = DigestServer("sms.example.org", algorithms=("SHA-256", "MD5"))
    request = message_request(
        request_uri="sip:+8613900000000@sms.example.org",
        from_=Address(SipUri("sip", "sms.example.org", "mediacore"), None, {"tag": "f"}),
        to=Address(SipUri("sip", "sms.example.org", "+8613900000000")),
        call_id="c1",
        cseq=1,
        via="SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-first",
        text="fire contained",
    )
    retry = with_credentials(
        request, challenged(status, server), username="mediacore", password="secret",
        via="SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-second",
    )  # fmt: skip
    assert retry is not None
    assert retry.cseq == (2, "MESSAGE") and retry.top_via.branch == "z9hG4bK-second"
    assert retry.body == request.body and retry.call_id == "c1" and retry.uri == request.uri
    credentials = Credentials.parse(retry.headers.get(header) or "")
    verdict = server.verify(
        credentials, method="MESSAGE", request_uri=retry.uri, password="secret", now=NOW
    )
    assert verdict is Verdict.OK


def test_a_challenge_that_cannot_be_answered_gives_none() -> None:
    request = message_request(
        request_uri="sip:x@example.org",
        from_=Address(SipUri("sip", "example.org", "a"), None, {"tag": "f"}),
        to=Address(SipUri("sip", "example.org", "x")),
        call_id="c2",
        cseq=1,
        via="SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1",
        text="hi",
    )
    challenge = 'Digest realm="r", nonce="n", algorithm=SHA-512-256, qop="auth"'
    odd = Response(Headers([("WWW-Authenticate", challenge)]), b"", 401, "Unauthorized")
    assert with_credentials(request, odd, username="a", password="b", via="v") is None
