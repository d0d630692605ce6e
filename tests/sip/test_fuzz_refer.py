"""Property tests: hostile Refer-To, Replaces, sipfrag and Event values never escape as anything
but ReferError, and what parses survives serialize/parse unchanged."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sip.refer import (
    ReferError,
    ReferTarget,
    Replaces,
    event_id,
    parse_sipfrag,
    refer_target,
)
from tests.sip.test_refer import PJSUA_REPLACES

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
any_char = st.characters(exclude_categories=())
SYNTAX = "<>sip:@;?&=%3B\"' \t\r\n\x00to-tagfrom-tagReplacesé"
syntaxish = st.text(st.sampled_from(SYNTAX), max_size=80)


def _mutations() -> st.SearchStrategy[str]:
    """The real pjsua value with a slice replaced by syntax characters."""
    return st.tuples(st.integers(0, len(PJSUA_REPLACES)), st.integers(0, 20), syntaxish).map(
        lambda t: PJSUA_REPLACES[: t[0]] + t[2] + PJSUA_REPLACES[t[0] + t[1] :]
    )


@FUZZ
@given(st.one_of(st.text(any_char, max_size=200), syntaxish, _mutations()))
def test_refer_to_parses_or_refuses(value: str) -> None:
    try:
        target = refer_target([value])
    except ReferError as error:
        assert 400 <= error.status < 500
        return
    assert ReferTarget.parse(str(target)) == target


@FUZZ
@given(st.one_of(st.text(any_char, max_size=120), syntaxish))
def test_replaces_parses_or_refuses(value: str) -> None:
    try:
        replaces = Replaces.parse(value)
    except ReferError:
        return
    assert Replaces.parse(str(replaces)) == replaces


@FUZZ
@given(st.binary(max_size=300), st.text(any_char, max_size=60))
def test_sipfrag_and_event_parse_or_refuse(body: bytes, event: str) -> None:
    try:
        status, _ = parse_sipfrag(body)
        assert 100 <= status <= 699
    except ReferError:
        pass
    try:
        event_id(event)
    except ReferError:
        pass
