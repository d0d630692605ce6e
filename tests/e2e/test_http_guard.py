"""Attacks on a running server's HTTP side: bodies sent before (or instead of) credentials,
bodies without end, WebSocket floods from one address, and reading /metrics without a token.

Each is performed over a real socket against `mediacore serve`, as an outsider would."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.e2e.server import TOKEN, ServerProcess

METRICS_TOKEN = "metrics-scraper-token-0001"
MAX_WEBSOCKETS = 3
SERVER_ENV = {
    "MEDIACORE_SERVER_METRICS_TOKEN": METRICS_TOKEN,
    "MEDIACORE_SERVER_MAX_WEBSOCKETS_PER_ADDRESS": str(MAX_WEBSOCKETS),
    "MEDIACORE_SERVER_WORKERS": "0",  # HTTP only, served by the control process in either mode
}
MEBIBYTE = 1024 * 1024


def connect(server: ServerProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.http_port), timeout=5)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    return sock


def read_response(sock: socket.socket, timeout: float) -> bytes:
    """What the server answered within `timeout` s (up to the end of its headers and a
    little of the body), or b"" when it said nothing."""
    sock.settimeout(timeout)
    received = b""
    try:
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        sock.settimeout(0.2)
        received += sock.recv(65536)
    except (TimeoutError, ConnectionResetError):
        pass
    return received


def bytes_accepted(sock: socket.socket, limit: int) -> int:
    """Keep sending body bytes until the server's side is closed or `limit` bytes went."""
    sock.settimeout(5)
    block, sent = b"x" * 65536, 0
    try:
        while sent < limit:
            sock.sendall(block)
            sent += len(block)
    except OSError:  # broken pipe, reset or a full window that never drains
        pass
    return sent


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else 0


def test_an_unauthenticated_800_mb_post_is_answered_401_at_once_and_never_read(
    server: ServerProcess,
) -> None:
    before = server.rss_bytes()
    with connect(server) as sock:
        sock.sendall(
            b"POST /api/v1/rooms HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 800000000\r\n\r\n" + b"x" * 65536
        )
        started = time.monotonic()
        response = read_response(sock, timeout=3)
        assert status_of(response) == 401, response[:200]
        assert time.monotonic() - started < 2
        assert b"connection: close" in response.lower()
        assert b'"error":"unauthorized"' in response.replace(b" ", b"")
        # the rest of the upload goes nowhere: the server hung up
        assert bytes_accepted(sock, 200 * MEBIBYTE) < 200 * MEBIBYTE
    assert server.rss_bytes() - before < 20 * MEBIBYTE
    assert server.client.get("/api/v1/health").status_code == 200


def test_a_body_declared_past_the_limit_is_answered_413_before_it_is_read(
    server: ServerProcess,
) -> None:
    with connect(server) as sock:
        sock.sendall(
            b"POST /api/v1/rooms HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
            b"Content-Length: 800000000\r\n\r\n" + b"x" * 65536
        )
        response = read_response(sock, timeout=3)
        assert status_of(response) == 413, response[:200]
        assert b'"error":"too-large"' in response.replace(b" ", b"")


def test_an_endless_chunked_body_is_cut_off_with_413_and_costs_no_memory(
    server: ServerProcess,
) -> None:
    before = server.rss_bytes()
    with connect(server) as sock:
        sock.sendall(
            b"POST /api/v1/rooms HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"10000\r\n" + b"x" * 65536 + b"\r\n"
        sent = 0
        sock.settimeout(5)
        try:
            while sent < 100 * MEBIBYTE:  # past 1 MiB the server must stop reading
                sock.sendall(chunk)
                sent += 65536
        except OSError:
            pass
        assert sent < 100 * MEBIBYTE
        response = read_response(sock, timeout=3)
    assert status_of(response) == 413, response[:200]
    assert server.rss_bytes() - before < 20 * MEBIBYTE


def test_websockets_from_one_address_are_capped(server: ServerProcess) -> None:
    url = server.url.replace("http", "ws", 1) + f"/api/v1/events?token={TOKEN}"

    async def flood() -> None:
        sockets = [await websockets.connect(url) for _ in range(MAX_WEBSOCKETS)]
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(url)
        assert refused.value.response.status_code == 403
        await sockets.pop().close()
        for _ in range(50):  # the server notices the close
            try:
                sockets.append(await websockets.connect(url))
                break
            except InvalidStatus:
                await asyncio.sleep(0.05)
        assert len(sockets) == MAX_WEBSOCKETS
        for opened in sockets:
            await opened.close()

    asyncio.run(flood())


def test_metrics_and_the_api_description_are_not_for_anyone(server: ServerProcess) -> None:
    anonymous = httpx.get(server.url + "/metrics")
    assert anonymous.status_code == 401 and "mediacore_" not in anonymous.text
    scraper = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    scraped = httpx.get(server.url + "/metrics", headers=scraper)
    assert scraped.status_code == 200 and "mediacore_ticks_total" in scraped.text
    assert httpx.get(server.url + "/api/v1/rooms", headers=scraper).status_code == 403
    assert server.client.get("/metrics").status_code == 200  # admins may read it too
    for path in ("/api/docs", "/api/openapi.json"):
        assert httpx.get(server.url + path).status_code == 401
        assert server.client.get(path).status_code == 404  # off unless [server] api_docs
