"""`mediacore calls` and `mediacore registrations`: a terminal view of a running server's SIP.

Reads the HTTP API (stdlib only, so the command works wherever the server is installed), over
HTTPS by default: the server's certificate is checked against `--cafile` (default
$MEDIACORE_CAFILE, or the certificate a server with the default data dir made, ./var/tls/cert.pem,
when it is there, else the system's CAs); `--insecure` skips the check (a lab only)."""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.client import HTTPResponse
from pathlib import Path
from typing import Any

from mediacore.signing import KeyFileError

DEFAULT_URL = "https://127.0.0.1:8080"
DEFAULT_CAFILE = Path("var") / "tls" / "cert.pem"  # made by `mediacore serve` in ./var


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    """--url, --token, --cafile and --insecure: how a command reaches a running server."""
    parser.add_argument("--url", default=DEFAULT_URL, help="the server's address (https://...)")
    parser.add_argument("--token", help="bearer token (default $MEDIACORE_TOKEN)")
    parser.add_argument(
        "--cafile",
        help="PEM file of the server's certificate or its CA (default $MEDIACORE_CAFILE, "
        "else ./var/tls/cert.pem when present, else the system's CAs)",
    )
    parser.add_argument(
        "--insecure", action="store_true", help="do not check the server's certificate (a lab)"
    )


def add_filter_options(parser: argparse.ArgumentParser, filters: Sequence[str]) -> None:
    """One --option per filter of a listing (`filter_query` reads them back)."""
    for option in filters:
        parser.add_argument(f"--{option}")


def filter_query(args: argparse.Namespace, filters: Sequence[str], **extra: str) -> str:
    """The query string of a listing ("" or "?..."): the filters given, then `extra`."""
    query = {key: getattr(args, key) for key in filters if getattr(args, key)} | extra
    return f"?{urllib.parse.urlencode(query)}" if query else ""


@dataclass(frozen=True, slots=True)
class ServerApi:
    """A running server's API as the command line reaches it."""

    url: str
    token: str
    context: ssl.SSLContext | None = None  # for https:// URLs

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ServerApi:
        """From the options of `add_connection_options`. Raises RuntimeError (a bad CA file)."""
        token = args.token or token_from_environment()
        if not args.url.startswith("https:"):
            return cls(args.url, token)
        if args.insecure:
            context = ssl._create_unverified_context()  # noqa: S323 - asked for by --insecure
            return cls(args.url, token, context)
        cafile = args.cafile or os.environ.get("MEDIACORE_CAFILE")
        if not cafile and DEFAULT_CAFILE.exists():
            cafile = str(DEFAULT_CAFILE)
        try:
            return cls(args.url, token, ssl.create_default_context(cafile=cafile or None))
        except (OSError, ssl.SSLError) as error:
            raise RuntimeError(f"cannot load CA file {cafile}: {error}") from None

    def open(self, path: str, data: bytes | None = None, json_body: bool = False) -> HTTPResponse:
        """The response to a GET (a POST with `data`) of `path`; raises RuntimeError with the
        server's message on failure."""
        request = urllib.request.Request(self.url.rstrip("/") + path, data=data)
        request.add_header("Authorization", f"Bearer {self.token}")
        if json_body:
            request.add_header("Content-Type", "application/json")
        try:
            response: HTTPResponse = urllib.request.urlopen(  # noqa: S310 - http(s) only
                request, timeout=60, context=self.context
            )
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", "replace")[:200]
            raise RuntimeError(f"{error.code} from {path}: {detail}") from None
        except OSError as error:  # ssl.SSLCertVerificationError too: says why
            raise RuntimeError(f"cannot reach {self.url}: {error}") from None
        return response

    def fetch(self, path: str, body: Any = None) -> Any:
        """GET `path` (POST `body` as JSON when given) and decode the JSON answer."""
        data = None if body is None else json.dumps(body).encode()
        with self.open(path, data, json_body=data is not None) as response:
            return json.loads(response.read())


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True))
        for row in [header, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)


def calls_view(api: ServerApi) -> str:
    calls = api.fetch("/api/v1/calls")
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


def registrations_view(api: ServerApi) -> str:
    data = api.fetch("/api/v1/registrations")
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


def run_against_server(
    args: argparse.Namespace, command: Callable[[argparse.Namespace, ServerApi], int]
) -> int:
    """Run `command` with the API the connection options in `args` name; its exit status, or
    1 with the error on stderr when the server, a CA file or a key file is not to be had."""
    try:
        return command(args, ServerApi.from_args(args))
    except (RuntimeError, KeyFileError) as error:
        print(f"mediacore: {error}", file=sys.stderr)
        return 1


def token_from_environment() -> str:
    return os.environ.get("MEDIACORE_TOKEN") or os.environ.get("MEDIACORE_ADMIN_TOKEN") or ""
