"""SIP digest authentication: RFC test vectors, header parsing, and the nonce-issuing server."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

import pytest

from sip.digest import (
    ALGORITHMS,
    MAX_TRACKED_NONCES,
    Challenge,
    Credentials,
    DigestError,
    DigestServer,
    Verdict,
    answer_challenge,
    digest_response,
)

NOW = 1_700_000_000.0
REALM = "mediacore"
SECRET = b"s" * 32

RFC7616_EXAMPLE = {
    "username": "Mufasa",
    "realm": "http-auth@example.org",
    "password": "Circle of Life",
    "method": "GET",
    "uri": "/dir/index.html",
    "nonce": "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
    "qop": "auth",
    "nc": "00000001",
    "cnonce": "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
}

# Shapes seen on the wire; the fuzz tests mutate these.
REAL_WORLD_CHALLENGES = [
    'Digest realm="asterisk", nonce="1a2b3c4d", algorithm=MD5, qop="auth"',
    'Digest realm="sip.carrier.example", nonce="abc/def+ghi==", opaque="xyz", '
    'algorithm=SHA-256, qop="auth,auth-int", stale=TRUE',
    'Digest algorithm=MD5, realm="freeswitch", nonce="6e0a-11ee"',
    'digest REALM="folded",\r\n NONCE="n1" ,\r\n\tqop = "auth" , domain="sip:x"',
]
REAL_WORLD_CREDENTIALS = [
    # pjsip
    'Digest username="alice", realm="mediacore", nonce="QI9AAAAAAABJfydixwiNQy54117h3AFy", '
    'uri="sip:command@127.0.0.1", response="6629fae49393a05397450978507c4ef1", algorithm=MD5, '
    'cnonce="7e1b7c2a9f3d4e5a", qop=auth, nc=00000001',
    # sipp, no qop
    'Digest username="sipp",realm="mediacore",uri="sip:127.0.0.1:5060",'
    'nonce="QI9AAAAAAABJfydixwiNQy54117h3AFy",response="00112233445566778899aabbccddeeff",'
    "algorithm=MD5",
]


def server(nonce_lifetime: float = 300.0) -> DigestServer:
    return DigestServer(REALM, SECRET, nonce_lifetime)


def verdict(
    digest_server: DigestServer,
    credentials: Credentials,
    *,
    password: str | None = "secret",
    now: float = NOW,
    method: str = "REGISTER",
    request_uri: str | None = None,
) -> Verdict:
    return digest_server.verify(
        credentials,
        method=method,
        request_uri=credentials.uri if request_uri is None else request_uri,
        password=password,
        now=now,
    )


def sip_answer(
    challenge: Challenge, password: str = "secret", nc: int = 1, method: str = "REGISTER"
) -> Credentials:
    return answer_challenge(
        challenge, username="alice", password=password, method=method, uri="sip:mediacore", nc=nc
    )


# --- test vectors ----------------------------------------------------------------------------


def test_rfc2617_worked_example_md5_qop_auth() -> None:
    response = digest_response(
        algorithm="MD5",
        username="Mufasa",
        realm="testrealm@host.com",
        password="Circle Of Life",
        method="GET",
        uri="/dir/index.html",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        qop="auth",
        nc="00000001",
        cnonce="0a4f113b",
    )
    assert response == "6629fae49393a05397450978507c4ef1"


def test_rfc7616_example_sha256() -> None:
    response = digest_response(algorithm="SHA-256", **RFC7616_EXAMPLE)
    assert response == "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"


def test_rfc7616_example_md5() -> None:
    assert digest_response(algorithm="MD5", **RFC7616_EXAMPLE) == "8ca523f5e9506fed4657c9700eebdbec"


def test_algorithm_names_are_case_insensitive() -> None:
    assert digest_response(algorithm="sha-256", **RFC7616_EXAMPLE) == digest_response(
        algorithm="SHA-256", **RFC7616_EXAMPLE
    )


def test_unknown_algorithm_raises() -> None:
    with pytest.raises(DigestError, match="algorithm"):
        digest_response(algorithm="MD5-sess", **RFC7616_EXAMPLE)


def test_qop_auth_int_and_missing_cnonce_raise() -> None:
    with pytest.raises(DigestError, match="qop"):
        digest_response(algorithm="MD5", **{**RFC7616_EXAMPLE, "qop": "auth-int"})
    with pytest.raises(DigestError, match="cnonce"):
        digest_response(algorithm="MD5", **{**RFC7616_EXAMPLE, "cnonce": None})  # type: ignore[arg-type]


# --- header values ---------------------------------------------------------------------------


def test_challenge_round_trips() -> None:
    challenges = [
        Challenge("mediacore", "n0nce", "SHA-256", "auth", 'op"aque\\', stale=True),
        Challenge("r", "n", qop=None),
        Challenge("", "n", "MD5", "auth,auth-int"),
        Challenge("réalm ünicode", "n=/+", opaque=""),
    ]
    for challenge in challenges:
        assert Challenge.parse(challenge.header_value()) == challenge


def test_credentials_round_trip() -> None:
    credentials = [
        Credentials("alice", "mediacore", "n", "sip:a@b;transport=tcp", "ab" * 16),
        Credentials(
            'al"ice\\', "r", "n", "sip:x", "ff" * 32, "SHA-256", "c,n", "0000000a", "auth", "o"
        ),
    ]
    for credential in credentials:
        assert Credentials.parse(credential.header_value()) == credential


def test_challenge_header_value_quotes_values_but_not_algorithm_or_stale() -> None:
    value = Challenge("r", "n", "SHA-256", "auth", "o", stale=True).header_value()
    assert value == (
        'Digest realm="r", nonce="n", opaque="o", algorithm=SHA-256, qop="auth", stale=TRUE'
    )


def test_real_world_challenges_parse() -> None:
    asterisk, carrier, freeswitch, folded = (Challenge.parse(v) for v in REAL_WORLD_CHALLENGES)
    assert asterisk == Challenge("asterisk", "1a2b3c4d", "MD5", "auth")
    assert carrier == Challenge(
        "sip.carrier.example", "abc/def+ghi==", "SHA-256", "auth,auth-int", "xyz", stale=True
    )
    assert freeswitch == Challenge("freeswitch", "6e0a-11ee", "MD5", qop=None)
    assert folded == Challenge("folded", "n1", "MD5", "auth")


def test_stale_other_than_true_means_false() -> None:
    assert Challenge.parse('Digest realm="r", nonce="n", stale=true').stale
    assert not Challenge.parse('Digest realm="r", nonce="n", stale=FALSE').stale
    assert not Challenge.parse('Digest realm="r", nonce="n", stale=maybe').stale


def test_pjsip_credentials_parse() -> None:
    parsed = Credentials.parse(REAL_WORLD_CREDENTIALS[0])
    assert parsed.username == "alice"
    assert parsed.uri == "sip:command@127.0.0.1"
    assert (parsed.algorithm, parsed.qop, parsed.nc) == ("MD5", "auth", "00000001")
    assert parsed.cnonce == "7e1b7c2a9f3d4e5a"
    assert parsed.opaque is None


def test_sipp_credentials_without_qop_parse() -> None:
    parsed = Credentials.parse(REAL_WORLD_CREDENTIALS[1])
    assert (parsed.username, parsed.uri) == ("sipp", "sip:127.0.0.1:5060")
    assert (parsed.qop, parsed.nc, parsed.cnonce) == (None, None, None)


def test_unquoted_values_and_quoted_algorithm_are_tolerated() -> None:
    parsed = Credentials.parse(
        'Digest username=bob, realm=r, nonce=abc==, uri=sip:bob@x, response=00, algorithm="MD5", '
        'qop="auth", nc=00000002, cnonce=c'
    )
    assert (parsed.username, parsed.nonce, parsed.uri) == ("bob", "abc==", "sip:bob@x")
    assert (parsed.algorithm, parsed.qop) == ("MD5", "auth")


def test_quoted_string_escapes_are_removed() -> None:
    parsed = Challenge.parse(r'Digest realm="a\"b\\c\d", nonce="n"')
    assert parsed.realm == 'a"b\\cd'


def test_unknown_parameters_are_ignored_and_names_are_case_insensitive() -> None:
    parsed = Challenge.parse('Digest Realm="r", NONCE="n", domain="sip:x", charset=UTF-8')
    assert (parsed.realm, parsed.nonce) == ("r", "n")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('Basic realm="r"', "scheme"),
        ('Digestrealm="r", nonce="n"', "scheme"),
        ("", "scheme"),
        ('Digest realm="r"', "nonce"),
        ('Digest realm="r", nonce="n", realm="s"', "twice"),
        ('Digest realm="r", REALM="s", nonce="n"', "twice"),
        ('Digest realm="r, nonce="n"', "expected|unterminated"),
        ('Digest realm="r", nonce="n\\"', "unterminated"),
        ('Digest realm="r" nonce="n"', "','"),
        ('Digest realm, nonce="n"', "'='"),
        ('Digest realm=, nonce="n"', "value"),
        ('Digest realm="r",\r\nnonce="n"', "control"),
        ('Digest realm="r\x00", nonce="n"', "control"),
        ('Digest realm="' + "x" * 1025 + '", nonce="n"', "1025"),
        ('Digest realm="r", nonce="n", x="' + "y" * 1000 + '"' + ", z=1" * 700, "over 4096"),
    ],
)
def test_malformed_challenge_raises_digest_error(value: str, message: str) -> None:
    with pytest.raises(DigestError, match=message):
        Challenge.parse(value)


@pytest.mark.parametrize("missing", ["username", "realm", "nonce", "uri", "response"])
def test_credentials_missing_mandatory_parameter_raises(missing: str) -> None:
    params = {"username": "a", "realm": "r", "nonce": "n", "uri": "sip:x", "response": "00"}
    del params[missing]
    value = "Digest " + ", ".join(f'{name}="{v}"' for name, v in params.items())
    with pytest.raises(DigestError, match=missing):
        Credentials.parse(value)


def test_header_value_refuses_crlf_so_headers_cannot_be_injected() -> None:
    with pytest.raises(DigestError, match="control"):
        Credentials("a", "r", "n", "sip:x\r\nVia: evil", "00").header_value()
    with pytest.raises(DigestError, match="token"):
        Challenge("r", "n", algorithm="MD5, evil").header_value()


# --- client side -----------------------------------------------------------------------------


def test_answer_challenge_picks_auth_among_offered_qops_and_formats_nc() -> None:
    challenge = Challenge("r", "n", "SHA-256", "auth-int, auth", "o")
    answer = answer_challenge(
        challenge, username="u", password="p", method="INVITE", uri="sip:x", nc=26, cnonce="c"
    )
    assert (answer.qop, answer.nc, answer.cnonce, answer.opaque) == ("auth", "0000001a", "c", "o")
    assert answer.algorithm == "SHA-256"
    assert answer.response == digest_response(
        algorithm="SHA-256",
        username="u",
        realm="r",
        password="p",
        method="INVITE",
        uri="sip:x",
        nonce="n",
        qop="auth",
        nc="0000001a",
        cnonce="c",
    )


def test_answer_challenge_generates_a_fresh_cnonce() -> None:
    challenge = Challenge("r", "n")
    first, second = (sip_answer(challenge) for _ in range(2))
    assert first.cnonce is not None and len(first.cnonce) == 16
    assert first.cnonce != second.cnonce


def test_answer_challenge_without_qop_uses_rfc2069_form() -> None:
    answer = sip_answer(Challenge("r", "n", qop=None))
    assert (answer.qop, answer.nc, answer.cnonce) == (None, None, None)


def test_answer_challenge_refuses_auth_int_only_and_unknown_algorithm() -> None:
    with pytest.raises(DigestError, match="auth-int"):
        sip_answer(Challenge("r", "n", qop="auth-int"))
    with pytest.raises(DigestError, match="algorithm"):
        sip_answer(Challenge("r", "n", algorithm="SHA-512-256"))


# --- server ----------------------------------------------------------------------------------


def test_server_offers_sha256_then_md5_with_one_nonce_and_constant_opaque() -> None:
    digest_server = server()
    first = digest_server.challenges(NOW)
    assert [c.algorithm for c in first] == list(ALGORITHMS) == ["SHA-256", "MD5"]
    assert len({c.nonce for c in first}) == 1
    assert all(c.qop == "auth" and c.realm == REALM and not c.stale for c in first)
    later = digest_server.challenges(NOW + 10, stale=True)
    assert all(c.stale for c in later)
    assert {c.opaque for c in first + later} == {digest_server.opaque}
    assert later[0].nonce != first[0].nonce


@pytest.mark.parametrize("index", range(len(ALGORITHMS)))
def test_answered_challenge_verifies_ok_for_each_algorithm(index: int) -> None:
    digest_server = server()
    challenge = Challenge.parse(digest_server.challenges(NOW)[index].header_value())
    answer = Credentials.parse(sip_answer(challenge).header_value())
    assert verdict(digest_server, answer, now=NOW + 1) is Verdict.OK


def test_wrong_password_is_bad() -> None:
    digest_server = server()
    answer = sip_answer(digest_server.challenges(NOW)[0], password="guess")
    assert verdict(digest_server, answer) is Verdict.BAD


def test_unknown_user_is_bad() -> None:
    digest_server = server()
    answer = sip_answer(digest_server.challenges(NOW)[0])
    assert verdict(digest_server, answer, password=None) is Verdict.BAD


def test_wrong_method_is_bad() -> None:
    digest_server = server()
    answer = sip_answer(digest_server.challenges(NOW)[0], method="INVITE")
    assert verdict(digest_server, answer) is Verdict.BAD


@pytest.mark.parametrize(
    "nonce",
    [
        "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        "A" * 32,
        "!" * 32,
        "",
        "QI9AAAAAAABJfydixwiNQy54117h3AF=",
    ],
)
def test_forged_or_malformed_nonce_is_bad(nonce: str) -> None:
    digest_server = server()
    answer = sip_answer(Challenge(REALM, nonce, "SHA-256"))
    assert verdict(digest_server, answer) is Verdict.BAD


def test_tampered_issue_time_is_bad() -> None:
    digest_server = server()
    nonce = digest_server.challenges(NOW)[0].nonce
    tampered = ("B" if nonce[0] != "B" else "C") + nonce[1:]
    answer = sip_answer(Challenge(REALM, tampered, "SHA-256"))
    assert verdict(digest_server, answer) is Verdict.BAD


def test_other_realm_is_bad() -> None:
    digest_server = server()
    genuine = digest_server.challenges(NOW)[0]
    answer = sip_answer(Challenge("elsewhere", genuine.nonce, genuine.algorithm))
    assert verdict(digest_server, answer) is Verdict.BAD


def test_nonce_from_a_server_with_another_secret_is_bad() -> None:
    other = DigestServer(REALM)
    answer = sip_answer(other.challenges(NOW)[0])
    assert verdict(server(), answer) is Verdict.BAD


def test_nonce_from_a_server_sharing_the_secret_is_ok() -> None:
    answer = sip_answer(server().challenges(NOW)[0])
    assert verdict(server(), answer) is Verdict.OK


def test_expired_nonce_with_right_password_is_stale() -> None:
    digest_server = server(nonce_lifetime=60.0)
    answer = sip_answer(digest_server.challenges(NOW)[0])
    assert verdict(digest_server, answer, now=NOW + 61) is Verdict.STALE


def test_expired_nonce_with_wrong_password_is_bad() -> None:
    digest_server = server(nonce_lifetime=60.0)
    answer = sip_answer(digest_server.challenges(NOW)[0], password="guess")
    assert verdict(digest_server, answer, now=NOW + 61) is Verdict.BAD


def test_nonce_from_the_future_beyond_skew_is_stale() -> None:
    digest_server = server()
    answer = sip_answer(digest_server.challenges(NOW + 6)[0])
    assert verdict(digest_server, answer) is Verdict.STALE
    small_skew = sip_answer(digest_server.challenges(NOW + 4)[0])
    assert verdict(digest_server, small_skew) is Verdict.OK


def test_nonce_count_replay_is_challenged_again_and_increasing_counts_are_ok() -> None:
    digest_server = server()
    challenge = digest_server.challenges(NOW)[0]
    verdicts = [
        verdict(digest_server, sip_answer(challenge, nc=nc)).name for nc in (1, 1, 2, 5, 3, 5, 6)
    ]
    assert verdicts == ["OK", "STALE", "OK", "OK", "STALE", "STALE", "OK"]


def test_nonce_count_zero_is_bad() -> None:
    digest_server = server()
    challenge = digest_server.challenges(NOW)[0]
    response = digest_response(
        algorithm=challenge.algorithm,
        username="alice",
        realm=REALM,
        password="secret",
        method="REGISTER",
        uri="sip:mediacore",
        nonce=challenge.nonce,
        qop="auth",
        nc="00000000",
        cnonce="c",
    )
    zero = Credentials(
        "alice",
        REALM,
        challenge.nonce,
        "sip:mediacore",
        response,
        challenge.algorithm,
        "c",
        "00000000",
        "auth",
    )
    assert verdict(digest_server, zero) is Verdict.BAD


def test_two_users_may_share_a_nonce_issued_at_the_same_instant() -> None:
    digest_server = server()
    challenge = digest_server.challenges(NOW)[0]
    for username in ("alice", "bob"):
        answer = answer_challenge(
            challenge, username=username, password="secret", method="REGISTER", uri="sip:x"
        )
        assert verdict(digest_server, answer) is Verdict.OK


def test_evicted_nonce_counts_force_a_fresh_nonce_instead_of_allowing_replay() -> None:
    digest_server = server()
    first = sip_answer(digest_server.challenges(NOW)[0])
    assert verdict(digest_server, first) is Verdict.OK
    later = NOW + 20
    for step in range(1, MAX_TRACKED_NONCES + 1):
        answer = sip_answer(digest_server.challenges(NOW + step * 1e-3)[0])
        assert verdict(digest_server, answer, now=later) is Verdict.OK
    assert verdict(digest_server, first, now=later) is Verdict.STALE


def md5_response(credentials: Credentials, password: str, method: str) -> str:
    """The qop response hash over whatever the fields hold, missing ones as empty strings."""

    def md5(*parts: str | None) -> str:
        return hashlib.md5(":".join(part or "" for part in parts).encode()).hexdigest()

    ha1 = md5(credentials.username, credentials.realm, password)
    ha2 = md5(method, credentials.uri)
    return md5(ha1, credentials.nonce, credentials.nc, credentials.cnonce, credentials.qop, ha2)


@pytest.mark.parametrize(
    "changes",
    [
        {"qop": "auth-int"},
        {"qop": "AUTH"},
        {"nc": None},
        {"cnonce": None},
        {"nc": "1"},
        {"nc": "0x000001"},
        {"nc": "+0000001"},
    ],
)
def test_qop_other_than_auth_or_missing_or_malformed_nc_cnonce_is_bad(
    changes: dict[str, Any],
) -> None:
    digest_server = server()
    answer = sip_answer(digest_server.challenges(NOW)[1])
    assert md5_response(answer, "secret", "REGISTER") == answer.response
    broken = replace(answer, **changes)
    # Correctly hashed over the odd fields, so only the field check can reject it.
    signed = replace(broken, response=md5_response(broken, "secret", "REGISTER"))
    assert verdict(digest_server, signed) is Verdict.BAD


def test_algorithm_outside_the_offered_ones_is_bad_and_case_does_not_matter() -> None:
    digest_server = server()
    answer = sip_answer(digest_server.challenges(NOW)[1])
    assert verdict(digest_server, replace(answer, algorithm="MD5-sess")) is Verdict.BAD
    assert verdict(digest_server, replace(answer, algorithm="md5")) is Verdict.OK


def test_rfc2069_response_without_qop_is_accepted_when_correct() -> None:
    digest_server = server()
    nonce = digest_server.challenges(NOW)[1].nonce
    sipp_style = answer_challenge(
        Challenge(REALM, nonce, "MD5", qop=None),
        username="sipp",
        password="secret",
        method="INVITE",
        uri="sip:127.0.0.1:5060",
    )
    assert sipp_style.qop is None
    assert verdict(digest_server, sipp_style, method="INVITE", password="other") is Verdict.BAD
    # A stray nc without qop is meaningless (RFC 2617 section 3.2.2) and must not be parsed.
    stray_count = replace(sipp_style, nc="not-hex")
    assert verdict(digest_server, stray_count, method="INVITE") is Verdict.OK


def test_a_nonce_without_qop_is_good_for_one_request_only() -> None:
    """Without qop there is no nonce count: a second use of the nonce is a replay."""
    digest_server = server()
    nonce = digest_server.challenges(NOW)[0].nonce
    sipp_style = answer_challenge(
        Challenge(REALM, nonce, "MD5", qop=None),
        username="sipp",
        password="secret",
        method="INVITE",
        uri="sip:command@127.0.0.1:5060",
    )

    first = verdict(digest_server, sipp_style, method="INVITE")
    replayed = verdict(digest_server, sipp_style, method="INVITE", now=NOW + 1)

    assert (first, replayed) == (Verdict.OK, Verdict.STALE)
    fresh = digest_server.challenges(NOW + 2)[0].nonce
    again = answer_challenge(
        Challenge(REALM, fresh, "MD5", qop=None),
        username="sipp",
        password="secret",
        method="INVITE",
        uri="sip:command@127.0.0.1:5060",
    )
    assert verdict(digest_server, again, method="INVITE", now=NOW + 2) is Verdict.OK


@pytest.mark.parametrize(
    ("digest_uri", "request_uri", "expected"),
    [
        ("sip:command@127.0.0.1:5060", "sip:command@127.0.0.1:5060", Verdict.OK),
        ("sip:command@127.0.0.1", "sip:command@127.0.0.1:5060;transport=udp", Verdict.OK),
        ("sip:command@EXAMPLE.org", "sip:command@example.org", Verdict.OK),
        ("sip:command@127.0.0.1:5060", "sip:secret-room@127.0.0.1:5060", Verdict.BAD),
        ("sip:command@127.0.0.1:5060", "sip:command@127.0.0.1:5080", Verdict.BAD),
        ("sip:command@127.0.0.1", "sips:command@127.0.0.1", Verdict.BAD),
        ("not a uri", "sip:command@127.0.0.1", Verdict.BAD),
    ],
)
def test_the_digest_uri_must_name_the_request_uri(
    digest_uri: str, request_uri: str, expected: Verdict
) -> None:
    """Credentials captured for one room must not open another (RFC 2617 section 3.2.2.5)."""
    digest_server = server()
    credentials = answer_challenge(
        digest_server.challenges(NOW)[0],
        username="alice",
        password="secret",
        method="INVITE",
        uri=digest_uri,
    )
    outcome = verdict(digest_server, credentials, method="INVITE", request_uri=request_uri)
    assert outcome is expected


def test_an_account_may_be_held_to_its_own_algorithms() -> None:
    digest_server = server()
    offered = digest_server.challenges(NOW + 1, algorithms=("SHA-256", "MD5"))
    sha256, md5 = (sip_answer(challenge) for challenge in offered)
    assert md5.algorithm == "MD5" and sha256.algorithm == "SHA-256"

    def check(credentials: Credentials, algorithms: tuple[str, ...]) -> Verdict:
        return digest_server.verify(
            credentials,
            method="REGISTER",
            request_uri=credentials.uri,
            password="secret",
            now=NOW + 1,
            algorithms=algorithms,
        )

    assert check(md5, ("SHA-256",)) is Verdict.BAD
    assert check(sha256, ("SHA-256",)) is Verdict.OK
    assert [c.algorithm for c in digest_server.challenges(NOW, algorithms=("MD5",))] == ["MD5"]


def test_uppercase_hex_response_is_accepted() -> None:
    digest_server = server()
    answer = sip_answer(digest_server.challenges(NOW)[0])
    shouting = replace(answer, response=answer.response.upper())
    assert verdict(digest_server, shouting) is Verdict.OK


def test_nonpositive_nonce_lifetime_is_rejected() -> None:
    with pytest.raises(ValueError, match="nonce_lifetime"):
        DigestServer(REALM, nonce_lifetime=0)
