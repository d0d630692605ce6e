"""Property tests: hostile SDP never escapes as anything but SdpError or OfferAnswerError,
and descriptions survive serialize/parse unchanged."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mediacore.codecs.base import CodecInfo
from mediacore.offeranswer import (
    ALLOWED_PTIMES,
    OfferAnswerError,
    answer_audio,
    read_answer,
)
from mediacore.sdp import (
    DIRECTIONS,
    Connection,
    Extmap,
    MediaDescription,
    Origin,
    RtpMap,
    SdpError,
    SessionDescription,
)
from tests.core.test_sdp import SAMPLES

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SUPPORTED = [
    CodecInfo("opus", 48000, 48000, 2, None, "minptime=10;useinbandfec=1"),
    CodecInfo("G722", 8000, 16000, 1, 9),
    CodecInfo("PCMU", 8000, 8000, 1, 0),
    CodecInfo("PCMA", 8000, 8000, 1, 8),
    CodecInfo("L16", 48000, 48000, 1, None),
]
EXTENSIONS = ("urn:ietf:params:rtp-hdrext:ssrc-audio-level", "urn:ietf:params:rtp-hdrext:sdes:mid")
ALL_PROFILES = ("RTP/AVP", "RTP/AVPF", "UDP/TLS/RTP/SAVPF")


def parse_or_none(text: str | bytes) -> SessionDescription | None:
    try:
        return SessionDescription.parse(text)
    except SdpError:
        return None


def exercise(sdp: SessionDescription) -> None:
    """Everything a parsed description offers works, and it round-trips."""
    assert SessionDescription.parse(sdp.serialize()) == sdp
    for level in [sdp, *sdp.media]:
        assert level.direction in (None, *DIRECTIONS)
        level.extmaps  # noqa: B018 - must not raise once parse accepted the lines
    for media in sdp.media:
        assert all(0 <= pt <= 127 for pt in media.payload_types)
        media.rtpmaps  # noqa: B018
        media.fmtp  # noqa: B018
        media.ptime  # noqa: B018
        media.maxptime  # noqa: B018
        media.rtcp  # noqa: B018
        assert sdp.effective_direction(media) in DIRECTIONS


def answer_or_refuse(offer: SessionDescription) -> None:
    """answer_audio either refuses with OfferAnswerError/SdpError or gives a sound answer
    that the offerer's side reads back to the same negotiation."""
    try:
        reply, theirs = answer_audio(
            offer,
            SUPPORTED,
            "192.0.2.1",
            4000,
            session_id=1,
            supported_extensions=EXTENSIONS,
            profiles=ALL_PROFILES,
        )
    except (SdpError, OfferAnswerError):
        return
    assert SessionDescription.parse(reply.serialize()) == reply
    assert len(reply.media) == len(offer.media)
    assert theirs.ptime in ALLOWED_PTIMES
    assert theirs.codec in SUPPORTED
    ours = read_answer(offer, reply, SUPPORTED, profiles=ALL_PROFILES)
    assert (ours.codec, ours.payload_type, ours.ptime) == (
        theirs.codec,
        theirs.payload_type,
        theirs.ptime,
    )
    assert ours.telephone_event_pt == theirs.telephone_event_pt
    assert ours.direction == offer.effective_direction(offer.media[reply_index(reply)])


def reply_index(reply: SessionDescription) -> int:
    return next(i for i, media in enumerate(reply.media) if media.port != 0)


# --- arbitrary input ---------------------------------------------------------------------------


@FUZZ
@given(st.text(max_size=3000))
def test_arbitrary_text_raises_only_sdp_error(text: str) -> None:
    sdp = parse_or_none(text)
    if sdp is not None:
        exercise(sdp)


@FUZZ
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_raise_only_sdp_error(data: bytes) -> None:
    sdp = parse_or_none(data)
    if sdp is not None:
        exercise(sdp)


LINE_STARTS = [
    "v=0",
    "o=- 1 1 IN IP4 192.0.2.9",
    "s=-",
    "c=IN IP4 192.0.2.9",
    "c=IN IP6 2001:db8::9",
    "c=IN IP4 ",
    "t=0 0",
    "t=",
    "r=",
    "b=AS:",
    "i=",
    "k=",
    "z=",
    "y=",
    "m=audio 4000 RTP/AVP 0 8 9 96 101",
    "m=audio ",
    "m=video 0 RTP/AVP 31",
    "a=rtpmap:",
    "a=rtpmap:96 opus/48000/2",
    "a=rtpmap:101 telephone-event/",
    "a=fmtp:",
    "a=extmap:",
    "a=ptime:",
    "a=maxptime:",
    "a=rtcp:",
    "a=rtcp-mux",
    "a=mid:",
    "a=sendonly",
    "a=recvonly",
    "a=inactive",
    "a=",
    "",
]
NOISE = st.text(alphabet=string.digits + " /:.-=;abcIPN\t\r\x00é", max_size=12)


@st.composite
def sdp_like_text(draw: st.DrawFn) -> str:
    lines = draw(st.lists(st.tuples(st.sampled_from(LINE_STARTS), NOISE).map("".join), max_size=40))
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    return ending.join(["v=0", "o=- 1 1 IN IP4 192.0.2.9", "s=-", *lines]) + ending


@FUZZ
@given(sdp_like_text())
def test_sdp_like_text_raises_only_sdp_error_and_answers_only_offer_answer_error(
    text: str,
) -> None:
    sdp = parse_or_none(text)
    if sdp is not None:
        exercise(sdp)
        answer_or_refuse(sdp)


# --- mutated real offers -----------------------------------------------------------------------

REAL_OFFERS = [text for name, text in sorted(SAMPLES.items())]


@st.composite
def mutated_offer(draw: st.DrawFn) -> str:
    lines = draw(st.sampled_from(REAL_OFFERS)).splitlines()
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(lines) - 1)) if lines else 0
        operation = draw(st.sampled_from(["drop", "repeat", "swap", "insert", "edit", "number"]))
        if not lines:
            operation = "insert"
        if operation == "drop":
            del lines[at]
        elif operation == "repeat":
            lines.insert(at, lines[at])
        elif operation == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[at], lines[other] = lines[other], lines[at]
        elif operation == "insert":
            lines.insert(at, draw(st.sampled_from(LINE_STARTS)) + draw(NOISE))
        elif operation == "edit":
            line = lines[at]
            start = draw(st.integers(0, len(line)))
            end = draw(st.integers(start, len(line)))
            lines[at] = line[:start] + draw(NOISE) + line[end:]
        else:  # put another number where a number was: ports, payload types, rates, ptime
            line = lines[at]
            digits = [i for i, char in enumerate(line) if char.isdigit()]
            if digits:
                i = draw(st.sampled_from(digits))
                number = str(draw(st.integers(0, 200_000)))
                lines[at] = line[:i] + number + line[i + 1 :]
    return "\r\n".join(lines) + "\r\n"


@FUZZ
@given(mutated_offer())
def test_mutated_real_offers_raise_only_sdp_or_offer_answer_errors(text: str) -> None:
    sdp = parse_or_none(text)
    if sdp is not None:
        exercise(sdp)
        answer_or_refuse(sdp)


def test_every_unmutated_sample_is_answered_or_refused_soundly() -> None:
    for text in REAL_OFFERS:
        answer_or_refuse(SessionDescription.parse(text))


# --- generated descriptions round-trip ---------------------------------------------------------

TOKEN_CHARS = "!#$%&'*+-.^_`{|}~" + string.ascii_letters + string.digits
KNOWN_ATTRIBUTES = {"rtpmap", "fmtp", "extmap", "ptime", "maxptime", "rtcp", *DIRECTIONS}

tokens = st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=10)
# Free text as SDP carries it: no CR, LF or NUL, and no trailing blanks (the parser drops them).
free_text = st.text(
    alphabet=st.characters(blacklist_characters="\r\n\0", blacklist_categories=["Cs"]),
    max_size=30,
).filter(lambda text: not text.endswith((" ", "\t")))
addresses = st.one_of(
    st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str), tokens.map(str.lower)
)
connections = st.builds(
    Connection,
    tokens,
    st.sampled_from(["IP4", "IP6"]) | tokens,
    addresses,
    st.none() | st.from_regex(r"[0-9]{1,3}(/[0-9]{1,2})?", fullmatch=True),
)
origins = st.builds(
    Origin,
    tokens,
    st.integers(0, 10**40 - 1),
    st.integers(0, 10**40 - 1),
    tokens,
    tokens,
    addresses,
)
bandwidths = st.lists(st.tuples(tokens, st.integers(0, 10**10 - 1)), max_size=2)
timings = st.tuples(st.integers(0, 2**64), st.integers(0, 2**64)).map(lambda t: f"{t[0]} {t[1]}")


@st.composite
def attribute_lists(draw: st.DrawFn) -> list[tuple[str, str | None]]:
    free_names = tokens.filter(lambda name: name not in KNOWN_ATTRIBUTES)
    attributes = draw(st.lists(st.tuples(free_names, st.none() | free_text), max_size=5))
    for pt in draw(st.sets(st.integers(0, 127), max_size=3)):
        encoding = draw(tokens)
        rate = draw(st.integers(1, 10_000_000))
        channels = draw(st.none() | st.integers(1, 255))
        attributes.append(("rtpmap", RtpMap(pt, encoding, rate, channels).to_value()))
        if draw(st.booleans()):
            attributes.append(("fmtp", f"{pt} {draw(free_text.filter(str.strip))}".rstrip()))
    for ext_id in draw(st.sets(st.integers(1, 255), max_size=2)):
        direction = draw(st.none() | st.sampled_from(DIRECTIONS))
        uri = draw(tokens)
        attributes.append(("extmap", Extmap(ext_id, uri, direction).to_value()))
    if draw(st.booleans()):
        attributes.append(("ptime", str(draw(st.sampled_from(ALLOWED_PTIMES)))))
    if draw(st.booleans()):
        attributes.append((draw(st.sampled_from(DIRECTIONS)), None))
    return draw(st.permutations(attributes))


def extra_lines(
    kinds: str, slot_of: dict[str, int], last_slot: int
) -> st.SearchStrategy[list[tuple[str, str]]]:
    lines = st.lists(st.tuples(st.sampled_from(kinds), free_text), max_size=3)
    return lines.map(lambda found: sorted(found, key=lambda e: slot_of.get(e[0], last_slot)))


media_descriptions = st.builds(
    MediaDescription,
    kind=tokens,
    port=st.integers(0, 65535),
    proto=st.lists(tokens, min_size=1, max_size=3).map("/".join),
    formats=st.lists(tokens, max_size=5),
    connection=st.none() | connections,
    bandwidths=bandwidths,
    attributes=attribute_lists(),
    port_count=st.none() | st.integers(1, 65535),
    extra_lines=extra_lines("ikdfghjlnqwxy", {"i": 0, "k": 1}, 2),
)
session_descriptions = st.builds(
    SessionDescription,
    version=st.just(0),
    origin=origins,
    session_name=free_text,
    connection=st.none() | connections,
    timing=timings,
    bandwidths=bandwidths,
    attributes=attribute_lists(),
    media=st.lists(media_descriptions, max_size=4),
    extra_lines=extra_lines(
        "iueprzkdfghjlnqwxy",
        {"i": 0, "u": 0, "e": 0, "p": 0, "r": 1, "z": 2, "k": 2},
        3,
    ),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(session_descriptions)
def test_generated_descriptions_round_trip(sdp: SessionDescription) -> None:
    text = sdp.serialize()
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    assert SessionDescription.parse(text) == sdp
    assert SessionDescription.parse(text.encode("utf-8")) == sdp
