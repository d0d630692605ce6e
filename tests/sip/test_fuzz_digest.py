"""Property tests: hostile digest header values never escape as anything but DigestError,
verification never raises, and values survive serialize/parse unchanged."""

from __future__ import annotations

from dataclasses import fields, replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sip.digest import (
    Challenge,
    Credentials,
    DigestError,
    DigestServer,
    Verdict,
    answer_challenge,
)
from tests.sip.test_digest import REAL_WORLD_CHALLENGES, REAL_WORLD_CREDENTIALS

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ_PARSE = settings(FUZZ, max_examples=400)  # parsing is cheap; these find the edge cases
NOW = 1_700_000_000.0
SERVER = DigestServer("mediacore", b"k" * 32)
GENUINE = answer_challenge(
    SERVER.challenges(NOW)[0], username="alice", password="pw", method="INVITE", uri="sip:x"
)
SAMPLES = REAL_WORLD_CHALLENGES + REAL_WORLD_CREDENTIALS + [GENUINE.header_value()]
SYNTAX = 'Digest"\\,= \t\r\n\x00realmnoceuri=qpathé'

# Any code point, surrogates included, so encoding paths are exercised too.
any_char = st.characters(exclude_categories=())
safe_text = st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=40)
token = st.from_regex(r"[A-Za-z0-9\-.!%*_+`'~]{1,20}", fullmatch=True)


def parse_any(value: str) -> list[Challenge | Credentials]:
    """Parse as both kinds; only DigestError may escape `parse`."""
    parsed: list[Challenge | Credentials] = []
    for kind in (Challenge, Credentials):
        try:
            parsed.append(kind.parse(value))
        except DigestError:
            pass
    return parsed


def check_parsed(parsed: list[Challenge | Credentials]) -> None:
    """Whatever parsed either re-serializes to an equal value or refuses with DigestError."""
    for item in parsed:
        try:
            text = item.header_value()
        except DigestError:
            continue
        assert type(item).parse(text) == item
        if isinstance(item, Credentials):
            verdict = SERVER.verify(
                item, method="INVITE", request_uri=item.uri, password="pw", now=NOW
            )
            assert isinstance(verdict, Verdict)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A real header value with a few characters inserted, deleted or replaced."""
    value = draw(st.sampled_from(SAMPLES))
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, len(value)))
        char = draw(st.sampled_from(SYNTAX) | any_char)
        operation = draw(st.sampled_from(("insert", "delete", "replace", "duplicate")))
        if operation == "insert":
            value = value[:position] + char + value[position:]
        elif operation == "delete":
            value = value[:position] + value[position + 1 :]
        elif operation == "replace":
            value = value[:position] + char + value[position + 1 :]
        else:
            value = value[:position] + value[position:] * 2
    return value


@FUZZ_PARSE
@given(st.text(any_char, max_size=300))
def test_arbitrary_text_raises_only_digest_error(value: str) -> None:
    check_parsed(parse_any(value))


@FUZZ_PARSE
@given(st.text(st.sampled_from(SYNTAX), max_size=200))
def test_syntax_soup_after_scheme_raises_only_digest_error(value: str) -> None:
    check_parsed(parse_any("Digest " + value))


@FUZZ_PARSE
@given(mutated())
def test_mutated_real_headers_raise_only_digest_error(value: str) -> None:
    check_parsed(parse_any(value))


@settings(max_examples=20, deadline=None)
@given(st.integers(4000, 5000), st.sampled_from(SAMPLES))
def test_oversized_header_values_are_refused(size: int, sample: str) -> None:
    padded = sample + ", x=" + "y" * size
    assert parse_any(padded) == []


@FUZZ
@given(
    st.builds(
        Challenge,
        realm=safe_text,
        nonce=safe_text,
        algorithm=token,
        qop=st.none() | safe_text,
        opaque=st.none() | safe_text,
        stale=st.booleans(),
    )
)
def test_challenge_round_trips(challenge: Challenge) -> None:
    assert Challenge.parse(challenge.header_value()) == challenge


@FUZZ
@given(
    st.builds(
        Credentials,
        username=safe_text,
        realm=safe_text,
        nonce=safe_text,
        uri=safe_text,
        response=safe_text,
        algorithm=token,
        cnonce=st.none() | safe_text,
        nc=st.none() | token,
        qop=st.none() | token,
        opaque=st.none() | safe_text,
    )
)
def test_credentials_round_trip(credentials: Credentials) -> None:
    assert Credentials.parse(credentials.header_value()) == credentials


NEVER_NONE = {field.name for field in fields(Credentials) if field.default is not None}
field_garbage = st.dictionaries(
    st.sampled_from([field.name for field in fields(Credentials)]),
    st.none() | st.text(any_char, max_size=80) | st.sampled_from(["auth", "00000002", "md5"]),
    min_size=1,
    max_size=3,
)


@FUZZ
@given(
    field_garbage,
    st.none() | st.text(any_char, max_size=20),
    st.text(any_char, max_size=10),
    st.floats(allow_nan=True, allow_infinity=True),
)
def test_verify_never_raises_on_garbage_fields(
    garbage: dict[str, str | None], password: str | None, method: str, now: float
) -> None:
    # Start from genuine credentials so the garbage reaches checks past the nonce.
    changes = {
        name: "" if value is None and name in NEVER_NONE else value
        for name, value in garbage.items()
    }
    credentials = replace(GENUINE, **changes)  # type: ignore[arg-type]
    server = DigestServer("mediacore", b"k" * 32)
    assert isinstance(
        server.verify(
            credentials,
            method=method,
            request_uri=GENUINE.uri,
            password=password,
            now=now,
        ),
        Verdict,
    )
