"""Logging in against a running server (media workers): a `[[sip.users]]` account logs in
over the network with its role, its token streams events until it logs out; an account an
admin adds logs in and opens a room with a leg in a worker; the login route takes no large
body from strangers; guessing passwords gets an address locked out with Retry-After."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.e2e.events import wait_for_event
from tests.e2e.server import TOKEN, ServerProcess
from tests.server.test_api import offer

ATTEMPTS = 3
LOCK_S = 2
SERVER_ENV = {
    "MEDIACORE_RTP_TIMEOUT": "30",
    "MEDIACORE_AUTH_LOGIN_ATTEMPTS": str(ATTEMPTS),
    "MEDIACORE_AUTH_LOGIN_WINDOW": str(LOCK_S),
}
SERVER_CONFIG = """
[[sip.users]]
user = "2001"
password = "phone-secret-2001"
role = "operator"
name = "Unit 2001"
"""
LOGIN = "/api/v1/login"


def anonymous(server: ServerProcess, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, server.url + path, timeout=10, **kwargs)


def with_token(
    token: str, server: ServerProcess, method: str, path: str, **kwargs: Any
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return anonymous(server, method, path, headers=headers, **kwargs)


def events_url(server: ServerProcess, token: str) -> str:
    return server.url.replace("http", "ws", 1) + f"/api/v1/events?token={token}"


async def test_a_sip_user_logs_in_and_its_event_stream_ends_at_logout(
    server: ServerProcess,
) -> None:
    async with websockets.connect(events_url(server, TOKEN)) as admin_stream:
        seen: list[dict[str, Any]] = []
        response = await asyncio.to_thread(
            anonymous, server, "POST", LOGIN, json={"user": "2001", "password": "phone-secret-2001"}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["role"] == "operator"
        event = await wait_for_event(admin_stream, seen, "login.succeeded", 5)
        assert (event["user"], event["role"]) == ("2001", "operator")
        assert "phone-secret" not in str(seen) and body["token"] not in str(seen)

    token = body["token"]
    async with websockets.connect(events_url(server, token)) as stream:
        logout = await asyncio.to_thread(with_token, token, server, "POST", "/api/v1/logout")
        assert logout.status_code == 204
        started = time.monotonic()
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(stream.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        assert time.monotonic() - started < 3
    refused = with_token(token, server, "GET", "/api/v1/rooms")
    assert refused.status_code == 401


def test_an_added_account_logs_in_and_opens_a_room_with_a_leg(server: ServerProcess) -> None:
    added = server.client.put(
        "/api/v1/accounts/zhang.wei",
        json={"password": "night-shift-7", "role": "commander", "name": "张伟"},
    )
    assert added.status_code == 201, added.text
    stored = (server.data_dir / "accounts.json").read_text()
    assert "night-shift-7" not in stored and '"scrypt"' in stored
    response = anonymous(
        server, "POST", LOGIN, json={"user": "zhang.wei", "password": "night-shift-7"}
    )
    assert response.status_code == 200, response.text
    token = response.json()["token"]
    room = with_token(token, server, "POST", "/api/v1/rooms", json={"name": "login-e2e"})
    assert room.status_code == 201, room.text
    leg = anonymous(
        server,
        "POST",
        "/api/v1/rooms/login-e2e/rtp",
        content=offer(port=free_udp_port()),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/sdp"},
    )
    assert leg.status_code == 201, leg.text
    assert server.client.delete("/api/v1/rooms/login-e2e").status_code == 204
    assert server.client.delete("/api/v1/accounts/zhang.wei").status_code == 204
    assert with_token(token, server, "GET", "/api/v1/rooms").status_code == 401


def test_a_large_login_body_is_refused_before_it_is_read(server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=5) as sock:
        sock.sendall(
            b"POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000000\r\n\r\n" + b"x" * 65536
        )
        sock.settimeout(3)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_guessing_passwords_locks_the_address_out_with_retry_after(server: ServerProcess) -> None:
    wrong = {"user": "2001", "password": "guess"}
    answers = [anonymous(server, "POST", LOGIN, json=wrong) for _ in range(ATTEMPTS)]
    assert [a.status_code for a in answers] == [401] * (ATTEMPTS - 1) + [429]
    assert int(answers[-1].headers["retry-after"]) >= 1
    right = {"user": "2001", "password": "phone-secret-2001"}
    assert anonymous(server, "POST", LOGIN, json=right).status_code == 429
    time.sleep(int(answers[-1].headers["retry-after"]) + 0.2)
    assert anonymous(server, "POST", LOGIN, json=right).status_code == 200


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
