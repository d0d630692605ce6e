"""HTTPS and WSS by default: a real server makes a self-signed certificate at first start and
prints its fingerprint once, answers health and the API only over TLS, carries the event and
WebRTC signalling WebSockets over WSS (an aiortc peer joins a room, its DTLS connects), the
command line follows; a configured certificate is used as given."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import websockets

from mediacore.server.certificates import fingerprint, self_signed
from tests.e2e.server import TOKEN, ServerProcess
from tests.webrtc.clients import Client

pytestmark = pytest.mark.slow

SERVER_TLS = True  # the module's server (tests/e2e/conftest.py) serves HTTPS and WSS


def test_health_and_the_api_answer_over_https_with_the_made_certificate(
    server: ServerProcess,
) -> None:
    assert server.url.startswith("https://")
    made = server.data_dir / "tls" / "cert.pem"
    assert (made.parent / "key.pem").stat().st_mode & 0o077 == 0
    assert server.client.get("/api/v1/health").json() == {"status": "ok"}
    assert server.client.get("/api/v1/rooms").status_code == 200
    assert server.client.get("/api/v1/rooms", headers={"Authorization": ""}).status_code == 401
    # The fingerprint printed once at start is the certificate's.
    log = server.log_path.read_text()
    assert log.count(f"SHA-256 fingerprint {fingerprint(made.read_bytes())}") == 1
    # A client that does not trust it stops at the handshake.
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(server.url + "/api/v1/health")
    # Plain HTTP on the same port is answered on this machine only (loopback: nothing
    # crosses a network), so local tools written to "HTTP 8080" keep working.
    plain = server.url.replace("https", "http", 1)
    assert httpx.get(plain + "/api/v1/health").json() == {"status": "ok"}
    answer = httpx.get(plain + "/api/v1/rooms", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200


def test_plain_http_from_another_machine_is_refused_and_none_turns_it_off(
    tmp_path: Path,
) -> None:
    """Served on every address, the port answers HTTPS to all and plain HTTP to loopback
    only: a plain request from the machine's own network address (another host, as far as
    the server can tell) gets a 400 naming https; `plain_http = "none"` refuses loopback too."""
    address = _network_address()
    # HTTP only (the control process serves it in either mode): no media workers to start
    server = ServerProcess(tmp_path / "open", host="0.0.0.0", tls=True, workers=0)
    try:
        port = server.url.rsplit(":", 1)[1]
        if address is not None:
            refused = httpx.get(f"http://{address}:{port}/api/v1/health")
            assert refused.status_code == 400 and "https://" in refused.text
            secure = httpx.get(f"https://{address}:{port}/api/v1/health", verify=False)
            assert secure.json() == {"status": "ok"}
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/health").status_code == 200
    finally:
        assert server.stop() == 0
    closed = ServerProcess(
        tmp_path / "closed", tls=True, workers=0, MEDIACORE_SERVER_PLAIN_HTTP="none"
    )
    try:
        refused = httpx.get(closed.url.replace("https", "http", 1) + "/api/v1/health")
        assert refused.status_code == 400
        assert closed.client.get("/api/v1/health").json() == {"status": "ok"}
    finally:
        assert closed.stop() == 0


def _network_address() -> str | None:
    """An address of this machine that is not loopback (None when it has none)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: only the route is chosen
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


async def test_events_and_webrtc_signalling_run_over_wss(
    server: ServerProcess, tmp_path: Path
) -> None:
    room = "secure"
    assert server.client.post("/api/v1/rooms", json={"name": room}).status_code == 201
    tls = server.ssl_context()
    events_url = server.events_url(room)
    assert events_url.startswith("wss://")
    signalling = events_url.split("/api/")[0] + f"/api/v1/rooms/{room}/webrtc?token={TOKEN}"
    client = Client(440.0)
    try:
        async with (
            websockets.connect(events_url, ssl=tls) as events,
            websockets.connect(signalling, ssl=tls, max_size=2**20) as socket,
        ):
            await asyncio.sleep(0.2)  # the event stream subscribes just after the handshake
            await socket.send(
                json.dumps({"type": "join", "name": "tls", "offer": await client.offer()})
            )
            joined = await _expect(socket, "joined")
            await client.accept(joined["answer"])
            await client.connected()
            event = await _expect(events, "participant.joined")
            assert event["participant"]["id"] == joined["participant"]
            (entry,) = server.roster(room)
            assert entry["kind"] == "webrtc" and entry["name"] == "tls"
        # Plain ws:// is answered on this machine only (see the plain HTTP test).
        async with websockets.connect(events_url.replace("wss", "ws", 1), open_timeout=3):
            pass
    finally:
        await client.close()
        server.client.delete(f"/api/v1/rooms/{room}")


async def _expect(socket: websockets.ClientConnection, kind: str) -> dict[str, object]:
    deadline = time.monotonic() + 10
    while True:
        message = json.loads(await asyncio.wait_for(socket.recv(), deadline - time.monotonic()))
        if message["type"] == kind:
            return dict(message)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mediacore.server.cli", *args],
        capture_output=True, text=True, timeout=60, cwd=cwd,
        env={**os.environ, "MEDIACORE_TOKEN": TOKEN,
             "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip


def test_the_command_line_checks_the_certificate(server: ServerProcess, tmp_path: Path) -> None:
    url = ("--url", server.url)
    trusted = _cli("registrations", *url, "--cafile", str(server.ca_file), cwd=tmp_path)
    assert trusted.returncode == 0, trusted.stderr
    assert "no registered users" in trusted.stdout
    unknown = _cli("calls", *url, cwd=tmp_path)  # no ./var/tls/cert.pem here, no $MEDIACORE_CAFILE
    assert unknown.returncode == 1 and "CERTIFICATE_VERIFY_FAILED" in unknown.stderr
    lab = _cli("calls", *url, "--insecure", cwd=tmp_path)
    assert lab.returncode == 0 and "no calls" in lab.stdout


def test_a_configured_certificate_is_served_as_given(tmp_path: Path) -> None:
    cert_pem, key_pem = self_signed(["127.0.0.1"])
    cert, key = tmp_path / "given-cert.pem", tmp_path / "given-key.pem"
    cert.write_bytes(cert_pem)
    key.write_bytes(key_pem)
    config = f'[server]\ntls_cert = "{cert}"\ntls_key = "{key}"\n'
    folder = tmp_path / "data"
    folder.mkdir()
    process = ServerProcess(folder, config=config, tls=True, ca_file=cert, workers=0)  # HTTP only
    try:
        assert process.client.get("/api/v1/health").json() == {"status": "ok"}
        assert not (folder / "tls").exists()  # nothing made
        assert "self-signed" not in process.log_path.read_text()
        assert fingerprint(cert_pem) in process.log_path.read_text()  # logged at start
    finally:
        assert process.stop() == 0, process.log_path.read_text()[-4000:]
