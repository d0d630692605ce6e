"""SIP URIs, name-addr/addr-spec values and Via values (RFC 3261 §19.1, §20.10, §20.42)."""

from __future__ import annotations

import pytest

from sip.address import (
    MAX_PARAMS,
    Address,
    SipSyntaxError,
    SipUri,
    Via,
    parse_params,
    split_outside_quotes,
)

# -- SipUri --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "sip:alice@example.com",
        "sip:example.com",
        "sip:alice:secret@example.com:5070",
        "sips:bob@192.0.2.1:5061",
        "sip:alice@[2001:db8::1]:5060",
        "sip:[2001:db8::1]",
        "sip:alice@example.com;transport=tcp;lr",
        "sip:proxy.example.com;lr",
        "sip:alice@example.com?subject=x&priority=urgent",
        "sip:+15551234567@gw.example.com;user=phone",
        "sip:user;par=u%40example.net@example.com",
        "sip:%61lice@example.com",
        "tel:+1-201-555-0123",
        "tel:7042;phone-context=example.com",
    ],
)
def test_uri_string_round_trips(text: str) -> None:
    uri = SipUri.parse(text)
    assert str(uri) == text
    assert SipUri.parse(str(uri)) == uri


def test_uri_parts() -> None:
    """RFC 3261 §19.1.1: sip:user:password@host:port;uri-parameters?headers."""
    uri = SipUri.parse("sip:alice:secret@example.com:5070;transport=TCP;lr;Maddr=X?subject=x")
    assert uri.scheme == "sip"
    assert (uri.user, uri.password) == ("alice", "secret")
    assert (uri.host, uri.port) == ("example.com", 5070)
    assert uri.params == {"transport": "TCP", "lr": None, "maddr": "X"}  # names lower-cased
    assert uri.headers == "subject=x"
    assert uri.transport == "tcp"


def test_uri_without_user_or_port() -> None:
    uri = SipUri.parse("sip:192.0.2.10")
    assert (uri.user, uri.password, uri.host, uri.port) == (None, None, "192.0.2.10", None)


def test_uri_scheme_is_case_insensitive() -> None:
    """RFC 3261 §19.1.4: the scheme compares case-insensitively."""
    assert SipUri.parse("SIP:alice@example.com").scheme == "sip"
    assert SipUri.parse("  sips:alice@example.com  ").scheme == "sips"


def test_ipv6_host_is_kept_without_brackets() -> None:
    uri = SipUri.parse("sip:alice@[2001:db8::1]:5060;transport=udp")
    assert (uri.host, uri.port) == ("2001:db8::1", 5060)
    assert str(uri) == "sip:alice@[2001:db8::1]:5060;transport=udp"


@pytest.mark.parametrize(
    ("text", "transport"),
    [
        ("sip:alice@example.com", "udp"),
        ("sips:alice@example.com", "tls"),
        ("sip:alice@example.com;transport=tcp", "tcp"),
        ("sip:alice@example.com;transport=TCP", "tcp"),
        # A sips: URI is TLS whatever it says: ;transport=tcp is TLS over TCP (RFC 5630 §3.2)
        ("sips:alice@example.com;transport=tcp", "tls"),
        ("sip:alice@example.com;transport=tls", "tls"),
    ],
)
def test_uri_transport_defaults_to_udp_or_tls_for_sips(text: str, transport: str) -> None:
    """RFC 3263 §4.1: no transport parameter means UDP for sip:, TLS (over TCP) for sips:;
    a TLS URI that names no port means 5061."""
    assert SipUri.parse(text).transport == transport
    assert SipUri.parse(text).default_port == (5061 if transport == "tls" else 5060)


def test_tel_uri_keeps_the_number_in_user() -> None:
    """RFC 3966 tel: URIs, allowed where a SIP URI is."""
    uri = SipUri.parse("tel:+1-201-555-0123;phone-context=example.com")
    assert (uri.scheme, uri.user, uri.host) == ("tel", "+1-201-555-0123", "")
    assert uri.params == {"phone-context": "example.com"}


def test_question_mark_in_user_part() -> None:
    """RFC 3261 §25.1 user-unreserved includes `?` (RFC 4475 §3.1.1.2 uses it)."""
    uri = SipUri.parse("sip:crazy?,/;;*:pass@example.com?subject=x")
    assert (uri.user, uri.password, uri.host) == ("crazy?,/;;*", "pass", "example.com")
    assert uri.headers == "subject=x"
    assert SipUri.parse(str(uri)) == uri


def test_uri_with_params_adds_or_replaces() -> None:
    uri = SipUri.parse("sip:alice@example.com;transport=udp")
    changed = uri.with_params(transport="tcp", lr=None)
    assert str(changed) == "sip:alice@example.com;transport=tcp;lr"
    assert uri.params == {"transport": "udp"}  # frozen: the original is unchanged


@pytest.mark.parametrize(
    "text",
    [
        "",
        "alice@example.com",
        "http://example.com/",
        "mailto:alice@example.com",
        "sip:",
        "sip:alice@",
        "sip:@example.com",
        "sip::secret@example.com",
        "sip:alice@exa mple.com",
        "sip:alice@ho_st.example.com",
        "sip:alice@host:0",
        "sip:alice@host:65536",
        "sip:alice@host:port",
        "sip:alice@host:",
        "sip:alice@host:1:2",
        "sip:alice@host:\u00b2",
        "sip:alice@host:\u0665\u0660\u0666\u0660",
        "sip:alice@host:" + "5" * 5000,
        "sip:[::1",
        "sip:[not-an-address]",
        "sip:[::1]x",
        "sip:[::1]:70000",
        "sip:alice@example.com;=value",
        "sip:alice@example.com;bad name=1",
        "sip:bob\r\nX-Injected: 1@example.com",
        "sip:bob\x00@example.com",
        "tel:",
    ],
)
def test_malformed_uri_raises_sip_syntax_error(text: str) -> None:
    with pytest.raises(SipSyntaxError):
        SipUri.parse(text)


def test_too_many_uri_params_raise() -> None:
    params = "".join(f";p{n}=1" for n in range(MAX_PARAMS + 1))
    with pytest.raises(SipSyntaxError):
        SipUri.parse(f"sip:alice@example.com{params}")
    assert len(SipUri.parse(f"sip:a@b{params[: params.rfind(';')]}").params) == MAX_PARAMS


# -- Address (name-addr / addr-spec) ---------------------------------------------------------


def test_quoted_display_name_and_tag() -> None:
    address = Address.parse('"Alice Smith" <sip:alice@example.com>;tag=1928301774')
    assert address.display_name == "Alice Smith"
    assert address.uri == SipUri.parse("sip:alice@example.com")
    assert address.tag == "1928301774"


def test_unquoted_display_name() -> None:
    """RFC 3261 §25.1 display-name = *(token LWS) / quoted-string."""
    address = Address.parse("Alice Smith <sip:alice@example.com>")
    assert address.display_name == "Alice Smith"
    assert address.tag is None


def test_escaped_quotes_and_backslashes_in_display_name() -> None:
    """RFC 3261 §25.1 quoted-pair: `\\"` is a quote, `\\\\` a backslash."""
    address = Address.parse(r'"A \"quoted\" name \\ here" <sip:a@example.com>')
    assert address.display_name == 'A "quoted" name \\ here'
    assert Address.parse(str(address)) == address


def test_special_characters_inside_quoted_display_name() -> None:
    address = Address.parse('"Smith, John <boss>; tag=no" <sip:john@example.com>;tag=yes')
    assert address.display_name == "Smith, John <boss>; tag=no"
    assert address.uri.user == "john"
    assert address.tag == "yes"


def test_addr_spec_parameters_belong_to_the_header() -> None:
    """RFC 3261 §20.10: without <>, parameters after the URI are header parameters."""
    address = Address.parse("sip:alice@example.com;tag=1")
    assert address.tag == "1"
    assert address.uri.params == {}
    assert address.display_name is None


def test_name_addr_keeps_uri_params_inside_brackets() -> None:
    address = Address.parse("<sip:alice@example.com;transport=tcp>;tag=1;expires=60")
    assert address.uri.params == {"transport": "tcp"}
    assert address.params == {"tag": "1", "expires": "60"}


def test_address_with_tag_returns_a_tagged_copy() -> None:
    address = Address.parse("<sip:bob@example.com>")
    tagged = address.with_tag("abc")
    assert tagged.tag == "abc"
    assert address.tag is None
    assert str(tagged) == "<sip:bob@example.com>;tag=abc"
    assert tagged.with_tag("def").tag == "def"


@pytest.mark.parametrize(
    "text",
    [
        '"Alice" <sip:alice@example.com>;tag=1',
        "<sip:alice@example.com;lr>",
        "<sips:bob@[2001:db8::1]:5061>;expires=3600;q=0.5",
        '"quote \\" and \\\\" <tel:+15551234>',
    ],
)
def test_address_string_round_trips(text: str) -> None:
    address = Address.parse(text)
    assert Address.parse(str(address)) == address


@pytest.mark.parametrize(
    "text",
    [
        "",
        "<sip:alice@example.com",
        '"unterminated <sip:alice@example.com>',
        "Alice <http://example.com>",
        "<>",
        "<sip:alice@example.com>;bad name=1",
        '"Alice" sip:alice@example.com',
    ],
)
def test_malformed_address_raises_sip_syntax_error(text: str) -> None:
    with pytest.raises(SipSyntaxError):
        Address.parse(text)


# -- Via -------------------------------------------------------------------------------------


def test_via_parts() -> None:
    """RFC 3261 §20.42: sent-protocol sent-by *(; via-params)."""
    via = Via.parse("SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK776asdhds;rport")
    assert (via.transport, via.host, via.port) == ("UDP", "198.51.100.1", 5060)
    assert via.branch == "z9hG4bK776asdhds"
    assert via.params == {"branch": "z9hG4bK776asdhds", "rport": None}


def test_via_received_and_rport_values() -> None:
    """RFC 3581 §4: a server fills in received and the rport value."""
    via = Via.parse("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;received=192.0.2.1;rport=5062")
    assert via.params["received"] == "192.0.2.1"
    assert via.params["rport"] == "5062"


def test_via_with_params_stamps_received() -> None:
    via = Via.parse("SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1;rport")
    stamped = via.with_params(received="192.0.2.1", rport="5062")
    assert str(stamped) == "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1;rport=5062;received=192.0.2.1"
    assert via.params["rport"] is None


@pytest.mark.parametrize(
    "text",
    [
        "SIP / 2.0 / UDP 192.0.2.2;branch=390skdjuw",
        "SIP  /   2.0 /UDP    192.0.2.2;branch=390skdjuw",
        "sip/2.0/udp 192.0.2.2;branch=390skdjuw",
        "SIP/2.0/UDP 192.0.2.2 ; branch = 390skdjuw",
    ],
)
def test_via_with_unusual_spacing_and_case(text: str) -> None:
    """RFC 3261 §7.3.1: LWS is allowed around `/`; RFC 4475 §3.1.1.1 uses it."""
    via = Via.parse(text)
    assert (via.transport, via.host, via.port, via.branch) == (
        "UDP",
        "192.0.2.2",
        None,
        "390skdjuw",
    )


def test_ipv6_via() -> None:
    via = Via.parse("SIP/2.0/TCP [2001:db8::9]:5060;branch=z9hG4bK1")
    assert (via.transport, via.host, via.port) == ("TCP", "2001:db8::9", 5060)
    assert str(via) == "SIP/2.0/TCP [2001:db8::9]:5060;branch=z9hG4bK1"


@pytest.mark.parametrize(
    "text",
    [
        "SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK1;rport",
        "SIP/2.0/TLS example.com;branch=z9hG4bK2;received=192.0.2.1",
        "SIP/2.0/WSS [::1];branch=z9hG4bK3",
    ],
)
def test_via_string_round_trips(text: str) -> None:
    via = Via.parse(text)
    assert str(via) == text
    assert Via.parse(str(via)) == via


@pytest.mark.parametrize(
    "text",
    [
        "",
        "SIP/2.0 198.51.100.1",
        "SIP/1.0/UDP 198.51.100.1",
        "HTTP/2.0/UDP 198.51.100.1",
        "SIP/2.0/UDP",
        "SIP/2.0/UDP ;branch=z9hG4bK1",
        "SIP/2.0/UDP host:99999",
        "SIP/2.0/UDP host:\u00b2",
        "SIP/2.0/UDP [::1",
        "SIP/2.0/UDP bad_host",
        "SIP/2.0/UDP host;bad name=1",
    ],
)
def test_malformed_via_raises_sip_syntax_error(text: str) -> None:
    with pytest.raises(SipSyntaxError):
        Via.parse(text)


# -- split_outside_quotes and parse_params ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("a, b ,c", ["a", "b", "c"]),
        ("a,,b", ["a", "", "b"]),
        ('"Smith, John" <sip:j@x>, <sip:k@y>', ['"Smith, John" <sip:j@x>', "<sip:k@y>"]),
        ("<sip:a@b;x=1,2>, c", ["<sip:a@b;x=1,2>", "c"]),
        (r'"a \", b", c', [r'"a \", b"', "c"]),
        (r'"a \\", b', [r'"a \\"', "b"]),
        ('"<", >, x', ['"<"', ">", "x"]),
        ("", [""]),
    ],
)
def test_split_outside_quotes_and_angle_brackets(text: str, parts: list[str]) -> None:
    assert split_outside_quotes(text, ",") == parts


@pytest.mark.parametrize("text", ['"unterminated, a', r'"escaped at end\"', 'a, "b'])
def test_split_outside_quotes_refuses_unterminated_quotes(text: str) -> None:
    with pytest.raises(SipSyntaxError):
        split_outside_quotes(text, ",")


def test_parse_params_lower_cases_names_and_keeps_value_case() -> None:
    params = parse_params(';lr;Transport=TCP; MADDR = Host.Example ;q="a;b"')
    assert params == {"lr": None, "transport": "TCP", "maddr": "Host.Example", "q": '"a;b"'}


def test_parse_params_empty_value_differs_from_no_value() -> None:
    assert parse_params("a=;b") == {"a": "", "b": None}
