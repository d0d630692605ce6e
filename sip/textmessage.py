"""Instant messages (RFC 3428) as data: the text an incoming MESSAGE may carry, the MESSAGE we
send, and what a MESSAGE's final response means for its delivery.

Pure: no sockets, no clock. `sip.pager` does the I/O around it."""

from __future__ import annotations

from dataclasses import dataclass

from sip.address import Address, parse_params
from sip.dialog import MAX_FORWARDS
from sip.message import Headers, Request, Response

TEXT_PLAIN = "text/plain"
DEFAULT_MAX_CHARS = 1000
_CHARSETS = frozenset({"utf-8", "utf8", "us-ascii"})
_ALLOWED_CONTROLS = frozenset("\t\n\r")


class TextRefused(ValueError):
    """An incoming MESSAGE whose body we do not take; answer it with `status` and `reason`
    (415 adds `Accept: text/plain`)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def check_text(text: str, max_chars: int) -> str:
    """`text` if it may be sent or shown: not empty, at most `max_chars` characters, no
    control characters but tab and line breaks. Raises TextRefused (400, 413)."""
    if not text.strip():
        raise TextRefused(400, "Empty Message")
    if len(text) > max_chars:
        raise TextRefused(413, f"Message Too Long (over {max_chars} characters)")
    if any(ord(ch) < 32 and ch not in _ALLOWED_CONTROLS or ord(ch) == 127 for ch in text):
        raise TextRefused(400, "Control Character In Message")
    return text


def read_text(request: Request, max_chars: int) -> str:
    """The text an incoming MESSAGE carries: `text/plain` in UTF-8 (or ASCII), not encoded,
    not empty, at most `max_chars` characters.

    Raises TextRefused: 415 for another type, charset or a Content-Encoding; 400 for an empty
    body or one that is not UTF-8; 413 for a text that is too long."""
    value = request.headers.get("Content-Type") or ""
    media_type, _, params = value.partition(";")
    if request.body and media_type.strip().lower() != TEXT_PLAIN:
        raise TextRefused(415, "Unsupported Media Type (text/plain only)")
    try:
        charset = (parse_params(params).get("charset") or "utf-8").strip('"').lower()
    except ValueError:
        raise TextRefused(400, "Bad Content-Type") from None
    if charset not in _CHARSETS:
        raise TextRefused(415, "Unsupported Charset (UTF-8 only)")
    encoding = (request.headers.get("Content-Encoding") or "identity").strip().lower()
    if encoding != "identity":
        raise TextRefused(415, "Unsupported Content-Encoding")
    if len(request.body) > 4 * max_chars:  # more bytes than any allowed text has
        raise TextRefused(413, f"Message Too Long (over {max_chars} characters)")
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError:
        raise TextRefused(400, "Body Is Not UTF-8") from None
    return check_text(text, max_chars)


def message_request(
    *,
    request_uri: str,
    from_: Address,
    to: Address,
    call_id: str,
    cseq: int,
    via: str,
    text: str,
    extra: tuple[tuple[str, str], ...] = (),
) -> Request:
    """An out-of-dialog MESSAGE (RFC 3428 §4) carrying `text` as text/plain in UTF-8. `from_`
    carries its tag; `extra` headers (User-Agent, credentials) come last."""
    headers = Headers(
        [
            ("Via", via),
            ("Max-Forwards", MAX_FORWARDS),
            ("From", str(from_)),
            ("To", str(to)),
            ("Call-ID", call_id),
            ("CSeq", f"{cseq} MESSAGE"),
            ("Content-Type", "text/plain;charset=UTF-8"),
            *extra,
        ]
    )
    return Request(headers, text.encode("utf-8"), "MESSAGE", request_uri)


@dataclass(frozen=True, slots=True)
class Delivery:
    """What became of one MESSAGE we sent: "delivered" (a 2xx) or "failed", with the code
    and reason of the final response (408 when none came)."""

    status: str
    code: int
    reason: str

    @classmethod
    def of(cls, response: Response) -> Delivery:
        delivered = 200 <= response.status < 300
        return cls("delivered" if delivered else "failed", response.status, response.reason)

    @classmethod
    def failed(cls, code: int, reason: str) -> Delivery:
        return cls("failed", code, reason)
