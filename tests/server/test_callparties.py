"""What a one-to-one call's party names, read without I/O: a participant id, or whatever the
party book dials."""

from __future__ import annotations

import pytest

from mediacore.server.callparties import CallRefused, Target, call_target
from mediacore.server.parties import PartyBook
from radio.gateways import RadioGateway
from sip.settings import SipTrunk

BOOK = PartyBook(
    ["alice", "1001"],
    [SipTrunk("carrier", "sip:sip.carrier.example")],
    [RadioGateway("grs-1", "sip:radio@192.0.2.10", "tower")],
    "mediacore",
)


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("p-3f2a9c41d0", Target("participant", "p-3f2a9c41d0")),
        ("sip:bob@10.0.0.5:5070", Target("sip", "sip:bob@10.0.0.5:5070", None, "bob")),
        ("alice", Target("sip", "sip:alice@mediacore", None, "alice")),
        ("1001", Target("sip", "sip:1001@mediacore", None, "1001")),  # the account first
        ("+8610110", Target("sip", "sip:+8610110@sip.carrier.example", "carrier", "+8610110")),
        ("radio:grs-1", Target("radio", "grs-1")),
    ],
)
def test_each_kind_of_party_is_recognised(text: str, target: Target) -> None:
    assert call_target(text, BOOK) == target


@pytest.mark.parametrize(
    ("text", "book", "status", "code"),
    [
        ("", BOOK, 400, "bad-party"),
        ("x" * 300, BOOK, 400, "bad-party"),
        ("not a party!", BOOK, 400, "bad-party"),
        ("mallory", BOOK, 404, "unknown-user"),
        ("radio:nowhere", BOOK, 404, "unknown-gateway"),
        ("110", PartyBook([], [], [], "mediacore"), 404, "no-trunk"),
    ],
)
def test_bad_parties_get_the_error_the_api_answers(
    text: str, book: PartyBook, status: int, code: str
) -> None:
    with pytest.raises(CallRefused) as raised:
        call_target(text, book)
    assert (raised.value.status, raised.value.code) == (status, code)
    assert str(raised.value)
