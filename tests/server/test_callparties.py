"""What a one-to-one call's party names, read without I/O."""

from __future__ import annotations

import pytest

from mediacore.server.callparties import PartyError, Target, parse_party

USERS = ["alice", "1001"]
TRUNKS = [("carrier", "sip.carrier.example"), ("backup", "backup.example")]


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("sip:bob@10.0.0.5:5070", Target("sip", "sip:bob@10.0.0.5:5070")),
        ("SIPS:bob@example.org", Target("sip", "SIPS:bob@example.org")),
        ("alice", Target("sip", "sip:alice@192.0.2.1")),
        ("1001", Target("sip", "sip:1001@192.0.2.1")),  # an account before a trunk number
        ("+8610110", Target("sip", "sip:+8610110@sip.carrier.example", "carrier")),
        ("radio:grs-1", Target("radio", "grs-1")),
        ("p-3f2a9c41d0", Target("participant", "p-3f2a9c41d0")),
    ],
)
def test_each_kind_of_party_is_recognised(text: str, target: Target) -> None:
    assert parse_party(text, USERS, TRUNKS, "192.0.2.1") == target


@pytest.mark.parametrize(
    ("text", "trunks", "status", "code"),
    [
        ("", TRUNKS, 400, "bad-party"),
        ("x" * 300, TRUNKS, 400, "bad-party"),
        ("radio:", TRUNKS, 400, "bad-party"),
        ("radio:a b", TRUNKS, 400, "bad-party"),
        ("not a party", TRUNKS, 400, "bad-party"),
        ("mallory", TRUNKS, 400, "bad-party"),  # no such account
        ("110", [], 404, "unknown-party"),  # a number with no trunk to dial it through
    ],
)
def test_bad_parties_get_the_error_the_api_answers(
    text: str, trunks: list[tuple[str, str]], status: int, code: str
) -> None:
    with pytest.raises(PartyError) as raised:
        parse_party(text, USERS, trunks, "192.0.2.1")
    assert (raised.value.status, raised.value.code) == (status, code)
    assert str(raised.value)
