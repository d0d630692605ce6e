"""SIP URIs, name-addr values (From, To, Contact, Route) and Via values (RFC 3261 §19.1, §20).

Parsers are bounded by the message parser (a header value is at most `MAX_HEADER_VALUE` bytes)
and raise `SipSyntaxError` on anything they cannot read; nothing else escapes."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field, replace

MAX_PARAMS = 32


class SipSyntaxError(ValueError):
    """A URI or header value that does not follow the grammar; the message says which part."""


_TOKEN = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+$")
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-.]+)$")
_SCHEMES = ("sip", "sips", "tel")
# A URI never holds raw white space or control characters (§25.1): they must be %-escaped.
_UNESCAPED = re.compile(r"[\x00-\x20\x7f]")


def is_token(text: str) -> bool:
    return bool(_TOKEN.match(text))


def split_outside_quotes(text: str, separator: str) -> list[str]:
    """Split on `separator` where it is not inside a quoted string or <...>; parts stripped."""
    parts: list[str] = []
    start = 0
    quoted = False
    angle = 0
    index = 0
    while index < len(text):
        char = text[index]
        if quoted:
            if char == "\\":
                index += 1
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == "<":
            angle += 1
        elif char == ">":
            angle = max(0, angle - 1)
        elif char == separator and angle == 0:
            parts.append(text[start:index].strip())
            start = index + 1
        index += 1
    if quoted:
        raise SipSyntaxError(f"unterminated quoted string in {text[:60]!r}")
    parts.append(text[start:].strip())
    return parts


def parse_params(text: str) -> dict[str, str | None]:
    """`;name=value;flag` into a dict with lower-case names; values keep their case."""
    params: dict[str, str | None] = {}
    for part in split_outside_quotes(text, ";"):
        if not part:
            continue
        name, _, value = part.partition("=")
        name = name.strip().lower()
        if not is_token(name):
            raise SipSyntaxError(f"bad parameter name {name[:40]!r}")
        params[name] = value.strip() if "=" in part else None
        if len(params) > MAX_PARAMS:
            raise SipSyntaxError(f"more than {MAX_PARAMS} parameters")
    return params


def format_params(params: dict[str, str | None]) -> str:
    return "".join(
        f";{name}" if value is None else f";{name}={value}" for name, value in params.items()
    )


def parse_host_port(text: str) -> tuple[str, int | None]:
    """`host`, `host:port`, `[v6]` or `[v6]:port`; the host keeps IPv6 brackets off."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipSyntaxError(f"unterminated IPv6 reference {text[:60]!r}")
        host, rest = text[1:end], text[end + 1 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError as error:
            raise SipSyntaxError(f"bad IPv6 address {host[:60]!r}") from error
        if rest and not rest.startswith(":"):
            raise SipSyntaxError(f"junk after IPv6 reference in {text[:60]!r}")
        port_text = rest[1:] if rest else None
    else:
        host, _, port_text = text.partition(":")
        if ":" in port_text:
            raise SipSyntaxError(f"bad host {text[:60]!r}")
        port_text = port_text if ":" in text else None
        if not host or not _HOST.match(host):
            raise SipSyntaxError(f"bad host {text[:60]!r}")
    if port_text is None:
        return host, None
    digits = port_text.isascii() and port_text.isdigit()  # isdigit() alone accepts '²'
    if not digits or len(port_text) > 10 or not 0 < int(port_text) <= 65535:
        raise SipSyntaxError(f"bad port {port_text[:20]!r}")
    return host, int(port_text)


def format_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@dataclass(frozen=True, slots=True)
class SipUri:
    """`sip:user:password@host:port;params?headers`; `tel:` URIs keep the number in `user`."""

    scheme: str
    host: str
    user: str | None = None
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: str = ""
    password: str | None = None

    @classmethod
    def parse(cls, text: str) -> SipUri:
        text = text.strip()
        scheme, colon, rest = text.partition(":")
        scheme = scheme.lower()
        if not colon or scheme not in _SCHEMES:
            raise SipSyntaxError(f"not a sip, sips or tel URI: {text[:60]!r}")
        if _UNESCAPED.search(text):
            raise SipSyntaxError(f"white space or control character in URI {text[:60]!r}")
        if scheme == "tel":
            number, _, params = rest.partition(";")
            if not number:
                raise SipSyntaxError("empty tel URI")
            return cls("tel", "", user=number, params=parse_params(params))
        before, _, after = rest.partition("?")
        if "@" not in before and "@" in after:
            # "?" may appear in the user part (§25.1 user-unreserved; RFC 4475 §3.1.1.2)
            userinfo, _, hostpart = rest.partition("@")
            hostpart, _, headers = hostpart.partition("?")
            rest = f"{userinfo}@{hostpart}"
        else:
            rest, headers = before, after
        userinfo, at, hostpart = rest.rpartition("@")
        if not at:
            userinfo, hostpart = "", rest
        user, password = None, None
        if at:
            user, has_password, secret = userinfo.partition(":")
            password = secret if has_password else None
            if not user:
                raise SipSyntaxError(f"empty user part in {text[:60]!r}")
        hostport, _, params = hostpart.partition(";")
        host, port = parse_host_port(hostport)
        return cls(scheme, host, user, port, parse_params(params), headers, password)

    def __str__(self) -> str:
        if self.scheme == "tel":
            return f"tel:{self.user}{format_params(self.params)}"
        userinfo = ""
        if self.user is not None:
            secret = f":{self.password}" if self.password is not None else ""
            userinfo = f"{self.user}{secret}@"
        port = f":{self.port}" if self.port is not None else ""
        headers = f"?{self.headers}" if self.headers else ""
        host = format_host(self.host)
        return f"{self.scheme}:{userinfo}{host}{port}{format_params(self.params)}{headers}"

    @property
    def transport(self) -> str:
        """The transport the URI asks for (`udp` unless `;transport=` or sips says otherwise);
        a sips: URI always means TLS (its `;transport=tcp` is TLS over TCP, RFC 3261 §26.2)."""
        if self.scheme == "sips":
            return "tls"
        return (self.params.get("transport") or "udp").lower()

    @property
    def default_port(self) -> int:
        """The port when the URI names none: 5061 for TLS, else 5060 (RFC 3261 §19.1.2)."""
        return 5061 if self.transport == "tls" else 5060

    def with_params(self, **params: str | None) -> SipUri:
        return replace(self, params={**self.params, **params})


@dataclass(frozen=True, slots=True)
class Address:
    """A name-addr or addr-spec with header parameters: From, To, Contact, Route, Record-Route."""

    uri: SipUri
    display_name: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Address:
        text = text.strip()
        display: str | None = None
        if "<" in text and (not text.startswith('"') or '"' in text[1:]):
            if text.startswith('"'):
                end = _closing_quote(text)
                display = _unquote(text[: end + 1])
                text = text[end + 1 :].strip()
            start = text.find("<")
            end = text.find(">", start)
            if start < 0 or end < 0:
                raise SipSyntaxError(f"unterminated <...> in {text[:60]!r}")
            if start > 0:
                display = text[:start].strip() or None
            uri = SipUri.parse(text[start + 1 : end])
            params = parse_params(text[end + 1 :].lstrip(";")) if text[end + 1 :].strip() else {}
            return cls(uri, display, params)
        # addr-spec: parameters after the URI belong to the header, not to the URI (§20.10)
        uri_text, _, param_text = text.partition(";")
        return cls(SipUri.parse(uri_text), None, parse_params(param_text))

    def __str__(self) -> str:
        name = f'"{_escape(self.display_name)}" ' if self.display_name else ""
        return f"{name}<{self.uri}>{format_params(self.params)}"

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def with_tag(self, tag: str) -> Address:
        return replace(self, params={**self.params, "tag": tag})


@dataclass(frozen=True, slots=True)
class Via:
    """One Via hop: `SIP/2.0/UDP host:port;branch=z9hG4bK...;rport;received=...`."""

    transport: str
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Via:
        protocol, _, rest = text.strip().partition(" ")
        parts = [part.strip() for part in protocol.split("/")]
        if len(parts) != 3 or parts[0].upper() != "SIP" or parts[1] != "2.0":
            # Some stacks write "SIP / 2.0 / UDP host"; accept the spaced form too.
            match = re.match(r"^\s*SIP\s*/\s*2\.0\s*/\s*([A-Za-z]+)\s+(.*)$", text, re.I)
            if not match:
                raise SipSyntaxError(f"bad Via protocol in {text[:60]!r}")
            parts, rest = ["SIP", "2.0", match.group(1)], match.group(2)
        hostport, _, params = rest.strip().partition(";")
        host, port = parse_host_port(hostport.strip())
        return cls(parts[2].upper(), host, port, parse_params(params))

    def __str__(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return (
            f"SIP/2.0/{self.transport} {format_host(self.host)}{port}{format_params(self.params)}"
        )

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    def with_params(self, **params: str | None) -> Via:
        return replace(self, params={**self.params, **params})


def _closing_quote(text: str) -> int:
    index = 1
    while index < len(text):
        if text[index] == "\\":
            index += 2
            continue
        if text[index] == '"':
            return index
        index += 1
    raise SipSyntaxError(f"unterminated display name in {text[:60]!r}")


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
