"""SIP messages (RFC 3261 §7): parse and serialize requests and responses, bounded.

`parse_message(data)` reads one whole message (a UDP datagram, or one framed by `StreamFramer`
from TCP) and raises `SipParseError` carrying the status to answer with (400, 413, 505...).
Header names are kept in canonical form, compact forms expanded, folded lines joined."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from sip.address import Address, SipSyntaxError, SipUri, Via, split_outside_quotes

MAX_MESSAGE = 65535  # the largest UDP datagram; TCP messages are held to the same bound
MAX_HEADERS = 100
MAX_HEADER_VALUE = 4096
MAX_START_LINE = 2048
MAX_BODY = 32768
MAX_VIAS = 16
SIP_VERSION = "SIP/2.0"

COMPACT_FORMS = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}
_CANONICAL = {
    name.lower(): name
    for name in (
        *COMPACT_FORMS.values(),
        "Call-ID",
        "CSeq",
        "WWW-Authenticate",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "Authorization",
        "Authentication-Info",
        "Max-Forwards",
        "Min-Expires",
        "Min-SE",
        "Record-Route",
        "Route",
        "RSeq",
        "RAck",
        "MIME-Version",
        "Retry-After",
        "User-Agent",
        "WG67-Version",
        "X-GB-Ver",
    )
}
# Headers whose value is a comma-separated list (§7.3.1); others may contain commas freely.
LIST_HEADERS = frozenset(
    {
        "via",
        "route",
        "record-route",
        "path",
        "contact",
        "allow",
        "supported",
        "require",
        "unsupported",
        "proxy-require",
        "accept",
        "allow-events",
        "accept-encoding",
    }
)
_TOKEN = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+$")
_STATUS = re.compile(r"^SIP/2\.0 ([1-6][0-9]{2}) ?(.*)$")
_URI_SCHEMES = ("sip", "sips", "tel")


def _is_digits(text: str) -> bool:
    """ASCII DIGITs only: str.isdigit() also accepts '²' and other digits int() refuses."""
    return text.isascii() and text.isdigit()


class SipParseError(ValueError):
    """A message we cannot accept; `status` and `reason` are what to answer a request with."""

    def __init__(self, message: str, status: int = 400, reason: str = "Bad Request") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


def canonical_name(name: str) -> str:
    lower = name.lower()
    if lower in COMPACT_FORMS:
        return COMPACT_FORMS[lower]
    return _CANONICAL.get(lower) or "-".join(part.capitalize() for part in lower.split("-"))


class Headers:
    """An ordered multi-map with case-insensitive names; list headers split on access."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = [(canonical_name(n), v) for n, v in items]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def get(self, name: str) -> str | None:
        """The first value of `name` (whole line, not split), or None."""
        wanted = canonical_name(name).lower()
        for key, value in self._items:
            if key.lower() == wanted:
                return value
        return None

    def get_all(self, name: str) -> list[str]:
        """Every value of `name`; list headers are split into their elements."""
        wanted = canonical_name(name).lower()
        values: list[str] = []
        for key, value in self._items:
            if key.lower() == wanted:
                if wanted in LIST_HEADERS:
                    values.extend(part for part in split_outside_quotes(value, ",") if part)
                else:
                    values.append(value)
        return values

    def add(self, name: str, value: str) -> None:
        self._items.append((canonical_name(name), value))

    def set(self, name: str, value: str) -> None:
        """Replace every `name` header by one with `value` (kept at the first one's place)."""
        wanted = canonical_name(name)
        for index, (key, _) in enumerate(self._items):
            if key.lower() == wanted.lower():
                self._items[index] = (wanted, value)
                self._items = [
                    item
                    for position, item in enumerate(self._items)
                    if position <= index or item[0].lower() != wanted.lower()
                ]
                return
        self._items.append((wanted, value))

    def remove(self, name: str) -> None:
        wanted = canonical_name(name).lower()
        self._items = [item for item in self._items if item[0].lower() != wanted]

    def copy(self) -> Headers:
        headers = Headers()
        headers._items = list(self._items)
        return headers


@dataclass(eq=False)
class Message:
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    # -- typed views of the headers every message carries --------------------------------

    @property
    def call_id(self) -> str:
        return self.headers.get("Call-ID") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        return parse_cseq(self.headers.get("CSeq") or "")

    @property
    def vias(self) -> list[Via]:
        return [Via.parse(value) for value in self.headers.get_all("Via")]

    @property
    def top_via(self) -> Via:
        values = self.headers.get_all("Via")
        if not values:
            raise SipParseError("no Via header")
        return Via.parse(values[0])

    @property
    def from_(self) -> Address:
        return Address.parse(self.headers.get("From") or "")

    @property
    def to(self) -> Address:
        return Address.parse(self.headers.get("To") or "")

    @property
    def contacts(self) -> list[Address]:
        return [Address.parse(value) for value in self.headers.get_all("Contact") if value != "*"]

    @property
    def content_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    def _head(self) -> str:
        raise NotImplementedError

    def serialize(self) -> bytes:
        """The message on the wire; Content-Length always matches the body."""
        lines = [self._head()]
        lines.extend(f"{name}: {value}" for name, value in self.headers if name != "Content-Length")
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body

    def __bytes__(self) -> bytes:
        return self.serialize()


@dataclass(eq=False)
class Request(Message):
    method: str = "OPTIONS"
    uri: str = ""

    def _head(self) -> str:
        return f"{self.method} {self.uri} {SIP_VERSION}"

    @property
    def request_uri(self) -> SipUri:
        return SipUri.parse(self.uri)


@dataclass(eq=False)
class Response(Message):
    status: int = 200
    reason: str = "OK"

    def _head(self) -> str:
        return f"{SIP_VERSION} {self.status} {self.reason}"


def parse_cseq(value: str) -> tuple[int, str]:
    number, _, method = value.strip().partition(" ")
    method = method.strip()
    if (
        not _is_digits(number)
        or len(number) > 10
        or int(number) >= 2**31
        or not _TOKEN.match(method)
    ):
        raise SipParseError(f"bad CSeq {value[:40]!r}")
    return int(number), method


def parse_message(data: bytes) -> Request | Response:
    """Parse one message; raises SipParseError (with the status to answer) on anything bad."""
    if len(data) > MAX_MESSAGE:
        raise SipParseError("message too large", 513, "Message Too Large")
    data = data.lstrip(b"\r\n")  # RFC 3261 §7.5: ignore CRLFs before the start line
    head, separator, body = data.partition(b"\r\n\r\n")
    if not separator:
        head, separator, body = data.partition(b"\n\n")  # bare LF endings from sloppy stacks
        if not separator:
            head = data.rstrip(b"\r\n")
            body = b""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SipParseError("message head is not UTF-8") from error
    lines = text.replace("\r\n", "\n").split("\n")
    while lines and not lines[0].strip():  # RFC 3261 §7.5: ignore CRLFs before the start line
        lines.pop(0)
    if not lines:
        raise SipParseError("empty message")
    start = lines[0]
    if len(start) > MAX_START_LINE:
        raise SipParseError("start line too long", 414, "Request-URI Too Long")
    headers = Headers(_header_lines(lines[1:]))
    message = _start_line(start)
    message.headers = headers
    message.body = _body(headers, body)
    _check_mandatory(message)
    return message


def _start_line(line: str) -> Request | Response:
    if line.startswith("SIP/"):
        match = _STATUS.match(line)
        if not match:
            raise SipParseError(f"bad status line {line[:60]!r}")
        return Response(status=int(match.group(1)), reason=match.group(2))
    parts = line.split(" ")
    if len(parts) != 3:
        raise SipParseError(f"bad request line {line[:60]!r}")
    method, uri, version = parts
    if version != SIP_VERSION:
        raise SipParseError(f"unsupported version {version[:20]!r}", 505, "Version Not Supported")
    if not _TOKEN.match(method):
        raise SipParseError(f"bad method {method[:20]!r}")
    if uri.partition(":")[0].lower() not in _URI_SCHEMES:
        raise SipParseError(f"unsupported Request-URI {uri[:60]!r}", 416, "Unsupported URI Scheme")
    try:
        SipUri.parse(uri)
    except SipSyntaxError as error:
        raise SipParseError(f"bad Request-URI: {error}") from error
    return Request(method=method, uri=uri)


def _header_lines(lines: list[str]) -> Iterator[tuple[str, str]]:
    joined: list[str] = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            if not joined:
                raise SipParseError("folded line before the first header")
            joined[-1] += " " + line.strip()  # RFC 3261 §7.3.1 folding
        elif line:
            joined.append(line)
        if len(joined) > MAX_HEADERS:
            raise SipParseError(f"more than {MAX_HEADERS} header lines")
    for line in joined:
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not _TOKEN.match(name):
            raise SipParseError(f"bad header line {line[:60]!r}")
        value = value.strip()
        if len(value) > MAX_HEADER_VALUE:
            raise SipParseError(f"{name} header too long")
        yield name, value


def _body(headers: Headers, rest: bytes) -> bytes:
    length_text = headers.get("Content-Length")
    if length_text is None:
        if len(rest) > MAX_BODY:
            raise SipParseError("body too large", 413, "Request Entity Too Large")
        return rest  # UDP: the datagram's remainder is the body (§18.3)
    if not _is_digits(length_text) or len(length_text) > 9:
        raise SipParseError(f"bad Content-Length {length_text[:20]!r}")
    length = int(length_text)
    if length > MAX_BODY:
        raise SipParseError("body too large", 413, "Request Entity Too Large")
    if length > len(rest):
        raise SipParseError("body shorter than Content-Length")
    return rest[:length]


def _check_mandatory(message: Request | Response) -> None:
    headers = message.headers
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        if not headers.get(name):
            raise SipParseError(f"missing mandatory {name} header")
    number, method = parse_cseq(headers.get("CSeq") or "")
    if isinstance(message, Request) and method != message.method:
        raise SipParseError("CSeq method does not match the request")
    try:
        vias = message.vias
        message.from_, message.to  # noqa: B018 - parsed only to reject bad syntax early
        for name, value in headers:  # so that get_all() cannot fail on an accepted message
            if name.lower() in LIST_HEADERS:
                split_outside_quotes(value, ",")
    except SipSyntaxError as error:
        raise SipParseError(str(error)) from error
    if len(vias) > MAX_VIAS:
        raise SipParseError(f"more than {MAX_VIAS} Via hops")
    forwards = headers.get("Max-Forwards")
    # Leading zeros are allowed (RFC 4475 §3.1.1.1 sends "0068").
    if forwards is not None and (not _is_digits(forwards) or len(forwards.lstrip("0")) > 3):
        raise SipParseError(f"bad Max-Forwards {forwards[:20]!r}")


class StreamFramer:
    """Cuts a TCP byte stream into messages by Content-Length (RFC 3261 §18.3).

    `feed(data)` returns the complete messages' bytes; raises SipParseError when the peer
    breaks framing (the connection must then be closed: there is no way to resynchronise)."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._scanned = 0  # bytes at the buffer's start already searched for the blank line
        self._total: int | None = None  # the current message's length, once its head is in

    @property
    def pending(self) -> bool:
        """Whether part of a message is buffered, waiting for the rest."""
        return bool(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        messages: list[bytes] = []
        while True:
            if self._total is None:
                self._total = self._head_and_body_length()
                if self._total is None:
                    return messages
            if len(self._buffer) < self._total:
                return messages
            messages.append(bytes(self._buffer[: self._total]))
            del self._buffer[: self._total]
            self._total, self._scanned = None, 0

    def _head_and_body_length(self) -> int | None:
        """The whole message's length once its head is complete; None while it is not.

        Only the bytes that arrived since the last call are searched, so a peer trickling a
        large head a byte at a time costs linear, not quadratic, time."""
        if bytes(self._buffer[:1]) in (b"\r", b"\n"):  # CRLF keep-alives between messages
            del self._buffer[: len(self._buffer) - len(self._buffer.lstrip(b"\r\n"))]
            self._scanned = 0
        end = self._buffer.find(b"\r\n\r\n", max(0, self._scanned - 3))
        if end < 0:
            if len(self._buffer) > MAX_MESSAGE:
                raise SipParseError("message head too large", 513, "Message Too Large")
            self._scanned = len(self._buffer)
            return None
        total = end + 4 + _stream_content_length(bytes(self._buffer[:end]))
        if total > MAX_MESSAGE:
            raise SipParseError("message too large", 513, "Message Too Large")
        return total


# `\r?$`: every head line but the last ends in CRLF, and `$` matches only before the LF.
_LENGTH = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*([0-9]{1,9})[ \t]*\r?$", re.I | re.M)


def _stream_content_length(head: bytes) -> int:
    match = _LENGTH.search(head)
    return int(match.group(1)) if match else 0  # §18.3: over a stream a missing length means 0


REASONS = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    422: "Session Interval Too Small",
    423: "Interval Too Brief",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    491: "Request Pending",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    603: "Decline",
}


def make_response(
    request: Request, status: int, reason: str | None = None, *, to_tag: str | None = None
) -> Response:
    """A response to `request` (§8.2.6): Via, From, Call-ID, CSeq copied; To tagged if asked.

    Record-Route is copied too, so a 2xx to a dialog-creating request keeps the route set."""
    headers = Headers()
    for name, value in request.headers:
        if name in ("Via", "From", "Call-ID", "CSeq", "Record-Route"):
            headers.add(name, value)
        elif name == "To":
            if to_tag is not None and ";tag=" not in value.replace(" ", "").lower():
                value = f"{value};tag={to_tag}"
            headers.add(name, value)
    return Response(headers, b"", status, reason or REASONS.get(status, "Unknown"))
