"""Two cluster nodes as `mediacore serve --cluster URL --node NAME` processes, each on its own
loopback address, with one Redis: a login, an account, a join link and its revocation made on
one node hold on the other, and both answer to the admin token the first one made."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from bench.serverproc import ServerProcess
from mediacore.server.auth import ADMIN_TOKEN_FILE

pytestmark = pytest.mark.slow
WITHIN = 2.0  # seconds a revocation on one node may take to hold on the other


def node_options(redis_url: str, name: str, address: str) -> list[str]:
    return ["--cluster", redis_url, "--node", name, "--advertise", address]


@pytest.fixture
def cluster(redis_url: str, tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Node one (a media worker) on 127.0.0.2, then node two (one process) on 127.0.0.3; no
    token in their config, so the first makes the admin token and the second adopts it."""
    one = ServerProcess(
        tmp_path / "one",
        host="127.0.0.2",
        options=node_options(redis_url, "one", "127.0.0.2"),
        workers=1,
        rtp_ports=100,
        MEDIACORE_ADMIN_TOKEN="",
    )
    try:
        two = ServerProcess(
            tmp_path / "two",
            host="127.0.0.3",
            options=node_options(redis_url, "two", "127.0.0.3"),
            workers=0,
            rtp_ports=100,
            MEDIACORE_ADMIN_TOKEN="",
        )
        try:
            yield one, two
        finally:
            two.stop()
    finally:
        one.stop()


def client(node: ServerProcess, token: str) -> httpx.Client:
    return httpx.Client(base_url=node.url, headers={"Authorization": f"Bearer {token}"})


def eventually(check: Callable[[], bool], within: float = WITHIN) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "did not happen in time"
        time.sleep(0.05)


def test_logins_accounts_links_and_the_admin_token_hold_on_every_node(
    cluster: tuple[ServerProcess, ServerProcess],
) -> None:
    one, two = cluster
    token = (one.data_dir / ADMIN_TOKEN_FILE).read_text().strip()
    assert (two.data_dir / ADMIN_TOKEN_FILE).read_text().strip() == token
    admin_one, admin_two = client(one, token), client(two, token)
    assert admin_one.get("/api/v1/rooms").status_code == 200
    assert admin_two.get("/api/v1/rooms").status_code == 200

    # an account made on node two logs in on node one; its session works on node two
    made = admin_two.put(
        "/api/v1/accounts/carol",
        json={"password": "carol-secret-1", "role": "operator", "name": "Carol"},
    )
    assert made.status_code == 201, made.text
    login = httpx.post(
        f"{one.url}/api/v1/login", json={"user": "carol", "password": "carol-secret-1"}
    )
    assert login.status_code == 200, login.text
    carol_one, carol_two = client(one, login.json()["token"]), client(two, login.json()["token"])
    assert carol_two.get("/api/v1/rooms").status_code == 200
    assert carol_two.post("/api/v1/logout").status_code == 204  # logged out on node two
    eventually(lambda: carol_one.get("/api/v1/rooms").status_code == 401)
    assert admin_one.get("/api/v1/accounts/carol").json()["role"] == "operator"

    # a join link minted on node one admits on node two, until revoked there
    minted = admin_one.post("/api/v1/rooms/command/join-links", json={"name": "Dr. Lin"})
    assert minted.status_code == 201, minted.text
    link_one, link_two = client(one, minted.json()["token"]), client(two, minted.json()["token"])
    assert link_two.get("/api/v1/rooms/command").status_code == 200
    assert link_one.get("/api/v1/rooms/command").status_code == 200
    revoked = admin_two.delete(f"/api/v1/join-links/{minted.json()['id']}")
    assert revoked.status_code == 204
    assert link_two.get("/api/v1/rooms/command").status_code == 401
    eventually(lambda: link_one.get("/api/v1/rooms/command").status_code == 401)

    # an account deleted on node one cannot log in on node two
    assert admin_one.delete("/api/v1/accounts/carol").status_code == 204
    again = httpx.post(
        f"{two.url}/api/v1/login", json={"user": "carol", "password": "carol-secret-1"}
    )
    assert again.status_code == 401
    for session in (admin_one, admin_two, carol_one, carol_two, link_one, link_two):
        session.close()


async def closed_within(stream: websockets.ClientConnection, seconds: float) -> int:
    """The close code of an event stream that the server closes within `seconds`."""
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(seconds):
            while True:
                await stream.recv()
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


async def test_streams_on_one_node_close_when_their_session_or_link_ends_on_another(
    cluster: tuple[ServerProcess, ServerProcess],
) -> None:
    one, two = cluster
    token = (one.data_dir / ADMIN_TOKEN_FILE).read_text().strip()
    admin_one = client(one, token)
    made = admin_one.put(
        "/api/v1/accounts/dan", json={"password": "dan-secret-12", "role": "expert"}
    )
    assert made.status_code == 201, made.text
    login = httpx.post(f"{one.url}/api/v1/login", json={"user": "dan", "password": "dan-secret-12"})
    minted = admin_one.post("/api/v1/rooms/command/join-links", json={"name": "Dr. Lin"})
    assert login.status_code == 200 and minted.status_code == 201
    events = one.url.replace("http", "ws", 1) + "/api/v1/events?token="
    session, link = login.json()["token"], minted.json()["token"]
    dan_two, admin_two = client(two, session), client(two, token)
    async with websockets.connect(events + session) as by_session:
        async with websockets.connect(events + link + "&room=command") as by_link:
            out = await asyncio.to_thread(dan_two.post, "/api/v1/logout")
            assert out.status_code == 204
            assert await closed_within(by_session, 3) == 4401
            revoked = await asyncio.to_thread(
                admin_two.delete, f"/api/v1/join-links/{minted.json()['id']}"
            )
            assert revoked.status_code == 204
            assert await closed_within(by_link, 3) == 4401
    for session_client in (admin_one, admin_two, dan_two):
        session_client.close()
