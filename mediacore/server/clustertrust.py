"""The mark of a request one node forwards to another: `X-Mediacore-Forwarded`.

A node serves a request carrying the mark as it is, never forwarding it again (so forwarding
cannot loop), and lists only its own rooms for it. Only nodes may send it: the mark is an
HMAC-SHA256, under the cluster's secret (`mc:secret:forward`, made once with SET NX), of the
sending node, the time, the method and the request target, and it is good for `WINDOW_MS`.
A client that sends a mark it did not get from a node is refused (403). Sans-I/O: the secret
and the clock are given."""

from __future__ import annotations

import hashlib
import hmac

HEADER = "x-mediacore-forwarded"
WINDOW_MS = 30_000


def _mac(secret: bytes, node: str, at_ms: int, method: str, target: str) -> str:
    text = f"{node}\n{at_ms}\n{method.upper()}\n{target}".encode()
    return hmac.new(secret, text, hashlib.sha256).hexdigest()


def mark(secret: bytes, node: str, at_ms: int, method: str, target: str) -> str:
    """The header's value for a request `node` forwards at `at_ms` (Unix milliseconds)."""
    return f"{node};{at_ms};{_mac(secret, node, at_ms, method, target)}"


def verify(secret: bytes, value: str, method: str, target: str, now_ms: float) -> str | None:
    """The node that sent the request, or None when the mark is forged, garbled or stale."""
    node, _, rest = value.partition(";")
    at, _, mac = rest.partition(";")
    if not node or not (at.isascii() and at.isdigit()) or abs(now_ms - int(at)) > WINDOW_MS:
        return None  # (isdigit alone takes "²", which int() refuses)
    expected = _mac(secret, node, int(at), method, target).encode()
    # Compared as bytes: compare_digest refuses str with non-ASCII characters (a forged mark).
    return node if hmac.compare_digest(expected, mac.encode("utf-8", "replace")) else None
