"""Attacks through field sources and walls on a running server, and the secrets it keeps.

- Request forgery: a source or wall output URL pointing at the cloud's metadata service, a
  link-local or a loopback address (by name, by number, as mapped IPv6) is refused before
  anything connects.
- Port scanning: what a non-admin reads of a failed source or wall output (roster, wall
  status, events) never quotes the network's errors, so an open port and a closed one look
  alike.
- Secrets: camera passwords, URL tokens, SRT passphrases and RTMP stream keys are shown only
  to admins and never reach the log; the generated admin token is never printed; short tokens
  stop the server from starting; recording files are 0640."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.e2e.server import TOKEN, ServerProcess, free_tcp_port

pytestmark = pytest.mark.slow

OPERATOR = "operator-token-for-tests"
COMMANDER = "commander-token-for-tests"
CONFIG = f"""
[[auth.tokens]]
token = "{OPERATOR}"
role = "operator"

[[auth.tokens]]
token = "{COMMANDER}"
role = "commander"
"""
PASSWORD = "cam-s3cret-pass"
URL_TOKEN = "tok-in-the-query-123"
PASSPHRASE = "srt-passphrase-456"
STREAM_KEY = "stream-key-789"


@pytest.fixture
def strict(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server with the default [outbound] policy (loopback refused too)."""
    server = ServerProcess(tmp_path, config=CONFIG, MEDIACORE_OUTBOUND_ALLOW_LOOPBACK="0")
    yield server
    assert server.stop() == 0, server.log_path.read_text()


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server whose test cameras may be on loopback."""
    server = ServerProcess(tmp_path, config=CONFIG)
    yield server
    assert server.stop() == 0, server.log_path.read_text()


def as_token(server: ServerProcess, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_sources_cannot_reach_metadata_link_local_or_loopback_addresses(
    strict: ServerProcess,
) -> None:
    operator = as_token(strict, OPERATOR)
    forged = [
        "rtsp://169.254.169.254/latest/meta-data",  # the cloud's metadata service
        "http://169.254.169.254/latest.m3u8",
        "rtsp://[fe80::1]:554/x",
        "rtsp://[::ffff:169.254.169.254]/x",  # IPv4-mapped IPv6
        "rtmp://100.100.100.200/live/x",  # another cloud's metadata address
        f"rtmp://127.0.0.1:{strict.http_port}/live/x",  # the server's own services
        "rtmp://localhost:6379/live/x",
        "rtmp://2130706433:22/live/x",  # 127.0.0.1 written as one number
        "rtmp://0.0.0.0:22/live/x",  # reaches the local host too
        "srt://[::1]:9000?mode=caller",
    ]
    for url in forged:
        response = operator.post("/api/v1/rooms/command/sources", json={"url": url})
        assert response.status_code == 403, (url, response.text)
        assert response.json()["error"] == "source-refused"
        assert "169.254" not in response.json()["detail"]  # no address echoed to operators
    assert strict.roster("command") == []
    commander = as_token(strict, COMMANDER)
    for url in ("rtp://169.254.169.254:80", f"rtmp://127.0.0.1:{strict.http_port}/live/x"):
        wall = {
            "canvas": {"width": 320, "height": 180, "fps": 10},
            "layout": {"kind": "grid"},
            "outputs": [{"kind": url.partition(":")[0], "url": url}],
        }
        response = commander.put("/api/v1/walls/hall", json=wall)
        assert response.status_code == 403, (url, response.text)
        assert response.json()["error"] == "output-refused"
    assert commander.get("/api/v1/walls").json() == []
    # an ordinary camera network is allowed
    allowed = operator.post(
        "/api/v1/rooms/command/sources", json={"url": "rtsp://10.255.255.1:554/x"}
    )
    assert allowed.status_code == 201, allowed.text
    operator.delete(f"/api/v1/rooms/command/sources/{allowed.json()['id']}")


def test_a_failed_source_is_no_port_scanner_for_non_admins(lab: ServerProcess) -> None:
    closed = f"rtmp://127.0.0.1:{closed_port()}/live/x"
    open_but_not_rtmp = f"rtmp://127.0.0.1:{lab.http_port}/live/x"  # the server's HTTP port
    events_url = lab.url.replace("http", "ws", 1) + f"/api/v1/events?token={OPERATOR}"

    async def scan() -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        async with (
            websockets.connect(events_url) as ws,
            httpx.AsyncClient(
                base_url=lab.url, headers={"Authorization": f"Bearer {OPERATOR}"}
            ) as operator,
        ):
            for name, url in (("closed", closed), ("open", open_but_not_rtmp)):
                body = {"url": url, "name": name}
                response = await operator.post("/api/v1/rooms/command/sources", json=body)
                assert response.status_code == 201, response.text
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    event = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                    if event["type"] == "source.state":
                        events.append(event)
                except TimeoutError:
                    pass
                listed = (await operator.get("/api/v1/rooms/command/sources")).json()
                if len(listed) == 2 and all(s["reconnects"] >= 1 for s in listed):
                    break
        return events

    events = asyncio.run(scan())
    operator = as_token(lab, OPERATOR)
    listed = {s["name"]: s for s in operator.get("/api/v1/rooms/command/sources").json()}
    assert listed["closed"]["reason"] == listed["open"]["reason"] == "could not open the source"
    reasons = {e["reason"] for e in events if e["state"] == "reconnecting"}
    assert reasons and reasons <= {"could not open the source", "the source stopped sending"}
    admin = {s["name"]: s for s in lab.client.get("/api/v1/rooms/command/sources").json()}
    assert "refused" in admin["closed"]["reason"].lower()  # admins read the whole story
    for source in listed.values():
        operator.delete(f"/api/v1/rooms/command/sources/{source['id']}")


def test_secrets_in_urls_are_for_admins_only_and_never_logged(lab: ServerProcess) -> None:
    operator, commander = as_token(lab, OPERATOR), as_token(lab, COMMANDER)
    port = closed_port()
    camera = f"rtsp://admin:{PASSWORD}@127.0.0.1:{port}/stream?token={URL_TOKEN}"
    srt = f"srt://127.0.0.1:{port}?passphrase={PASSPHRASE}&latency=200"
    for url in (camera, srt):
        response = operator.post("/api/v1/rooms/command/sources", json={"url": url})
        assert response.status_code == 201, response.text
    output = f"rtmp://127.0.0.1:{port}/live/{STREAM_KEY}"
    wall = {
        "canvas": {"width": 320, "height": 180, "fps": 10},
        "layout": {"kind": "grid"},
        "room": "command",
        "outputs": [{"kind": "rtmp", "url": output}],
    }
    assert commander.put("/api/v1/walls/hall", json=wall).status_code == 201
    time.sleep(3)  # the sources and the wall try to connect, fail and say so in the log
    secrets = (PASSWORD, URL_TOKEN, PASSPHRASE, STREAM_KEY)
    for client in (operator, commander):
        shown = json.dumps(
            [
                client.get("/api/v1/rooms/command/sources").json(),
                client.get("/api/v1/rooms/command/participants").json(),
                client.get("/api/v1/walls/hall").json(),
                client.get("/api/v1/walls").json(),
            ]
        )
        assert not [s for s in secrets if s in shown], shown
        assert "latency=200" in shown  # settings are not secrets
        assert "refused" not in shown.lower()  # nor the network's words, for a port scan
    urls = {s["url"] for s in lab.client.get("/api/v1/rooms/command/sources").json()}
    assert urls == {camera, srt}  # the admin reads them whole
    # a commander who changes the layout sends the output back as it was shown to them
    seen = commander.get("/api/v1/walls/hall").json()
    changed = {**wall, "layout": {"kind": "focus"}, "outputs": seen["outputs"]}
    assert commander.put("/api/v1/walls/hall", json=changed).status_code == 200
    assert lab.client.get("/api/v1/walls/hall").json()["outputs"][0]["url"] == output
    lab.client.delete("/api/v1/walls/hall")
    log = lab.log_path.read_text(errors="replace")
    assert not [s for s in secrets if s in log]


def test_the_generated_admin_token_is_never_printed_and_recordings_are_0640(
    tmp_path: Path,
) -> None:
    server = ServerProcess(tmp_path, MEDIACORE_ADMIN_TOKEN="")
    try:
        path = tmp_path / "admin-token"
        token = path.read_text().strip()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        admin = as_token(server, token)
        started = admin.post("/api/v1/rooms/command/recordings")
        assert started.status_code == 201, started.text
        joined = admin.post(
            "/api/v1/rooms/command/rtp",
            content=_offer(),
            headers={"Content-Type": "application/sdp"},
        )
        assert joined.status_code == 201, joined.text
        time.sleep(1.5)
        recording = started.json()["id"]
        assert admin.post(f"/api/v1/recordings/{recording}/stop").status_code == 200
        files = [p for p in (tmp_path / "recordings").rglob("*") if p.is_file()]
        files.append(tmp_path / "recordings.db")
        assert len(files) >= 4  # manifest, tracks, journals
        modes = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files}
        assert set(modes.values()) == {"0o640"}, modes
    finally:
        assert server.stop() == 0
    log = server.log_path.read_text()
    assert token not in log
    assert str(path) in log


def _offer() -> str:
    port = closed_port()
    return (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    )


@pytest.mark.parametrize(
    "environment",
    [
        {"MEDIACORE_ADMIN_TOKEN": "short-admin"},
        {"MEDIACORE_ADMIN_TOKEN": TOKEN, "MEDIACORE_SERVER_METRICS_TOKEN": "scrape"},
    ],
)
def test_a_token_shorter_than_16_characters_stops_the_server_from_starting(
    tmp_path: Path, environment: dict[str, str]
) -> None:
    command = [sys.executable, "-m", "mediacore.server.cli", "serve"]
    command += ["--data-dir", str(tmp_path), "--http-port", str(free_tcp_port())]
    done = subprocess.run(
        command, env={**os.environ, **environment}, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "at least 16 characters" in done.stderr
