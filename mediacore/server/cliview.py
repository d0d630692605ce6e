"""`mediacore calls` and `mediacore registrations`: a terminal view of a running server's SIP.

Reads the HTTP API (stdlib only, so the command works wherever the server is installed)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8080"


def fetch(url: str, token: str, path: str, body: Any = None) -> Any:
    """GET `path` from the API (POST `body` as JSON when given); raises RuntimeError with the
    server's message on failure."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url.rstrip("/") + path, data=data)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        detail = error.read().decode("utf-8", "replace")[:200]
        raise RuntimeError(f"{error.code} from {path}: {detail}") from None
    except OSError as error:
        raise RuntimeError(f"cannot reach {url}: {error}") from None


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True))
        for row in [header, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)


def calls_view(url: str, token: str) -> str:
    calls = fetch(url, token, "/api/v1/calls")
    if not calls:
        return "no calls"
    header = ["room", "direction", "state", "remote", "user", "codec", "held", "transport"]
    rows = [
        [
            call.get("room") or "-",
            call.get("call_direction") or "-",
            call.get("call_state") or "-",
            call.get("uri") or "-",
            call.get("user") or "-",
            call.get("codec") or "-",
            "yes" if call.get("held") else "no",
            call.get("transport") or "-",
        ]
        for call in calls
    ]
    return table(rows, header)


def registrations_view(url: str, token: str) -> str:
    data = fetch(url, token, "/api/v1/registrations")
    parts = []
    users = data.get("users", [])
    if users:
        rows = [[u["user"], u["contact"], u["source"], str(u["expires_in"]), u["user_agent"]]
                for u in users]  # fmt: skip
        parts.append(table(rows, ["user", "contact", "from", "expires in (s)", "user agent"]))
    else:
        parts.append("no registered users")
    trunks = data.get("trunks", [])
    if trunks:
        rows = [[t["trunk"], t["state"], t["detail"], str(t["expires_in"])] for t in trunks]
        parts.append(table(rows, ["trunk", "state", "detail", "expires in (s)"]))
    return "\n\n".join(parts)


def token_from_environment() -> str:
    return os.environ.get("MEDIACORE_TOKEN") or os.environ.get("MEDIACORE_ADMIN_TOKEN") or ""
