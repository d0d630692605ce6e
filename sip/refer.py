"""Call transfer on the wire: Refer-To (RFC 3515 §2.1), Replaces (RFC 3891 §6) and the
message/sipfrag bodies of the NOTIFYs that report a transfer's progress (RFC 3515 §2.4.5).

Pure parsers and builders; every one is bounded by the message parser's header limit and raises
`ReferError` (a ValueError) on what it cannot read, with the SIP status to answer."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

from sip.address import Address, SipSyntaxError, SipUri, parse_params

MAX_URI_HEADERS = 8  # ?a=b&c=d pairs in a Refer-To URI
MAX_SIPFRAG = 1024  # bytes of a sipfrag body we read: its status line is all we need
_STATUS_LINE = re.compile(r"^SIP/2\.0 ([1-6][0-9][0-9])(?: ([^\r\n]{0,200}))?$")
# Refer-To URI headers that may travel into the INVITE (RFC 3515 §2.1); others are dropped:
# a Refer-To must not make us send a Via, a Route or a body of the referrer's choosing.
_PASSED_HEADERS = frozenset({"replaces", "require", "accept-contact"})


class ReferError(ValueError):
    """A REFER we cannot act on; `status` is the SIP answer (400 malformed, 403 refused...)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Replaces:
    """The dialog a Replaces names, from the point of view of the UA receiving it: `to_tag`
    is that UA's own (local) tag, `from_tag` the other end's (RFC 3891 §6.1)."""

    call_id: str
    to_tag: str
    from_tag: str
    early_only: bool = False

    @classmethod
    def parse(cls, text: str) -> Replaces:
        """`callid;to-tag=a;from-tag=b[;early-only]`. Raises ReferError."""
        call_id, _, rest = text.strip().partition(";")
        call_id = call_id.strip()
        if not call_id or len(call_id) > 256 or any(c.isspace() for c in call_id):
            raise ReferError("Replaces has no usable Call-ID")
        try:
            params = parse_params(rest)
        except SipSyntaxError as error:
            raise ReferError(f"bad Replaces parameters: {error}") from None
        to_tag, from_tag = params.get("to-tag"), params.get("from-tag")
        if not to_tag or not from_tag:
            raise ReferError("Replaces needs a to-tag and a from-tag")
        return cls(call_id, to_tag, from_tag, "early-only" in params)

    def __str__(self) -> str:
        early = ";early-only" if self.early_only else ""
        return f"{self.call_id};to-tag={self.to_tag};from-tag={self.from_tag}{early}"

    def reversed(self) -> Replaces:
        """The same dialog seen from its other end (our to-tag is the peer's from-tag)."""
        return Replaces(self.call_id, self.from_tag, self.to_tag, self.early_only)


@dataclass(frozen=True, slots=True)
class ReferTarget:
    """Where a REFER sends us: the URI to call (its `?headers` taken off) and what they said."""

    uri: SipUri
    display_name: str | None
    replaces: Replaces | None
    headers: tuple[tuple[str, str], ...]  # the URI headers we pass into the INVITE

    @classmethod
    def parse(cls, value: str) -> ReferTarget:
        """A Refer-To value (name-addr or addr-spec). Raises ReferError: 400 when malformed,
        416 when it is not a SIP URI (we place no tel:, http: or other calls from a REFER)."""
        try:
            address = Address.parse(value)
        except SipSyntaxError as error:
            if value.strip().lstrip("<").split(":", 1)[0].lower() not in ("sip", "sips", "tel"):
                raise ReferError(f"Refer-To is not a SIP URI: {error}", 416) from None
            raise ReferError(f"bad Refer-To: {error}") from None
        uri = address.uri
        if uri.scheme not in ("sip", "sips"):
            raise ReferError("Refer-To is not a sip: or sips: URI", 416)
        if uri.params.get("method", "INVITE") != "INVITE":
            raise ReferError("only INVITE may be referred", 403)
        pairs = _uri_headers(uri.headers)
        replaces: Replaces | None = None
        passed: list[tuple[str, str]] = []
        for name, text in pairs:
            if name.lower() == "replaces":
                if replaces is not None:
                    raise ReferError("more than one Replaces in Refer-To")
                replaces = Replaces.parse(text)
            elif name.lower() in _PASSED_HEADERS:
                passed.append((name, text))
        bare = SipUri(uri.scheme, uri.host, uri.user, uri.port, dict(uri.params), "", None)
        return cls(bare, address.display_name or None, replaces, tuple(passed))

    def __str__(self) -> str:
        pairs = list(self.headers)
        if self.replaces is not None:
            pairs.insert(0, ("Replaces", str(self.replaces)))
        headers = "&".join(f"{name}={quote(text, safe='')}" for name, text in pairs)
        uri = SipUri(
            self.uri.scheme, self.uri.host, self.uri.user, self.uri.port, self.uri.params, headers
        )
        return str(Address(uri, self.display_name))


def _uri_headers(text: str) -> list[tuple[str, str]]:
    """`a=b&c=d` of a URI, %-decoded (RFC 3261 §19.1.1). Raises ReferError."""
    if not text:
        return []
    parts = text.split("&")
    if len(parts) > MAX_URI_HEADERS:
        raise ReferError(f"more than {MAX_URI_HEADERS} headers in the Refer-To URI")
    pairs = []
    for part in parts:
        name, equals, raw = part.partition("=")
        if not equals or not re.fullmatch(r"[A-Za-z0-9\-.!%*_+`'~]{1,64}", name):
            raise ReferError(f"bad header {part[:40]!r} in the Refer-To URI")
        text_value = unquote(raw, errors="strict") if "%" in raw else raw
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text_value):
            raise ReferError("control character in a Refer-To URI header")
        pairs.append((name, text_value))
    return pairs


def refer_target(values: list[str]) -> ReferTarget:
    """The one Refer-To of a REFER (RFC 3515 §2.4.1: exactly one). Raises ReferError."""
    if len(values) != 1:
        raise ReferError("a REFER needs exactly one Refer-To")
    try:
        return ReferTarget.parse(values[0])
    except UnicodeDecodeError:
        raise ReferError("Refer-To URI headers are not UTF-8") from None


def sipfrag(status: int, reason: str) -> bytes:
    """The message/sipfrag body reporting `status` (RFC 3515 §2.4.5)."""
    return f"SIP/2.0 {status} {reason}\r\n".encode()


def parse_sipfrag(body: bytes) -> tuple[int, str]:
    """(status, reason) of a sipfrag's status line; further lines are ignored. Raises
    ReferError."""
    head = body[:MAX_SIPFRAG].decode("utf-8", "replace")
    line = head.split("\n", 1)[0].rstrip("\r").strip()
    match = _STATUS_LINE.match(line)
    if match is None:
        raise ReferError(f"not a sipfrag status line: {line[:60]!r}")
    return int(match.group(1)), (match.group(2) or "").strip()


def event_id(value: str | None) -> str | None:
    """The `id` of an `Event: refer;id=N` header ("" for a plain `refer`, RFC 3515 §2.4.6),
    or None when it is not a refer event. Raises ReferError when the header is malformed."""
    if value is None:
        return None
    package, _, params = value.strip().partition(";")
    if package.strip().lower() != "refer":
        return None
    try:
        parsed = parse_params(params)
    except SipSyntaxError as error:
        raise ReferError(f"bad Event header: {error}") from None
    return parsed.get("id") or ""


def subscription_terminated(value: str | None) -> bool:
    """Whether a Subscription-State says the subscription is over (RFC 6665 §8.2.3)."""
    return (value or "").strip().lower().startswith("terminated")
