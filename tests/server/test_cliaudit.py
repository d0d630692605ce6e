"""`mediacore audit list` searches the audit log through the API with the filters it was given
(its `--action` filter is a filter, not the command's verb)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mediacore.server.cli import main

ENTRY = {"at": "2026-12-07T10:00:00Z", "who": "ops", "action": "room.create", "room": "r1"}


@pytest.fixture
def api() -> Iterator[tuple[str, list[str]]]:
    paths: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            paths.append(self.path)
            body = json.dumps([ENTRY]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", paths
    finally:
        server.shutdown()
        server.server_close()


def test_audit_list_sends_its_filters_and_prints_the_entries(
    api: tuple[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, paths = api
    status = main(["audit", "list", "--action", "room.create", "--who", "ops", "--url", url])
    assert status == 0
    assert paths == ["/api/v1/audit?who=ops&action=room.create&limit=100&offset=0"]
    printed = capsys.readouterr().out
    assert "room.create" in printed and "r1" in printed


def test_an_unreachable_server_is_an_error_line_not_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["audit", "list", "--url", "http://127.0.0.1:9"]) == 1
    assert capsys.readouterr().err.startswith("mediacore: cannot reach")
