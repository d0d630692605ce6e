"""SIP message parsing and serialization (RFC 3261 §7, §18.3, §20), with RFC 4475 torture tests.

The RFC 4475 §3.1.1 messages below are transcribed by hand; the ones our bounds refuse (longreq
has 34 Via hops, over MAX_VIAS) are shortened to stay within them."""

from __future__ import annotations

import pytest

from sip.message import (
    MAX_BODY,
    MAX_HEADER_VALUE,
    MAX_HEADERS,
    MAX_MESSAGE,
    MAX_START_LINE,
    MAX_VIAS,
    Headers,
    Request,
    Response,
    SipParseError,
    StreamFramer,
    make_response,
    parse_message,
)

CRLF = "\r\n"


def wire(*lines: str, body: bytes = b"") -> bytes:
    """Head lines joined by CRLF, the blank line, then the body."""
    return (CRLF.join(lines) + CRLF + CRLF).encode() + body


def sdp(*extra: str) -> bytes:
    lines = [
        "v=0",
        "o=mhandley 29739 7272939 IN IP4 192.0.2.3",
        "s=-",
        "c=IN IP4 192.0.2.4",
        "t=0 0",
        "m=audio 49217 RTP/AVP 0 12",
        "m=video 3227 RTP/AVP 31",
        "a=rtpmap:31 LPC",
        *extra,
    ]
    return "".join(line + CRLF for line in lines).encode()


SDP = sdp()
assert len(SDP) == 150  # the Content-Length RFC 4475 gives its messages' SDP

# -- RFC 4475 §3.1.1 valid messages --------------------------------------------------------

WSINV = wire(  # §3.1.1.1 A Short Tortuous INVITE
    "INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0",
    "TO :",
    " sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n",
    r'from   : "J Rosenberg \\\""       <sip:jdrosen@example.com>',
    "  ;",
    "  tag = 98asjd8",
    "MaX-fOrWaRdS: 0068",
    "Call-ID: wsinv.ndaksdj@192.0.2.1",
    "Content-Length   : 150",
    "cseq: 0009",
    "  INVITE",
    "Via  : SIP  /   2.0",
    " /UDP",
    "    192.0.2.2;branch=390skdjuw",
    "s :",
    "NewFangledHeader:   newfangled value",
    " continued newfangled value",
    "UnknownHeaderWithUnusualValue: ;;,,;;,;",
    "Content-Type: application/sdp",
    "Route:",
    " <sip:services.example.com;lr;unknownwith=value;unknown-no-value>",
    "v:  SIP  / 2.0  / TCP     spindle.example.com   ;",
    "  branch  =   z9hG4bK9ikj8  ,",
    " SIP  /    2.0   / UDP  192.168.255.111   ; branch=",
    " z9hG4bK30239",
    r'm:"Quoted string \"\"" <sip:jdrosen@example.com> ; newparam =',
    "      newvalue ;",
    "  secondparam ; q = 0.33",
    body=SDP,
)
INTMETH_METHOD = "!interesting-Method0123456789_*+`.%indeed'~"
INTMETH_USER = "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
INTMETH = wire(  # §3.1.1.2 Wide Range of Valid Characters
    f"{INTMETH_METHOD} sip:{INTMETH_USER}:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    "@example.com SIP/2.0",
    "Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~",
    f'To: "BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" <sip:{INTMETH_USER}@example.com>',
    "From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>"
    ";fromParam''~+*_!.-%=\"работающий\";tag=_token~1'+`*%!-.",
    "Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{",
    f"CSeq: 139122385 {INTMETH_METHOD}",
    "Max-Forwards: 255",
    "extensionHeader-!.%*+_`'~:\ufeff大停電",
    "Content-Length: 0",
)
ESC01 = wire(  # §3.1.1.3 Valid Use of the % Escaping Mechanism
    "INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0",
    "To: sip:%75se%72@example.com",
    "From: <sip:I%20have%20spaces@example.net>;tag=938",
    "Max-Forwards: 87",
    "i: esc01.239409asdfakjkn23onasd0-3234",
    "CSeq: 234234 INVITE",
    "Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw",
    "C: application/sdp",
    "Contact:",
    "  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>",
    "Content-Length: 150",
    body=SDP,
)
ESCNULL = wire(  # §3.1.1.4 Escaped Nulls in URIs
    "REGISTER sip:example.com SIP/2.0",
    "To: sip:null-%00-null@example.com",
    "From: sip:null-%00-null@example.com;tag=839923423",
    "Max-Forwards: 70",
    "Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd",
    "CSeq: 14398234 REGISTER",
    "Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw",
    "Contact: <sip:%00@host5.example.com>",
    "Contact: <sip:%00%00@host5.example.com>",
    "L:0",
)
ESC02 = wire(  # §3.1.1.5 Use of % When It Is Not an Escape
    "RE%47IST%45R sip:registrar.example.com SIP/2.0",
    'To: "%Z%45" <sip:resource@example.com>',
    'From: "%Z%45" <sip:resource@example.com>;tag=f232jadfj23',
    "Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf",
    "Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK209093",
    "CSeq: 29344 RE%47IST%45R",
    "Max-Forwards: 70",
    "Contact: <sip:alias1@host1.example.com>",
    "C%6Fntact: <sip:alias2@host2.example.com>",
    "Contact: <sip:alias3@host3.example.com>",
    "l: 0",
)
LWSDISP = wire(  # §3.1.1.6 Message with No LWS between Display Name and <
    "OPTIONS sip:user@example.com SIP/2.0",
    "To: sip:user@example.com",
    "From: caller<sip:caller@example.com>;tag=323",
    "Max-Forwards: 70",
    "Call-ID: lwsdisp.1234abcd@funky.example.com",
    "CSeq: 60 OPTIONS",
    "Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw",
    "l: 0",
)
LONG = "longlonglonglong" * 10
LONGREQ_VIA_HOSTS = [f"sip{n}.example.com" for n in range(MAX_VIAS, 0, -1)]
LONGREQ = wire(  # §3.1.1.7 Long Values in Header Fields, cut to MAX_VIAS hops
    "INVITE sip:user@example.com SIP/2.0",
    f'To: "I have a user name of {"extreme" * 60} proportion"<sip:user@example.com:6000;'
    f"unknownparam1=very{LONG}value;unknownparam2=shortvalue>",
    f"From: sip:caller@example.net;tag=333{'3' * 300}",
    f"Call-ID: longreq.one{'really' * 50}longcallid",
    "CSeq: 3882340 INVITE",
    f"Unknown-{LONG}-Header: unknown-{LONG}-value;unknown-{LONG}-parameter-name="
    f"unknown-{LONG}-parameter-value",
    *(
        f"{('Via', 'v', 'V')[index % 3]}: SIP/2.0/TCP {host}"
        + (";branch=z9hG4bKlongreqbranch" if index == 0 else "")
        for index, host in enumerate(LONGREQ_VIA_HOSTS)
    ),
    "Max-Forwards: 68",
    "Record-Route: " + ", ".join(f"<sip:{LONG}{n}.example.com;lr>" for n in range(20)),
    f"Contact: <sip:amazinglylongcallername{'x' * 200}@host5.example.net>",
    "Content-Type: application/sdp",
    "l: 150",
    body=SDP,
)
DBLREQ_SECOND = wire(
    "INVITE sip:joe@example.com SIP/2.0",
    "t: sip:joe@example.com",
    "From: sip:caller@example.net;tag=141334",
    "Max-Forwards: 8",
    "Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15",
    "CSeq: 8 INVITE",
    "Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234",
    "Content-Type: application/sdp",
    "Content-Length: 150",
    body=SDP,
)
DBLREQ = (  # §3.1.1.8 Extra Trailing Octets in a UDP Datagram
    wire(
        "REGISTER sip:example.com SIP/2.0",
        "To: sip:j.user@example.com",
        "From: sip:j.user@example.com;tag=43251j3j324",
        "Max-Forwards: 8",
        "I: dblreq.0ha0isndaksdj99sdfafnl3lk233412",
        "Contact: sip:j.user@host.example.com",
        "CSeq: 8 REGISTER",
        "Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492",
        "Content-Length: 0",
    )
    + DBLREQ_SECOND
)
SEMIURI = wire(  # §3.1.1.9 Semicolon-Separated Parameters in URI User Part
    "OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0",
    "To: sip:j_user@example.com",
    "From: sip:caller@example.org;tag=33242",
    "Max-Forwards: 3",
    "Call-ID: semiuri.0ha0isndaksdj",
    "CSeq: 8 OPTIONS",
    "Accept: application/sdp, application/pkcs7-mime,",
    "        multipart/mixed, multipart/signed,",
    "        message/sip, message/sipfrag",
    "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw",
    "l: 0",
)
TRANSPORTS = wire(  # §3.1.1.10 Varied and Unknown Transport Types
    "OPTIONS sip:user@example.com SIP/2.0",
    "To: sip:user@example.com",
    "From: <sip:caller@example.com>;tag=323",
    "Max-Forwards: 70",
    "Call-ID:  transports.kijh4akdnaqjkwendsasfdj",
    "Accept: application/sdp",
    "CSeq: 60 OPTIONS",
    "Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw",
    "Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf",
    "Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj",
    "Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en",
    "Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee",
    "l: 0",
)
MPART_BODY = (
    b"--7a9cbec02ceef655\r\n"
    b"Content-Type: text/plain\r\n"
    b"Content-Transfer-Encoding: binary\r\n\r\n"
    b"Hello\r\n"
    b"--7a9cbec02ceef655\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"Content-Transfer-Encoding: binary\r\n\r\n"
    + bytes(range(256))
    + b"\r\n--7a9cbec02ceef655--\r\n"
)
MPART01 = wire(  # §3.1.1.11 Multipart MIME Message (binary, non-UTF-8 body part)
    "MESSAGE sip:kumiko@example.org SIP/2.0",
    "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-;rport",
    "Max-Forwards: 70",
    "Route: <sip:127.0.0.1:5080>",
    "Identity: r5mwreLuyDRYBi/0TiPwEsY3rEVsk/G2WxhgTV1PF7hHuLIK0YWVKZhKv9Mj8UeXqkMVbnVq37CD+8",
    "Contact: <sip:fluffy@127.0.0.1:5070>",
    "To: <sip:kumiko@example.org>",
    "From: <sip:fluffy@example.com>;tag=2fb0dcc9",
    "Call-ID: 3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..",
    "CSeq: 1 MESSAGE",
    "Content-Transfer-Encoding: binary",
    "Content-Type: multipart/mixed;boundary=7a9cbec02ceef655",
    "Date: Sat, 15 Oct 2005 04:44:56 GMT",
    "User-Agent: SIPimp.org/0.2.5 (curses)",
    f"Content-Length: {len(MPART_BODY)}",
    body=MPART_BODY,
)
UNREASON_TEXT = "= 2**3 * 5**3 но сто девяносто девять - простое"
UNREASON = wire(  # §3.1.1.12 Unusual Reason Phrase
    f"SIP/2.0 200 {UNREASON_TEXT}",
    "Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923",
    "Call-ID: unreason.1234ksdfak3j2erwedfsASdf",
    "CSeq: 35 INVITE",
    "From: sip:user@example.com;tag=11141343",
    "To: sip:user@example.edu;tag=2229",
    "Content-Length: 154",
    "Content-Type: application/sdp",
    "Contact: <sip:user@host198.example.com>",
    body=sdp("a=x-unusual"),
)
NOREASON = wire(  # §3.1.1.13 Empty Reason Phrase
    "SIP/2.0 100 ",
    "Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe",
    "Call-ID: noreason.asndj203insdf99223ndf",
    "CSeq: 35 INVITE",
    "From: <sip:user@example.com>;tag=39ansfi3",
    "To: <sip:user@example.edu>;tag=902jndnke3",
    "Content-Length: 0",
    "Contact: <sip:user@host105.example.com>",
)
RFC4475_VALID = {
    "wsinv": WSINV,
    "intmeth": INTMETH,
    "esc01": ESC01,
    "escnull": ESCNULL,
    "esc02": ESC02,
    "lwsdisp": LWSDISP,
    "longreq": LONGREQ,
    "dblreq": DBLREQ,
    "semiuri": SEMIURI,
    "transports": TRANSPORTS,
    "mpart01": MPART01,
    "unreason": UNREASON,
    "noreason": NOREASON,
}

# -- a plain request to vary ----------------------------------------------------------------

BASIC_LINES = [
    "INVITE sip:bob@example.com SIP/2.0",
    "Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK-basic-1",
    "Max-Forwards: 70",
    'From: "Alice" <sip:alice@example.com>;tag=from-1',
    "To: <sip:bob@example.com>",
    "Call-ID: basic-1@198.51.100.1",
    "CSeq: 1 INVITE",
    "Contact: <sip:alice@198.51.100.1>",
    "Content-Type: application/sdp",
    "Content-Length: 150",
]


def basic(replace: dict[str, str | None] | None = None, body: bytes = SDP) -> bytes:
    """BASIC_LINES with headers replaced by name (None drops the header)."""
    replace = replace or {}
    lines = [BASIC_LINES[0]]
    for line in BASIC_LINES[1:]:
        name = line.partition(":")[0]
        if name not in replace:
            lines.append(line)
        elif replace[name] is not None:
            lines.append(f"{name}: {replace[name]}")
    return wire(*lines, body=body)


def parse_request(data: bytes) -> Request:
    message = parse_message(data)
    assert isinstance(message, Request)
    return message


def parse_response(data: bytes) -> Response:
    message = parse_message(data)
    assert isinstance(message, Response)
    return message


def refusal(data: bytes) -> SipParseError:
    with pytest.raises(SipParseError) as caught:
        parse_message(data)
    return caught.value


def without_length(message: Request | Response) -> list[tuple[str, str]]:
    return [(name, value) for name, value in message.headers if name != "Content-Length"]


def assert_round_trips(message: Request | Response) -> Request | Response:
    """serialize() then parse_message() gives the same start line, headers and body."""
    again = parse_message(message.serialize())
    assert type(again) is type(message)
    if isinstance(message, Request):
        assert isinstance(again, Request)
        assert (again.method, again.uri) == (message.method, message.uri)
    else:
        assert isinstance(again, Response)
        assert (again.status, again.reason) == (message.status, message.reason)
    assert without_length(again) == without_length(message)
    assert again.headers.get("Content-Length") == str(len(message.body))
    assert again.body == message.body
    return again


# -- RFC 4475 -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", RFC4475_VALID)
def test_rfc4475_valid_message_parses_and_round_trips(name: str) -> None:
    """RFC 4475 §3.1.1: every element must accept these; our serialization keeps them intact."""
    message = parse_message(RFC4475_VALID[name])
    message.vias, message.from_, message.to, message.contacts, message.cseq  # noqa: B018
    assert_round_trips(message)


def test_wsinv_folding_spacing_and_escapes_are_understood() -> None:
    """RFC 4475 §3.1.1.1: folding, LWS around colons and semicolons, compact forms, zeros."""
    message = parse_request(WSINV)
    assert message.uri == "sip:vivekg@chair-dnrc.example.com;unknownparam"
    assert message.request_uri.params == {"unknownparam": None}
    assert message.to.uri.user == "vivekg"
    assert message.to.tag == "1918181833n"
    assert message.from_.display_name == 'J Rosenberg \\"'
    assert message.from_.tag == "98asjd8"
    assert message.headers.get("Max-Forwards") == "0068"
    assert message.cseq == (9, "INVITE")
    vias = message.vias
    assert [(via.transport, via.host, via.branch) for via in vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert message.headers.get("Subject") == ""
    assert message.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert message.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    assert message.headers.get("Route") == (
        "<sip:services.example.com;lr;unknownwith=value;unknown-no-value>"
    )
    [contact] = message.contacts
    assert contact.display_name == 'Quoted string ""'
    assert contact.params == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}
    assert message.body == SDP


def test_intmeth_unusual_method_uri_and_header_characters_are_accepted() -> None:
    """RFC 4475 §3.1.1.2: every token character in the method, `?` and `;` in the user part."""
    message = parse_request(INTMETH)
    assert message.method == INTMETH_METHOD
    assert message.cseq == (139122385, INTMETH_METHOD)
    uri = message.request_uri
    assert uri.user == INTMETH_USER
    assert uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert uri.host == "example.com"
    assert uri.headers == ""
    assert message.top_via.branch == "z9hG4bK-.!%66*_+`'~"
    assert message.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert message.to.uri.user == INTMETH_USER
    assert message.from_.display_name == "token1~` token2'+_ token3*%!.-"
    assert message.from_.params["fromparam''~+*_!.-%"] == '"работающий"'
    assert message.from_.tag == "_token~1'+`*%!-."
    assert message.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert message.headers.get("extensionHeader-!.%*+_`'~") == "\ufeff大停電"


def test_escaped_uris_are_kept_escaped() -> None:
    """RFC 4475 §3.1.1.3-5: %-escapes stay as sent; `%` in a method is not an escape."""
    esc01 = parse_request(ESC01)
    assert esc01.request_uri.user == "sips%3Auser%40example.com"
    assert esc01.request_uri.host == "example.net"
    assert esc01.to.uri.user == "%75se%72"
    assert esc01.contacts[0].uri.params == {"%6c%72": None, "n%61me": "v%61lue%25%34%31"}
    escnull = parse_request(ESCNULL)
    assert [str(contact.uri) for contact in escnull.contacts] == [
        "sip:%00@host5.example.com",
        "sip:%00%00@host5.example.com",
    ]
    esc02 = parse_request(ESC02)
    assert esc02.method == "RE%47IST%45R"
    assert esc02.to.display_name == "%Z%45"
    # C%6Fntact is an unknown header, not Contact (§7.3.1: names compare as tokens)
    assert [contact.uri.host for contact in esc02.contacts] == [
        "host1.example.com",
        "host3.example.com",
    ]


def test_display_name_without_space_before_angle_bracket() -> None:
    """RFC 4475 §3.1.1.6 lwsdisp."""
    assert parse_request(LWSDISP).from_.display_name == "caller"


def test_long_header_values_within_bounds_are_accepted() -> None:
    """RFC 4475 §3.1.1.7 longreq, with MAX_VIAS Via hops written in three spellings."""
    message = parse_request(LONGREQ)
    assert [via.host for via in message.vias] == LONGREQ_VIA_HOSTS
    assert len(message.headers.get_all("Record-Route")) == 20
    assert message.to.uri.port == 6000
    assert message.from_.tag == "333" + "3" * 300
    assert message.body == SDP


def test_extra_octets_after_content_length_in_a_datagram_are_ignored() -> None:
    """RFC 4475 §3.1.1.8 dblreq: the second request in the datagram is not part of the first."""
    message = parse_request(DBLREQ)
    assert message.method == "REGISTER"
    assert message.body == b""
    assert parse_request(DBLREQ_SECOND).method == "INVITE"


def test_semicolons_in_uri_user_part() -> None:
    """RFC 4475 §3.1.1.9 semiuri."""
    message = parse_request(SEMIURI)
    assert message.request_uri.user == "user;par=u%40example.net"
    assert message.request_uri.params == {}
    assert message.headers.get_all("Accept")[-1] == "message/sipfrag"


def test_unknown_transports_in_via() -> None:
    """RFC 4475 §3.1.1.10 transports."""
    vias = parse_request(TRANSPORTS).vias
    assert [via.transport for via in vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]


def test_binary_body_is_kept_byte_for_byte() -> None:
    """RFC 4475 §3.1.1.11 mpart01: the body need not be UTF-8."""
    message = parse_request(MPART01)
    assert message.body == MPART_BODY
    assert message.content_type == "multipart/mixed"


def test_reason_phrases_unusual_and_empty() -> None:
    """RFC 4475 §3.1.1.12 unreason and §3.1.1.13 noreason."""
    unusual = parse_response(UNREASON)
    assert (unusual.status, unusual.reason) == (200, UNREASON_TEXT)
    empty = parse_response(NOREASON)
    assert (empty.status, empty.reason) == (100, "")


# -- headers --------------------------------------------------------------------------------

COMPACT = {
    "v": ("Via", "SIP/2.0/UDP 198.51.100.1;branch=z9hG4bK-compact"),
    "f": ("From", "<sip:alice@example.com>;tag=1"),
    "t": ("To", "<sip:bob@example.com>"),
    "i": ("Call-ID", "compact-1"),
    "m": ("Contact", "<sip:alice@198.51.100.1>"),
    "l": ("Content-Length", "0"),
    "c": ("Content-Type", "text/plain"),
    "k": ("Supported", "timer"),
    "s": ("Subject", "hello"),
    "x": ("Session-Expires", "1800;refresher=uac"),
}
COMPACT_MESSAGE = wire(
    "OPTIONS sip:bob@example.com SIP/2.0",
    *(f"{letter}: {value}" for letter, (_, value) in COMPACT.items()),
    "CSeq: 1 OPTIONS",
)


@pytest.mark.parametrize("letter", COMPACT)
def test_compact_header_name_expands(letter: str) -> None:
    """RFC 3261 §7.3.3 compact forms are read, and written out, under their full names."""
    full, value = COMPACT[letter]
    message = parse_request(COMPACT_MESSAGE)
    assert message.headers.get(full) == value
    assert message.headers.get(letter) == value  # the compact name also finds it
    assert full in {name for name, _ in message.headers}
    assert letter not in {name for name, _ in message.headers}
    assert f"\r\n{full}: ".encode() in message.serialize()


def test_folded_header_lines_join_with_one_space() -> None:
    """RFC 3261 §7.3.1: a line starting with SP or HTAB continues the previous header."""
    data = basic({"Subject": None}).replace(
        b"Max-Forwards: 70\r\n", b"Subject: first\r\n  second\r\n\tthird\r\nMax-Forwards: 70\r\n"
    )
    assert parse_request(data).headers.get("Subject") == "first second third"


def test_folded_line_before_any_header_is_refused() -> None:
    data = basic().replace(b"SIP/2.0\r\n", b"SIP/2.0\r\n continued\r\n", 1)
    assert refusal(data).status == 400


def test_header_lookup_is_case_insensitive() -> None:
    """RFC 3261 §7.3.1: header field names are case-insensitive."""
    data = basic({"Call-ID": None}).replace(b"CSeq", b"cSEQ")
    message = parse_request(data.replace(b"Max-Forwards", b"CALL-id: x-1\r\nMax-Forwards"))
    for spelling in ("call-id", "CALL-ID", "Call-Id", "i", "I"):
        assert message.headers.get(spelling) == "x-1"
    assert "cseq" in message.headers
    assert message.cseq == (1, "INVITE")


def test_via_list_in_one_line_or_two_lines_gives_two_vias() -> None:
    """RFC 3261 §7.3.1: `Via: a, b` is the same as two Via lines."""
    first = "SIP/2.0/UDP 198.51.100.1;branch=z9hG4bK-a"
    second = "SIP/2.0/TCP 198.51.100.2:5070;branch=z9hG4bK-b"
    one_line = parse_request(basic({"Via": f"{first} , {second}"}))
    two_lines = parse_request(
        basic({"Via": first}).replace(b"Max-Forwards", f"Via: {second}\r\nMax-Forwards".encode())
    )
    for message in (one_line, two_lines):
        assert [(via.host, via.branch) for via in message.vias] == [
            ("198.51.100.1", "z9hG4bK-a"),
            ("198.51.100.2", "z9hG4bK-b"),
        ]


def test_comma_in_quoted_display_name_does_not_split_contact() -> None:
    contact = '"Smith, John" <sip:john@example.com>;q=0.5, <sip:desk@example.com>'
    contacts = parse_request(basic({"Contact": contact})).contacts
    assert [(c.display_name, c.uri.user) for c in contacts] == [
        ("Smith, John", "john"),
        (None, "desk"),
    ]
    assert contacts[0].params == {"q": "0.5"}


def test_comma_in_non_list_header_is_not_split() -> None:
    data = basic({"Contact": None}).replace(b"Max-Forwards", b"Subject: one, two\r\nMax-Forwards")
    assert parse_request(data).headers.get_all("Subject") == ["one, two"]


def test_headers_set_replaces_every_occurrence_in_place() -> None:
    headers = Headers([("Via", "a"), ("To", "t"), ("via", "b")])
    headers.set("v", "c")
    assert list(headers) == [("Via", "c"), ("To", "t")]
    headers.remove("TO")
    assert list(headers) == [("Via", "c")]
    assert "to" not in headers


# -- bodies and Content-Length (§18.3, §20.14) ------------------------------------------------


def test_content_length_larger_than_body_is_400() -> None:
    assert refusal(basic(body=SDP[:-1])).status == 400


def test_content_length_shorter_than_body_truncates_it() -> None:
    message = parse_request(basic({"Content-Length": "10"}))
    assert message.body == SDP[:10]
    assert_round_trips(message)


def test_missing_content_length_over_udp_takes_the_rest_of_the_datagram() -> None:
    """RFC 3261 §18.3: over UDP, the body runs to the end of the datagram."""
    message = parse_request(basic({"Content-Length": None}))
    assert message.body == SDP
    assert b"Content-Length: 150\r\n" in message.serialize()


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "1 2", "1234567890", "\u00b2", "\u0661"])
def test_malformed_content_length_is_400(value: str) -> None:
    """Only ASCII digits: `'²'.isdigit()` is true, but no integer."""
    assert refusal(basic({"Content-Length": value})).status == 400


def test_body_over_max_body_is_413() -> None:
    big = b"x" * (MAX_BODY + 1)
    with_length = refusal(basic({"Content-Length": str(len(big))}, body=big))
    without_length = refusal(basic({"Content-Length": None}, body=big))
    assert (with_length.status, with_length.reason) == (413, "Request Entity Too Large")
    assert without_length.status == 413


def test_body_of_max_body_is_accepted() -> None:
    body = b"x" * MAX_BODY
    assert parse_request(basic({"Content-Length": str(MAX_BODY)}, body=body)).body == body


# -- refusals and their status codes ---------------------------------------------------------


@pytest.mark.parametrize("name", ["Via", "From", "To", "Call-ID", "CSeq"])
def test_missing_mandatory_header_is_400_naming_it(name: str) -> None:
    """RFC 3261 §8.1.1: every request carries To, From, CSeq, Call-ID, Max-Forwards and Via."""
    error = refusal(basic({name: None}))
    assert (error.status, error.reason) == (400, "Bad Request")
    assert name in str(error)


@pytest.mark.parametrize("name", ["Via", "From", "To", "Call-ID", "CSeq"])
def test_empty_mandatory_header_is_400(name: str) -> None:
    assert refusal(basic({name: ""})).status == 400


def test_cseq_method_mismatch_is_400() -> None:
    """RFC 3261 §8.1.1.5: the CSeq method matches the request's."""
    error = refusal(basic({"CSeq": "1 BYE"}))
    assert error.status == 400
    assert "CSeq" in str(error)


@pytest.mark.parametrize("value", ["x INVITE", "1", "2147483648 INVITE", "\u00b2 INVITE"])
def test_malformed_cseq_is_400(value: str) -> None:
    assert refusal(basic({"CSeq": value})).status == 400


def test_unsupported_sip_version_is_505() -> None:
    """RFC 3261 §21.5.6: a SIP version we do not speak gets 505."""
    error = refusal(basic().replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1))
    assert (error.status, error.reason) == (505, "Version Not Supported")


@pytest.mark.parametrize("uri", ["http://example.com/", "mailto:bob@example.com", "urn:x:y"])
def test_non_sip_request_uri_scheme_is_416(uri: str) -> None:
    """RFC 3261 §8.2.2.1: a Request-URI scheme we do not understand gets 416."""
    data = basic().replace(b"sip:bob@example.com SIP", f"{uri} SIP".encode(), 1)
    error = refusal(data)
    assert (error.status, error.reason) == (416, "Unsupported URI Scheme")


@pytest.mark.parametrize("uri", ["sip:bob@", "sip:bob@exa_mple.com", "sip:[::1", "sip:a@b:0"])
def test_malformed_sip_request_uri_is_400(uri: str) -> None:
    """A sip: URI that breaks the grammar is a bad request, not an unsupported scheme."""
    line = f"INVITE {uri} SIP/2.0".encode()
    error = refusal(basic().replace(b"INVITE sip:bob@example.com SIP/2.0", line, 1))
    assert error.status == 400


def test_bad_request_line_is_400() -> None:
    for start in (b"INVITE sip:bob@example.com", b"INVITE  sip:bob@example.com SIP/2.0", b"@@@"):
        data = basic().replace(b"INVITE sip:bob@example.com SIP/2.0", start, 1)
        assert refusal(data).status == 400


def test_message_over_max_message_is_513() -> None:
    data = basic({"Content-Length": None}, body=b"x" * MAX_MESSAGE)
    error = refusal(data)
    assert (error.status, error.reason) == (513, "Message Too Large")


def test_start_line_over_max_start_line_is_414() -> None:
    uri = "sip:" + "u" * MAX_START_LINE + "@example.com"
    error = refusal(basic().replace(b"sip:bob@example.com SIP", f"{uri} SIP".encode(), 1))
    assert error.status == 414


def test_more_than_max_headers_is_400() -> None:
    extra = MAX_HEADERS - len(BASIC_LINES) + 1  # header lines, the start line excluded
    at_limit = basic().replace(b"Max-Forwards", b"X-Pad: 1\r\n" * extra + b"Max-Forwards")
    assert len(parse_request(at_limit).headers) == MAX_HEADERS
    over = at_limit.replace(b"X-Pad", b"X-Pad: 1\r\nX-Pad", 1)
    error = refusal(over)
    assert error.status == 400
    assert str(MAX_HEADERS) in str(error)


def test_header_value_over_max_header_value_is_400() -> None:
    fits = parse_request(basic({"Call-ID": "c" * MAX_HEADER_VALUE}))
    assert len(fits.call_id) == MAX_HEADER_VALUE
    assert refusal(basic({"Call-ID": "c" * (MAX_HEADER_VALUE + 1)})).status == 400


def test_folded_value_over_max_header_value_is_400() -> None:
    half = "s" * (MAX_HEADER_VALUE // 2)
    data = basic().replace(b"Max-Forwards", f"Subject: {half}\r\n {half}\r\nMax-Forwards".encode())
    assert refusal(data).status == 400


def test_more_than_max_vias_is_400() -> None:
    vias = ", ".join(f"SIP/2.0/UDP h{n}.example.com" for n in range(MAX_VIAS + 1))
    assert refusal(basic({"Via": vias})).status == 400


@pytest.mark.parametrize("value", ["many", "-1", "1000", "\u0663", "\u00b2"])
def test_malformed_max_forwards_is_400(value: str) -> None:
    assert refusal(basic({"Max-Forwards": value})).status == 400


def test_max_forwards_with_leading_zeros_is_accepted() -> None:
    """RFC 4475 §3.1.1.1 sends `Max-Forwards: 0068`."""
    assert parse_request(basic({"Max-Forwards": "0068"})).headers.get("Max-Forwards") == "0068"


def test_non_utf8_head_is_400() -> None:
    data = basic({"Subject": None}).replace(b"Max-Forwards", b"Subject: caf\xe9\r\nMax-Forwards")
    assert refusal(data).status == 400


@pytest.mark.parametrize("line", ["NoColonHere", "Bad Name: x", "Bad@Name: x", ": empty"])
def test_malformed_header_line_is_400(line: str) -> None:
    data = basic().replace(b"Max-Forwards", f"{line}\r\nMax-Forwards".encode())
    assert refusal(data).status == 400


@pytest.mark.parametrize("data", [b"", b"\r\n", b"\r\n\r\n", b"   "])
def test_empty_message_is_400(data: bytes) -> None:
    assert refusal(data).status == 400


@pytest.mark.parametrize("prefix", [b"\r\n", b"\r\n\r\n", b"\r\n\r\n\r\n\r\n"])
def test_crlfs_before_the_start_line_are_ignored(prefix: bytes) -> None:
    """RFC 3261 §7.5: implementations should ignore CRLFs before the start line."""
    message = parse_request(prefix + basic())
    assert message.method == "INVITE"
    assert message.body == SDP


def test_bare_lf_line_endings_are_accepted() -> None:
    body = SDP.replace(b"\r\n", b"\n")
    data = basic({"Content-Length": str(len(body))}, body=b"").replace(b"\r\n", b"\n") + body
    message = parse_request(data)
    assert message.cseq == (1, "INVITE")
    assert message.body == body


# -- responses -------------------------------------------------------------------------------


def response_wire(status_line: str) -> bytes:
    return wire(
        status_line,
        "Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK-r",
        "From: <sip:alice@example.com>;tag=from-1",
        "To: <sip:bob@example.com>;tag=to-1",
        "Call-ID: r-1",
        "CSeq: 7 INVITE",
        "Content-Length: 0",
    )


@pytest.mark.parametrize(
    ("status_line", "status", "reason"),
    [
        ("SIP/2.0 200 OK", 200, "OK"),
        ("SIP/2.0 486 Busy Here", 486, "Busy Here"),
        ("SIP/2.0 183 Session  Progress  ", 183, "Session  Progress  "),
        ("SIP/2.0 100 ", 100, ""),
        ("SIP/2.0 100", 100, ""),
        ("SIP/2.0 699 Ünïcödé reason", 699, "Ünïcödé reason"),
    ],
)
def test_response_status_and_reason(status_line: str, status: int, reason: str) -> None:
    response = parse_response(response_wire(status_line))
    assert (response.status, response.reason) == (status, reason)
    assert response.cseq == (7, "INVITE")  # a response's CSeq method is not checked
    assert_round_trips(response)


@pytest.mark.parametrize(
    "status_line", ["SIP/2.0 20 OK", "SIP/2.0 700 Huh", "SIP/2.0 OK", "SIP/2.0  200 OK"]
)
def test_malformed_status_line_is_400(status_line: str) -> None:
    assert refusal(response_wire(status_line)).status == 400


def test_response_missing_via_is_refused() -> None:
    data = response_wire("SIP/2.0 200 OK").replace(b"Via: SIP/2.0/UDP 198.51.100.1:5060;", b"X: ")
    assert "Via" in str(refusal(data))


# -- make_response (§8.2.6) ------------------------------------------------------------------


def invite_with_route_set(to: str = "<sip:bob@example.com>") -> Request:
    return parse_request(
        wire(
            "INVITE sip:bob@example.com SIP/2.0",
            "Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bK-p",
            "Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK-a;received=192.0.2.1",
            "Record-Route: <sip:proxy.example.com;lr>",
            "Record-Route: <sip:edge.example.com;lr>",
            "Max-Forwards: 69",
            'From: "Alice" <sip:alice@example.com>;tag=from-1',
            f"To: {to}",
            "Call-ID: mr-1",
            "CSeq: 4 INVITE",
            "Contact: <sip:alice@198.51.100.1>",
            "Content-Type: application/sdp",
            "Content-Length: 150",
            body=SDP,
        )
    )


def test_make_response_copies_via_from_call_id_cseq_and_record_route() -> None:
    request = invite_with_route_set()
    response = make_response(request, 180)
    copied = ("Via", "From", "To", "Call-ID", "CSeq", "Record-Route")
    assert list(response.headers) == [(n, v) for n, v in request.headers if n in copied]
    assert (response.status, response.reason) == (180, "Ringing")
    assert response.body == b""
    for name in ("Contact", "Max-Forwards", "Content-Type"):
        assert name not in response.headers
    assert_round_trips(response)


def test_make_response_adds_the_to_tag_once() -> None:
    response = make_response(invite_with_route_set(), 200, to_tag="t-1")
    assert response.to.tag == "t-1"
    assert response.headers.get("To") == "<sip:bob@example.com>;tag=t-1"


@pytest.mark.parametrize("to", ["<sip:bob@example.com>;tag=old", "<sip:bob@example.com> ;TAG=old"])
def test_make_response_keeps_an_existing_to_tag(to: str) -> None:
    """RFC 3261 §8.2.6.2: a To that already has a tag (in a dialog) is copied unchanged."""
    response = make_response(invite_with_route_set(to), 200, to_tag="new")
    assert response.headers.get("To") == to
    assert response.to.tag == "old"


def test_make_response_without_to_tag_copies_to_unchanged() -> None:
    response = make_response(invite_with_route_set(), 100)
    assert response.to.tag is None
    assert make_response(invite_with_route_set(), 404, "Nobody Here").reason == "Nobody Here"


# -- StreamFramer (§18.3) --------------------------------------------------------------------

FIRST = basic()
SECOND = wire(
    "BYE sip:bob@example.com SIP/2.0",
    "Via: SIP/2.0/TCP 198.51.100.1:5060;branch=z9hG4bK-bye",
    "l: 5",  # compact, and not the last header
    "From: <sip:alice@example.com>;tag=from-1",
    "To: <sip:bob@example.com>;tag=to-1",
    "Call-ID: basic-1@198.51.100.1",
    "CSeq: 2 BYE",
    body=b"hello",
)


def feed_in_chunks(framer: StreamFramer, data: bytes, size: int) -> list[bytes]:
    out: list[bytes] = []
    for start in range(0, len(data), size):
        out.extend(framer.feed(data[start : start + size]))
    return out


def test_framer_reassembles_messages_fed_byte_by_byte() -> None:
    framer = StreamFramer()
    stream = FIRST + SECOND
    out: list[bytes] = []
    for index in range(len(stream)):
        done = framer.feed(stream[index : index + 1])
        out.extend(done)
        if index + 1 < len(FIRST):
            assert not done, "a message came out before its last byte"
    assert out == [FIRST, SECOND]
    assert parse_request(out[1]).body == b"hello"


@pytest.mark.parametrize("size", [2, 3, 7, 64, 1000])
def test_framer_is_independent_of_chunk_boundaries(size: int) -> None:
    assert feed_in_chunks(StreamFramer(), FIRST + SECOND + FIRST, size) == [FIRST, SECOND, FIRST]


def test_framer_splits_two_messages_in_one_chunk() -> None:
    assert StreamFramer().feed(SECOND + FIRST) == [SECOND, FIRST]


def test_framer_uses_content_length_wherever_it_is_in_the_head() -> None:
    """Regression: Content-Length on any line but the last was missed (its line ends in CR)."""
    moved = basic({"Content-Length": None}).replace(
        b"Max-Forwards", b"Content-Length: 150\r\nMax-Forwards"
    )
    assert StreamFramer().feed(moved + SECOND) == [moved, SECOND]


def test_framer_skips_crlf_keep_alives_between_messages() -> None:
    """RFC 5626 §3.5.1: a client sends CRLFCRLF pings; the server may answer with CRLF."""
    framer = StreamFramer()
    assert framer.feed(b"\r\n\r\n") == []
    assert framer.feed(b"\r\n" + SECOND + b"\r\n\r\n\r\n" + FIRST + b"\r\n") == [SECOND, FIRST]
    assert framer.feed(b"\r\n\r\n" + SECOND[:10]) == []
    assert framer.feed(SECOND[10:]) == [SECOND]


def test_framer_missing_content_length_means_empty_body() -> None:
    """RFC 3261 §18.3: over a stream a message without Content-Length has no body."""
    head_only = basic({"Content-Length": None}, body=b"")
    assert StreamFramer().feed(head_only + SECOND) == [head_only, SECOND]


def test_framer_refuses_a_head_larger_than_max_message_without_blank_line() -> None:
    framer = StreamFramer()
    framer.feed(b"INVITE sip:bob@example.com SIP/2.0\r\nX-Pad: ")
    with pytest.raises(SipParseError) as caught:
        feed_in_chunks(framer, b"a" * MAX_MESSAGE, 4096)
    assert caught.value.status == 513


def test_framer_refuses_an_oversized_head_trickled_a_byte_at_a_time() -> None:
    """The byte that takes a head without a blank line past MAX_MESSAGE is refused."""
    framer = StreamFramer()
    head = b"INVITE sip:bob@example.com SIP/2.0\r\n" + b"a" * MAX_MESSAGE
    for index in range(MAX_MESSAGE):
        assert framer.feed(head[index : index + 1]) == []
    with pytest.raises(SipParseError):
        framer.feed(head[MAX_MESSAGE : MAX_MESSAGE + 1])


def test_framer_refuses_a_content_length_past_max_message() -> None:
    data = basic({"Content-Length": str(MAX_MESSAGE)}, body=b"")
    with pytest.raises(SipParseError) as caught:
        StreamFramer().feed(data)
    assert caught.value.status == 513


def test_framer_waits_for_the_whole_body() -> None:
    framer = StreamFramer()
    assert framer.feed(FIRST[:-1]) == []
    assert framer.feed(FIRST[-1:]) == [FIRST]
