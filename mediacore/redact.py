"""Secrets kept out of what the API shows and the log says: URL credentials, RTMP stream keys,
SRT passphrases and tokens carried in URL queries.

`redact_url` is what a non-admin sees of a source's or a wall output's URL; `scrub` cleans any
text (a log line, an FFmpeg message) of the same secrets wherever they appear in it."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
# Query keys whose values are settings, not secrets: shown as they are.
PLAIN_QUERY_KEYS = frozenset(
    {"latency", "rcvlatency", "peerlatency", "mode", "transtype", "pkt_size", "maxbw",
     "timeout", "start", "end", "transport", "tcp"}
)  # fmt: skip
_STREAM_KEY_SCHEMES = ("rtmp", "rtmps", "rtmpt", "rtmpe")

# scheme://user:password@ -> scheme://***@
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@\"'<>]+@")
# rtmp://host/app/<stream key>
_STREAM_KEY = re.compile(r"(?P<head>\brtmp[set]?://[^/\s\"'<>]+/[^/\s\"'<>?]+/)[^\s\"'<>?&]+")
# ?token=... &passphrase=... (and the like): the value goes
_QUERY_SECRET = re.compile(
    r"(?P<key>[?&](?:token|access_token|passphrase|streamid|key|password|passwd|pass|secret"
    r"|auth|sig|signature|credential)=)[^&\s\"'<>]+",
    re.IGNORECASE,
)


def redact_url(url: str) -> str:
    """`url` without user and password, with the RTMP stream key (every path segment after
    the application) and every query value but plain settings (latency, mode...) masked.
    A URL that does not parse is masked whole but for its scheme."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return f"{url.partition(':')[0]}:{MASK}" if ":" in url else MASK
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    if parts.username is not None or parts.password is not None:
        netloc = f"{MASK}@{netloc}"
    path = parts.path
    if parts.scheme.lower() in _STREAM_KEY_SCHEMES:
        segments = path.split("/")
        if len(segments) > 2:  # "", application, stream key...
            path = "/".join([*segments[:2], MASK])
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(key, value if key.lower() in PLAIN_QUERY_KEYS else MASK) for key, value in pairs],
            safe="*",
        )
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def scrub(text: str) -> str:
    """`text` with URL credentials, RTMP stream keys and secret query values masked wherever
    they appear (for log lines, which may quote URLs or FFmpeg's messages about them)."""
    if "://" not in text and "=" not in text:
        return text
    text = _USERINFO.sub(rf"\g<scheme>{MASK}@", text)
    text = _STREAM_KEY.sub(rf"\g<head>{MASK}", text)
    return _QUERY_SECRET.sub(rf"\g<key>{MASK}", text)
