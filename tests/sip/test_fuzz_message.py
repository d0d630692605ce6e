"""Fuzzing the SIP message parser: mutated messages, and hypothesis-built headers.

What must hold for any input at all:
  * `parse_message` raises nothing but SipParseError;
  * a parsed message's typed views raise nothing but SipParseError or SipSyntaxError;
  * a parsed message serializes to bytes that parse back to the same message;
  * `StreamFramer` raises nothing but SipParseError, and how the bytes are chunked does not
    change what comes out;
  * `best_effort_response` never raises, and never answers a response.

The mutation fuzzer is deterministic (fixed seeds), so a failure reproduces exactly; it reports
the offending input. The suite runs 10 000 of them (about 3 s on a 2-core machine);
MEDIACORE_FUZZ_MESSAGES=100000 runs the 100 000 the parser was first fuzzed with, and
`python -m bench fuzz` (coverage-guided, 100 000 inputs per parser) does the long runs."""

from __future__ import annotations

import os
import random
import re
import traceback
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.sipviews import read_views
from sip.message import (
    MAX_HEADER_VALUE,
    MAX_MESSAGE,
    Request,
    Response,
    SipParseError,
    StreamFramer,
    canonical_name,
    parse_message,
)
from sip.stack import best_effort_response
from tests.sip.test_message import ESC01, INTMETH, MPART01, SDP, WSINV, wire

FUZZ_MESSAGES = int(os.environ.get("MEDIACORE_FUZZ_MESSAGES", "10000"))
FRAMER_EVERY = 10  # every tenth mutated message also goes through StreamFramer
SEED = 4475

CORPUS: list[bytes] = [
    wire(
        "INVITE sip:room-42@conference.example.com SIP/2.0",
        "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-fuzz-1;rport",
        "Max-Forwards: 70",
        "Route: <sip:edge.example.com;lr>",
        'From: "Dispatcher 7" <sip:dispatch7@example.com>;tag=8d7a2',
        "To: <sip:room-42@conference.example.com>",
        "Call-ID: 6f2b1c@198.51.100.7",
        "CSeq: 101 INVITE",
        "Contact: <sip:dispatch7@198.51.100.7:5060;transport=udp>;expires=3600",
        "Supported: timer, replaces, 100rel",
        "Session-Expires: 1800;refresher=uac",
        "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO",
        "User-Agent: FieldPhone/1.2",
        "Content-Type: application/sdp",
        f"Content-Length: {len(SDP)}",
        body=SDP,
    ),
    wire(
        "REGISTER sip:example.com SIP/2.0",
        "Via: SIP/2.0/TCP 203.0.113.9:49152;branch=z9hG4bK-reg-2;alias",
        "Max-Forwards: 70",
        "From: <sip:unit12@example.com>;tag=a73kszlfl",
        "To: <sip:unit12@example.com>",
        "Call-ID: reg-1j9FpLxk3uxtm8tn@203.0.113.9",
        "CSeq: 2 REGISTER",
        "Contact: <sip:unit12@203.0.113.9:49152;transport=tcp>;expires=600;q=0.7",
        'Authorization: Digest username="unit12", realm="mediacore", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="sip:example.com", '
        'response="6629fae49393a05397450978507c4ef1", algorithm=MD5, qop=auth, '
        'nc=00000001, cnonce="0a4f113b"',
        "Expires: 600",
        "Content-Length: 0",
    ),
    wire(
        "SIP/2.0 200 OK",
        "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-fuzz-1;rport=5060;received=192.0.2.4",
        "Record-Route: <sip:edge.example.com;lr>, <sip:core.example.com;lr>",
        'From: "Dispatcher 7" <sip:dispatch7@example.com>;tag=8d7a2',
        "To: <sip:room-42@conference.example.com>;tag=314159",
        "Call-ID: 6f2b1c@198.51.100.7",
        "CSeq: 101 INVITE",
        "Contact: <sip:room-42@192.0.2.1:5060>",
        "Session-Expires: 1800;refresher=uas",
        "Require: timer",
        "Content-Type: application/sdp",
        f"Content-Length: {len(SDP)}",
        body=SDP,
    ),
    wire(
        "SIP/2.0 180 Ringing",
        "Via: SIP/2.0/UDP [2001:db8::7]:5060;branch=z9hG4bK-v6;rport",
        "From: <sip:a@example.com>;tag=1",
        "To: <sip:b@example.com>;tag=2",
        "Call-ID: ring-1",
        "CSeq: 1 INVITE",
        "Content-Length: 0",
    ),
    wire(
        "SIP/2.0 401 Unauthorized",
        "Via: SIP/2.0/TCP 203.0.113.9:49152;branch=z9hG4bK-reg-2;received=203.0.113.9",
        "From: <sip:unit12@example.com>;tag=a73kszlfl",
        "To: <sip:unit12@example.com>;tag=1410948204",
        "Call-ID: reg-1j9FpLxk3uxtm8tn@203.0.113.9",
        "CSeq: 1 REGISTER",
        'WWW-Authenticate: Digest realm="mediacore", qop="auth", '
        'nonce="ea9c8e88df84f1cec4341ae6cbe5a359", opaque="", stale=FALSE, algorithm=MD5',
        "Content-Length: 0",
    ),
    wire(
        "BYE sip:dispatch7@198.51.100.7:5060 SIP/2.0",
        "v: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-bye-3",
        "f: <sip:room-42@conference.example.com>;tag=314159",
        't: "Dispatcher 7" <sip:dispatch7@example.com>;tag=8d7a2',
        "i: 6f2b1c@198.51.100.7",
        "CSeq: 1 BYE",
        "k: timer",
        "l: 0",
    ),
    wire(
        "OPTIONS sip:[2001:db8::1]:5060 SIP/2.0",
        "Via: SIP/2.0/UDP [2001:db8::2]:5062;branch=z9hG4bK-opt-4;rport=5062;received=2001:db8::2",
        "Max-Forwards: 0",
        "From: sip:monitor@example.com;tag=m1",
        "To: sip:[2001:db8::1]",
        "Call-ID: options-ping-4",
        "CSeq: 42 OPTIONS",
        "Accept: application/sdp",
        "Content-Length: 0",
    ),
    wire(
        "CANCEL sip:room-42@conference.example.com SIP/2.0",
        "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-fuzz-1;rport",
        "Max-Forwards: 70",
        'From: "Dispatcher 7" <sip:dispatch7@example.com>;tag=8d7a2',
        "To: <sip:room-42@conference.example.com>",
        "Call-ID: 6f2b1c@198.51.100.7",
        "CSeq: 101 CANCEL",
        "Content-Length: 0",
    ),
    WSINV,
    INTMETH,
    ESC01,
    MPART01,
]

# -- mutations ------------------------------------------------------------------------------

Mutation = Callable[[random.Random, bytes], bytes]

SPECIAL = b'\r\n:;,"<>@ \t\\%=?[]/\x00\xff*'
NUMBERS = [
    b"0",
    b"-1",
    b"00000000068",
    b"65536",
    b"2147483648",
    b"4294967296",
    b"99999999999999999999999999999",
    b"9" * 5000,
    "\u00b2".encode(),
    "\u0663\u0660".encode(),
    b"1e9",
    b"",
]
BREAKS = [b"\r\n", b"\r\n\r\n", b"\n", b"\r", b"\r\n ", b"\r\n\t", b"\n\n", b"\r\n\r\n\r\n"]
HEADER_NAMES = [
    b"Via",
    b"v",
    b"From",
    b"f",
    b"To",
    b"t",
    b"Call-ID",
    b"i",
    b"CSeq",
    b"Contact",
    b"m",
    b"Content-Length",
    b"l",
    b"Max-Forwards",
    b"Record-Route",
    b"X-Unknown",
    b"",
    b"Bad Name",
]
DIGITS = re.compile(rb"[0-9]+")


def flip_bits(rng: random.Random, data: bytes) -> bytes:
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        buffer[rng.randrange(len(buffer))] ^= 1 << rng.randrange(8)
    return bytes(buffer)


def insert_bytes(rng: random.Random, data: bytes) -> bytes:
    at = rng.randint(0, len(data))
    if rng.random() < 0.5:
        junk = bytes(rng.choice(SPECIAL) for _ in range(rng.randint(1, 8)))
    else:
        junk = rng.randbytes(rng.randint(1, 16))
    return data[:at] + junk + data[at:]


def delete_bytes(rng: random.Random, data: bytes) -> bytes:
    start = rng.randrange(len(data))
    return data[:start] + data[start + rng.randint(1, 64) :]


def duplicate_chunk(rng: random.Random, data: bytes) -> bytes:
    start = rng.randrange(len(data))
    chunk = data[start : start + rng.randint(1, 256)] * rng.choice((1, 1, 2, 20))
    at = rng.randint(0, len(data))
    return data[:at] + chunk + data[at:]


def truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data))]


def head_lines(data: bytes) -> tuple[list[bytes], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n"), body


def join_head(lines: list[bytes], body: bytes) -> bytes:
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def swap_lines(rng: random.Random, data: bytes) -> bytes:
    lines, body = head_lines(data)
    first, second = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[first], lines[second] = lines[second], lines[first]
    return join_head(lines, body)


def repeat_line(rng: random.Random, data: bytes) -> bytes:
    lines, body = head_lines(data)
    at = rng.randrange(len(lines))
    lines[at:at] = [lines[at]] * rng.choice((1, 2, 16, 100))
    return join_head(lines, body)


def rename_header(rng: random.Random, data: bytes) -> bytes:
    lines, body = head_lines(data)
    at = rng.randrange(1, len(lines)) if len(lines) > 1 else 0
    _, colon, value = lines[at].partition(b":")
    name = rng.choice(HEADER_NAMES)
    if rng.random() < 0.3:
        name = name.swapcase()
    lines[at] = name + (colon or b":") + value
    return join_head(lines, body)


def replace_number(rng: random.Random, data: bytes) -> bytes:
    spans = [match.span() for match in DIGITS.finditer(data)]
    if not spans:
        return insert_bytes(rng, data)
    start, end = rng.choice(spans)
    return data[:start] + rng.choice(NUMBERS) + data[end:]


def inject_line_break(rng: random.Random, data: bytes) -> bytes:
    at = rng.randint(0, len(data))
    return data[:at] + rng.choice(BREAKS) + data[at:]


def insert_unicode(rng: random.Random, data: bytes) -> bytes:
    at = rng.randint(0, len(data))
    kind = rng.random()
    if kind < 0.6:
        char = chr(rng.choice((rng.randint(0x80, 0x7FF), rng.randint(0x800, 0xFFFF), 0x85)))
        text = char.encode("utf-8", "surrogatepass")  # lone surrogates make invalid UTF-8
    elif kind < 0.8:
        text = rng.choice(("\u2028", "\u00a0", "\ufeff", "\x1c", "\u3000")).encode()
    else:
        text = bytes([rng.randint(0x80, 0xFF)])  # a stray continuation or lead byte
    return data[:at] + text + data[at:]


MUTATIONS: list[Mutation] = [
    flip_bits,
    insert_bytes,
    delete_bytes,
    duplicate_chunk,
    truncate,
    swap_lines,
    repeat_line,
    rename_header,
    replace_number,
    replace_number,
    inject_line_break,
    insert_unicode,
]


def mutate(rng: random.Random, data: bytes) -> bytes:
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 5))):
        if not data:
            return data
        data = rng.choice(MUTATIONS)(rng, data)
    return data


def mutated_messages(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    return [mutate(rng, rng.choice(CORPUS)) for _ in range(count)]


# -- the properties -------------------------------------------------------------------------


def assert_same(again: Request | Response, message: Request | Response) -> None:
    if isinstance(message, Request):
        assert isinstance(again, Request)
        assert (again.method, again.uri) == (message.method, message.uri)
    else:
        assert isinstance(again, Response)
        assert (again.status, again.reason) == (message.status, message.reason)
    original = [item for item in message.headers if item[0] != "Content-Length"]
    assert [item for item in again.headers if item[0] != "Content-Length"] == original
    assert again.body == message.body


def check_parse(data: bytes) -> SipParseError | None:
    """Parse, read, re-serialize, re-parse; the refusal when the message is refused."""
    try:
        message = parse_message(data)
    except SipParseError as error:
        assert 400 <= error.status <= 599, error.status
        return error
    read_views(message)
    assert_same(parse_message(message.serialize()), message)
    return None


def check_best_effort(data: bytes, error: SipParseError) -> bool:
    """What the stack does with a refused datagram; whether it would be answered."""
    response = best_effort_response(data, error.status, f"{error.reason} ({error})")
    if response is None:
        return False
    assert not data.startswith(b"SIP/")
    assert response.status == error.status
    assert response.headers.get("Via") is not None
    response.serialize()
    return True


def frame(data: bytes, chunks: list[int]) -> tuple[list[bytes], bool]:
    """The messages a fresh framer gives for `data` cut at `chunks`; whether it refused."""
    framer = StreamFramer()
    out: list[bytes] = []
    start = 0
    try:
        for size in chunks:
            out.extend(framer.feed(data[start : start + size]))
            start += size
    except SipParseError:
        return out, True
    return out, False


def check_framer(rng: random.Random, data: bytes) -> None:
    """However the stream is chunked, the same messages come out (or it is refused)."""
    stream = data + rng.choice(CORPUS)
    whole, whole_refused = frame(stream, [len(stream)])
    chunks: list[int] = []
    while sum(chunks) < len(stream):
        chunks.append(rng.choice((1, 2, 3, 5, 8, 13, 64, 500, 2000)))
    pieces, pieces_refused = frame(stream, chunks)
    assert pieces_refused == whole_refused
    if not whole_refused:
        assert pieces == whole
    for message in pieces:
        assert len(message) <= MAX_MESSAGE
        assert not message.startswith((b"\r", b"\n"))  # keep-alives are not messages
        check_parse(message)


def run_fuzz(seed: int, count: int) -> dict[str, int]:
    rng = random.Random(seed + 1)
    failures: list[str] = []
    tally = {"parsed": 0, "refused": 0, "answered": 0}
    for index, data in enumerate(mutated_messages(seed, count)):
        try:
            error = check_parse(data)
            if error is None:
                tally["parsed"] += 1
            else:
                tally["refused"] += 1
                tally["answered"] += check_best_effort(data, error)
            if index % FRAMER_EVERY == 0:
                check_framer(rng, data)
        except Exception:  # any other exception, or a broken property, is a finding
            failures.append(f"input {index}: {data!r}\n{traceback.format_exc(limit=4)}")
            if len(failures) >= 5:
                break
    assert not failures, "\n\n".join(failures)
    return tally


def test_corpus_messages_are_valid() -> None:
    for data in CORPUS:
        assert check_parse(data) is None


def test_mutated_messages_raise_only_sip_parse_error() -> None:
    """FUZZ_MESSAGES generated messages (the issue's bar of 100 000: MEDIACORE_FUZZ_MESSAGES)."""
    tally = run_fuzz(SEED, FUZZ_MESSAGES)
    assert tally["parsed"] + tally["refused"] == FUZZ_MESSAGES
    # the mutations are neither all harmless nor all fatal: both paths are exercised
    assert tally["parsed"] > FUZZ_MESSAGES // 20
    assert tally["refused"] > FUZZ_MESSAGES // 4
    assert tally["answered"] > FUZZ_MESSAGES // 20  # best_effort_response did answer some


def test_best_effort_response_never_answers_a_response() -> None:
    for data in CORPUS:
        if data.startswith(b"SIP/"):
            assert best_effort_response(data, 400, "Bad Request") is None


# -- hypothesis: structured headers ----------------------------------------------------------

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

MANDATORY = [
    "Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK-hyp",
    "From: <sip:alice@example.com>;tag=1",
    "To: <sip:bob@example.com>",
    "Call-ID: hyp-1",
    "CSeq: 1 OPTIONS",
]
# names whose values the parser checks; the well-formed test leaves them to MANDATORY
CHECKED = {"via", "v", "from", "f", "to", "t", "call-id", "i", "cseq"}
CHECKED |= {"content-length", "l", "max-forwards"}
token = st.from_regex(r"[A-Za-z0-9\-.!%*_+`'~]{1,30}", fullmatch=True)
extension_name = token.filter(lambda name: name.lower() not in CHECKED)
known_name = st.sampled_from(
    ["Subject", "s", "Supported", "k", "Contact", "m", "Allow", "Require", "User-Agent", "Route"]
).map(lambda name: name if len(name) == 1 else name.swapcase())
# one line, no quotes (an unbalanced one in a list header is refused), no white space at the
# ends (the parser strips it)
line_value = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters='\r\n"'), max_size=60
).map(str.strip)
any_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=60)
display_name = st.text(st.characters(categories=("L", "N", "Zs")), max_size=20).map(str.strip)


def request_with(headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    lines = ["OPTIONS sip:bob@example.com SIP/2.0", *MANDATORY]
    lines += [f"{name}: {value}" for name, value in headers]
    lines.append(f"Content-Length: {len(body)}")
    return wire(*lines, body=body)


@FUZZ
@given(
    st.lists(st.tuples(st.one_of(extension_name, known_name), line_value), max_size=20),
    st.binary(max_size=200),
)
def test_well_formed_generated_headers_parse_and_round_trip(
    headers: list[tuple[str, str]], body: bytes
) -> None:
    message = parse_message(request_with(headers, body))
    extra = list(message.headers)[len(MANDATORY) : -1]
    assert extra == [(canonical_name(name), value) for name, value in headers]
    assert message.body == body
    read_views(message)
    assert_same(parse_message(message.serialize()), message)


@FUZZ
@given(st.lists(st.tuples(st.one_of(token, known_name, any_text), any_text), max_size=20))
def test_arbitrary_header_lines_raise_only_sip_parse_error(
    headers: list[tuple[str, str]],
) -> None:
    check_parse(request_with(headers))


@FUZZ
@given(
    st.tuples(display_name, token, token),
    st.tuples(display_name, token, token),
    st.integers(min_value=0, max_value=2**31 - 1),
)
def test_generated_from_to_and_cseq_are_read_back(
    from_: tuple[str, str, str], to: tuple[str, str, str], number: int
) -> None:
    def name_addr(name: str, user: str, tag: str) -> str:
        return (f'"{name}" ' if name else "") + f"<sip:{user}@example.com>;tag={tag}"

    message = parse_message(
        wire(
            "INVITE sip:bob@example.com SIP/2.0",
            "Via: SIP/2.0/TCP [2001:db8::1]:5061;branch=z9hG4bK-gen",
            f"From: {name_addr(*from_)}",
            f"t: {name_addr(*to)}",
            "Call-ID: gen-1",
            f"CSeq: {number} INVITE",
            "l: 0",
        )
    )
    assert message.cseq == (number, "INVITE")
    for parsed, (name, user, tag) in ((message.from_, from_), (message.to, to)):
        assert (parsed.display_name or "", parsed.uri.user, parsed.tag) == (name, user, tag)
    assert_same(parse_message(message.serialize()), message)


@FUZZ
@given(st.integers(min_value=0, max_value=MAX_HEADER_VALUE + 50), st.sampled_from("xé大"))
def test_header_value_length_bound(length: int, char: str) -> None:
    """MAX_HEADER_VALUE counts characters, whatever their UTF-8 length."""
    error = check_parse(request_with([("Subject", char * length)]))
    assert (error is None) == (length <= MAX_HEADER_VALUE)
