"""Parties (mediacore/server/parties.py): how each way of naming someone is dialled, and how a
call in a room is recognised as that someone."""

from __future__ import annotations

import pytest

from mediacore.server.parties import PartyBook, PartyError, call_identities
from radio.gateways import RadioGateway
from sip.settings import SipTrunk

BOOK = PartyBook(
    ["alice", "1001"],
    [SipTrunk("carrier", "sip:10.0.0.1", domain="pbx.example"), SipTrunk("spare", "sip:10.0.0.2")],
    [RadioGateway("tower", "sip:radio1@192.0.2.10:5060", "command")],
    "mediacore",
)


def test_each_kind_of_party_is_dialled_its_own_way() -> None:
    user = BOOK.target("alice")
    assert (user.kind, user.uri, user.trunk) == ("user", "sip:alice@mediacore", None)
    number = BOOK.target("+8613800000000")
    assert (number.kind, number.uri, number.trunk) == (
        "number",
        "sip:+8613800000000@pbx.example",
        "carrier",  # the first trunk
    )
    assert BOOK.target("1001").kind == "user"  # a user's name wins over the number
    uri = BOOK.target("sip:Duty@192.0.2.7:5070")
    assert (uri.kind, uri.name, uri.keys) == ("uri", "Duty", frozenset({"duty@192.0.2.7"}))
    radio = BOOK.target("radio:tower")
    assert radio.kind == "radio" and radio.gateway is not None and radio.name == "tower"
    assert radio.uri == "sip:radio1@192.0.2.10:5060"


@pytest.mark.parametrize(
    ("party", "code"),
    [("bob", "unknown-user"), ("radio:nope", "unknown-gateway"), ("sip:", "bad-party"),
     ("a b", "bad-party"), ("", "bad-party")],
)  # fmt: skip
def test_parties_that_name_nothing_are_refused_with_a_code(party: str, code: str) -> None:
    with pytest.raises(PartyError) as raised:
        BOOK.target(party)
    assert raised.value.code == code


def test_numbers_need_a_trunk() -> None:
    with pytest.raises(PartyError) as raised:
        PartyBook([], [], [], "mediacore").target("110")
    assert raised.value.code == "no-trunk"


def test_a_call_is_known_by_its_account_its_user_and_its_address() -> None:
    inbound = call_identities("alice", "sip:alice@127.0.0.1:5062")
    assert BOOK.target("alice").keys <= inbound
    assert BOOK.target("sip:alice@127.0.0.1").keys <= inbound
    trunk_call = call_identities(None, "sip:+8613800000000@pbx.example")
    assert BOOK.target("+8613800000000").keys <= trunk_call
    gateway = call_identities(None, "sip:radio1@192.0.2.10:5060")
    assert BOOK.target("radio:tower").keys <= gateway
    assert not BOOK.target("radio:tower").keys & call_identities("radio1", "sip:x@192.0.2.99")
