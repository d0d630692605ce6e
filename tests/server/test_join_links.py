"""Join links: minted by commanders, signed, short-lived, good for one room; and a walk over
every route of the app proving each one asks for a token."""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import re
import stat
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import fastapi.routing
import pytest
import pytest_asyncio
from fastapi import FastAPI
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from mediacore.room import RoomSettings
from mediacore.server import joinlinks
from mediacore.server.app import MediaServer, create_app
from mediacore.server.auth import Principal, TokenStore
from mediacore.server.config import Config, TokenEntry
from mediacore.server.joinlinks import (
    MAX_MINUTES,
    PREFIX,
    REVOKED_FILE,
    SECRET_FILE,
    JoinLink,
    JoinLinks,
)
from tests.server.test_api import (
    PCMU_OFFER,
    REFUSALS,
    SDP,
    TOKENS,
    Api,
    assert_error,
    make_config,
    running,
)
from tests.webrtc.clients import Client

T0 = 1_800_000_000.0  # a fixed wall-clock moment for the pure tests


def two_rooms(data_dir: Path) -> Config:
    return replace(make_config(data_dir), rooms=(RoomSettings("command"), RoomSettings("other")))


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running(two_rooms(tmp_path)) as started:
        yield started


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def unchanged_api(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    """One server for the cases of the refusal tests (test_api.REFUSALS)."""
    async with running(two_rooms(tmp_path_factory.mktemp("refusals"))) as started:
        yield started


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def mint(api: Api, room: str = "command", by: str = "commander", **body: Any) -> Any:
    response = await api.as_role(
        by, "POST", f"/api/v1/rooms/{room}/join-links", json={"name": "Dr. Lin", **body}
    )
    assert response.status_code == 201, response.text
    return response.json()


def store_link(api: Api, room: str = "command", **kwargs: Any) -> JoinLink:
    links = api.server.tokens.links
    assert links is not None
    return links.mint(room, "Dr. Lin", **kwargs)


# -- the token: format, signature, expiry, revocation -----------------------------------------


def test_minted_token_is_prefix_payload_signature_with_the_claims_in_the_payload(
    tmp_path: Path,
) -> None:
    link = JoinLinks(tmp_path).mint("command", "Dr. Lin", "expert", 30, now=T0)
    assert link.token.startswith(PREFIX)
    payload, signature = link.token[len(PREFIX) :].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims == {
        "room": "command",
        "name": "Dr. Lin",
        "role": "expert",
        "exp": int(T0) + 30 * 60,
        "id": link.id,
    }
    assert len(base64.urlsafe_b64decode(signature + "=")) == 32  # a SHA-256 HMAC
    assert re.fullmatch(r"[A-Za-z0-9_-]+", payload + signature)  # safe in a URL as it is


def test_secret_is_made_0600_at_the_first_mint_and_not_before(tmp_path: Path) -> None:
    links = JoinLinks(tmp_path / "var")
    assert links.verify(PREFIX + "e30.AAAA", now=T0) is None
    assert not (tmp_path / "var" / SECRET_FILE).exists()  # checking a token writes nothing
    links.mint("command", "x", now=T0)
    secret = tmp_path / "var" / SECRET_FILE
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert len(secret.read_text(encoding="utf-8").strip()) == 64


def test_link_verifies_until_it_expires_and_across_a_restart(tmp_path: Path) -> None:
    link = JoinLinks(tmp_path).mint("command", "Dr. Lin", minutes=1, now=T0)
    restarted = JoinLinks(tmp_path)  # same data dir, same secret: nothing per link was stored
    assert restarted.verify(link.token, now=T0 + 59) == link
    assert restarted.verify(link.token, now=T0 + 60) is None
    assert restarted.verify(link.token, now=T0 + 3600) is None


def test_link_from_another_servers_secret_is_refused(tmp_path: Path) -> None:
    link = JoinLinks(tmp_path / "a").mint("command", "x", now=T0)
    other = JoinLinks(tmp_path / "b")
    other.mint("command", "y", now=T0)
    assert other.verify(link.token, now=T0) is None


def _flip(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


def test_tampered_signature_or_payload_is_refused(tmp_path: Path) -> None:
    links = JoinLinks(tmp_path)
    token = links.mint("command", "Dr. Lin", now=T0).token
    signed, _, signature = token.rpartition(".")
    assert links.verify(f"{signed}.{_flip(signature, 5)}", now=T0) is None
    assert links.verify(f"{signed}.{signature[:-1]}", now=T0) is None
    assert links.verify(signed + ".", now=T0) is None
    # The same signature over a payload naming another room (or a longer life) fails.
    claims = json.loads(base64.urlsafe_b64decode(signed[len(PREFIX) :] + "=="))
    for change in ({"room": "other"}, {"exp": claims["exp"] + 86400}, {"role": "operator"}):
        forged = base64.urlsafe_b64encode(json.dumps(claims | change).encode()).rstrip(b"=")
        assert links.verify(f"{PREFIX}{forged.decode()}.{signature}", now=T0) is None
    assert links.verify(token, now=T0) is not None  # the untouched token still works


@pytest.mark.parametrize(
    "candidate",
    ["", "jl1.", "jl1..", "jl1.a.b.c", "jl2.e30.AAAA", "jl1.%%%.AAAA", "jl1." + "A" * 5000],
)
def test_malformed_tokens_are_refused_without_error(tmp_path: Path, candidate: str) -> None:
    links = JoinLinks(tmp_path)
    links.mint("command", "x", now=T0)
    assert links.verify(candidate, now=T0) is None


def test_signature_is_compared_with_hmac_compare_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    links = JoinLinks(tmp_path)
    token = links.mint("command", "x", now=T0).token
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(joinlinks.hmac, "compare_digest", spy)
    assert links.verify(_flip(token, len(token) - 3), now=T0) is None
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("role", "minutes"),
    [
        ("admin", 60),
        ("commander", 60),
        ("reviewer", 60),
        ("expert", 0),
        ("expert", MAX_MINUTES + 1),
    ],
)
def test_mint_refuses_roles_above_operator_and_lives_out_of_range(
    tmp_path: Path, role: str, minutes: int
) -> None:
    with pytest.raises(ValueError):
        JoinLinks(tmp_path).mint("command", "x", role, minutes)
    assert not (tmp_path / SECRET_FILE).exists()


def test_revocation_is_kept_across_a_restart_until_the_link_has_expired_anyway(
    tmp_path: Path,
) -> None:
    links = JoinLinks(tmp_path)
    revoked = links.mint("command", "a", minutes=MAX_MINUTES, now=T0)
    kept = links.mint("command", "b", now=T0)
    links.revoke(revoked.id, now=T0 + 1)
    assert links.verify(revoked.token, now=T0 + 2) is None
    assert links.verify(kept.token, now=T0 + 2) == kept
    path = tmp_path / REVOKED_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert JoinLinks(tmp_path).verify(revoked.token, now=T0 + 2) is None  # after a restart
    # Once no link with the id can be valid, the id leaves the list (it stays small).
    later = JoinLinks(tmp_path)
    later.revoke("another", now=T0 + MAX_MINUTES * 60 + 2)
    assert revoked.id not in path.read_text(encoding="utf-8")
    assert "another" in path.read_text(encoding="utf-8")


def test_token_store_turns_a_link_into_a_principal_bound_to_its_room(tmp_path: Path) -> None:
    links = JoinLinks(tmp_path)
    store = TokenStore([TokenEntry("admin-tok", "admin")], links)
    link = links.mint("command", "Dr. Lin", "operator")
    assert store.authenticate(link.token) == Principal("Dr. Lin", "operator", room="command")
    assert store.authenticate("admin-tok") == Principal("admin", "admin")
    assert TokenStore([]).authenticate(link.token) is None  # a store without links refuses


# -- minting and revoking over HTTP -----------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "commander"])
async def test_commander_mints_a_link_with_token_expiry_and_console_url(
    api: Api, role: str
) -> None:
    before = time.time()
    body = await mint(api, by=role, minutes=90)
    assert body["token"].startswith(PREFIX)
    assert body["url"] == f"/console/?room=command&token={body['token']}"
    assert (body["room"], body["name"], body["role"]) == ("command", "Dr. Lin", "expert")
    assert body["expires_at"].endswith("Z")
    expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00")).timestamp()
    assert before + 90 * 60 - 1 <= expires <= time.time() + 90 * 60


@REFUSALS
@pytest.mark.parametrize("role", ["operator", "expert", "reviewer"])
async def test_other_roles_may_not_mint_or_revoke_links(unchanged_api: Api, role: str) -> None:
    response = await unchanged_api.as_role(
        role, "POST", "/api/v1/rooms/command/join-links", json={"name": "x"}
    )
    assert role in assert_error(response, 403, "forbidden")
    response = await unchanged_api.as_role(role, "DELETE", "/api/v1/join-links/abc")
    assert_error(response, 403, "forbidden")


@REFUSALS
@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "minutes": 0},
        {"name": "x", "minutes": MAX_MINUTES + 1},
        {"name": "x", "role": "commander"},
        {"name": "x", "role": "admin"},
        {"name": ""},
        {"minutes": 5},
        {"name": "x", "room": "other"},
    ],
)
async def test_bad_mint_requests_are_422(unchanged_api: Api, body: dict[str, Any]) -> None:
    response = await unchanged_api.admin("POST", "/api/v1/rooms/command/join-links", json=body)
    assert_error(response, 422, "invalid-request")


async def test_mint_for_an_unknown_room_is_404(api: Api) -> None:
    response = await api.admin("POST", "/api/v1/rooms/nowhere/join-links", json={"name": "x"})
    assert_error(response, 404, "room-not-found")


async def test_a_link_cannot_mint_or_revoke_links_even_for_its_own_room(api: Api) -> None:
    link = await mint(api, role="operator")
    response = await api.http.post(
        "/api/v1/rooms/command/join-links", json={"name": "x"}, headers=bearer(link["token"])
    )
    assert_error(response, 403, "forbidden")
    response = await api.http.delete(
        f"/api/v1/join-links/{link['id']}", headers=bearer(link["token"])
    )
    assert_error(response, 403, "forbidden")


async def test_revoked_link_is_refused_at_once_and_others_keep_working(api: Api) -> None:
    revoked, kept = await mint(api), await mint(api)
    url = "/api/v1/rooms/command"
    assert (await api.http.get(url, headers=bearer(revoked["token"]))).status_code == 200
    response = await api.as_role("commander", "DELETE", f"/api/v1/join-links/{revoked['id']}")
    assert response.status_code == 204
    assert_error(await api.http.get(url, headers=bearer(revoked["token"])), 401, "unauthorized")
    assert (await api.http.get(url, headers=bearer(kept["token"]))).status_code == 200
    again = await api.as_role("commander", "DELETE", f"/api/v1/join-links/{revoked['id']}")
    assert again.status_code == 204  # idempotent


@pytest.mark.parametrize("link_id", ["a.b", "a b", "x" * 65, "ü"])
async def test_revoking_a_malformed_id_is_422(api: Api, link_id: str) -> None:
    response = await api.admin("DELETE", f"/api/v1/join-links/{link_id}")
    assert_error(response, 422, "invalid-request")


async def test_expired_link_is_refused(api: Api) -> None:
    link = store_link(api, minutes=1, now=time.time() - 61)
    response = await api.http.get("/api/v1/rooms/command", headers=bearer(link.token))
    assert "unknown token" in assert_error(response, 401, "unauthorized")
    fresh = store_link(api, minutes=1, now=time.time() - 50)
    assert (await api.http.get("/api/v1/rooms/command", headers=bearer(fresh.token))).is_success


async def test_tampered_link_is_refused_over_http(api: Api) -> None:
    token = (await mint(api))["token"]
    response = await api.http.get("/api/v1/rooms/command", headers=bearer(_flip(token, 10)))
    assert_error(response, 401, "unauthorized")


# -- what a link may do -----------------------------------------------------------------------


async def test_expert_link_reads_its_room_and_takes_the_floor_there(api: Api) -> None:
    participant = (await api.join()).rsplit("/", 1)[1]
    link = bearer((await mint(api))["token"])
    rooms = await api.http.get("/api/v1/rooms", headers=link)
    assert [room["name"] for room in rooms.json()] == ["command"]  # "other" is not shown
    for path in ("", "/participants", f"/participants/{participant}", "/floor"):
        response = await api.http.get(f"/api/v1/rooms/command{path}", headers=link)
        assert response.status_code == 200, (path, response.text)
    client = Client(440.0, receive=False)
    published = await api.http.post(
        "/api/v1/rooms/command/whip", content=await client.offer(), headers={**SDP, **link}
    )
    assert published.status_code == 201, published.text
    mine = published.headers["location"].rsplit("/", 1)[1]
    try:
        for target, answer in ((participant, 403), (mine, 200)):  # the admin's leg is not its
            pressed = await api.http.post(
                "/api/v1/rooms/command/floor",
                json={"participant": target, "action": "request"},
                headers=link,
            )
            assert pressed.status_code == answer, pressed.text
        assert pressed.json() == {"result": "granted", "holder": mine}
    finally:
        await client.close()


async def test_operator_link_adds_legs_in_its_room_only(api: Api) -> None:
    link = bearer((await mint(api, role="operator"))["token"])
    joined = await api.http.post(
        "/api/v1/rooms/command/rtp", content=PCMU_OFFER, headers={**SDP, **link}
    )
    assert joined.status_code == 201, joined.text
    elsewhere = await api.http.post(
        "/api/v1/rooms/other/rtp", content=PCMU_OFFER, headers={**SDP, **link}
    )
    assert "this link is for room command" in assert_error(elsewhere, 403, "forbidden")
    assert api.server.directory.rooms["other"].participants == {}


@REFUSALS
@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/api/v1/rooms/other"),
        ("GET", "/api/v1/rooms/other/participants"),
        ("GET", "/api/v1/rooms/other/floor"),
        ("GET", "/api/v1/rooms/nowhere"),
        ("GET", "/api/v1/calls"),
        ("GET", "/api/v1/registrations"),
        ("GET", "/api/v1/recordings"),
        ("GET", "/api/v1/recordings?room=command"),
        ("POST", "/api/v1/rooms/command/recordings"),
        ("POST", "/api/v1/rooms"),
        ("PATCH", "/api/v1/rooms/command"),
        ("DELETE", "/api/v1/rooms/command"),
    ],
)
@pytest.mark.parametrize("role", ["expert", "operator"])
async def test_link_is_refused_outside_its_room_and_beyond_its_role(
    unchanged_api: Api, role: str, method: str, url: str
) -> None:
    link = bearer((await mint(unchanged_api, role=role))["token"])
    response = await unchanged_api.http.request(method, url, headers=link, json={"name": "x"})
    assert_error(response, 403, "forbidden")
    assert set(unchanged_api.server.directory.rooms) == {"command", "other"}


async def test_config_expert_is_join_only_and_sees_no_sip_registrations(api: Api) -> None:
    for url in ("/api/v1/calls", "/api/v1/registrations"):
        assert_error(await api.as_role("expert", "GET", url), 403, "forbidden")
        assert (await api.as_role("operator", "GET", url)).status_code == 200


# -- every route asks for a token -------------------------------------------------------------

# Served to anyone: liveness, logging in, and the reviewers', commanders', dispatchers' and wall
# kiosk pages (their data calls are authenticated). /metrics takes a token; the OpenAPI page is
# off by default.
PUBLIC = {
    "/api/v1/health",
    "/api/v1/login",
    "/review",
    "/console",
    "/console/",
    "/console/alarms.js",
    "/console/camerapad.js",
    "/console/cluster.js",
    "/console/contentshare.js",
    "/console/gbmap.js",
    "/console/gbrecords.js",
    "/dispatch",
    "/dispatch/",
    "/dispatch/dispatch.js",
    "/wall/{wall}",
}
# Routes without a {room} that a link may still call: they show it only its room.
ROOM_FILTERED = {
    ("GET", "/api/v1/rooms"),
    ("GET", "/api/v1/alarms"),
    ("GET", "/api/v1/alarms/{alarm_id}"),
    ("POST", "/api/v1/alarms"),
    ("POST", "/api/v1/alarms/{alarm_id}/ack"),
}


def flat_routes(app: FastAPI) -> list[Any]:
    """The app's routes with included routers flattened (this FastAPI includes them lazily)."""
    walk = getattr(fastapi.routing, "iter_route_contexts", None)
    return list(walk(app.routes)) if walk is not None else list(app.routes)


def http_routes(api: Api) -> list[tuple[str, str]]:
    found = []
    for route in flat_routes(api.app):
        methods, path = getattr(route, "methods", None), getattr(route, "path", None)
        if methods and path and path not in PUBLIC:
            found += [(method, path) for method in sorted(set(methods) - {"HEAD"})]
    return found


def websocket_paths(app: FastAPI) -> list[str]:
    routes = flat_routes(app)
    return [r.path for r in routes if isinstance(getattr(r, "original_route", r), WebSocketRoute)]


def concrete(path: str, room: str) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: room if m[1] == "room" else "x1", path)


async def test_every_route_but_the_public_ones_answers_401_without_a_token(api: Api) -> None:
    routes = http_routes(api)
    assert len(routes) >= 25, routes  # the walk found the app's routes
    failures = []
    for method, path in routes:
        for headers in ({}, bearer("not-a-token"), bearer(PREFIX + "e30.AAAA")):
            response = await api.http.request(method, concrete(path, "command"), headers=headers)
            if response.status_code != 401 or response.json().get("error") != "unauthorized":
                failures.append(f"{method} {path}: {response.status_code} {response.text[:80]}")
    assert failures == []


async def test_every_route_refuses_a_link_for_another_room(api: Api) -> None:
    """A link for "other" meets 403 on every route that names room "command", and on every
    route naming no room unless the route filters what it shows."""
    link = bearer((await mint(api, room="other", role="operator"))["token"])
    failures = []
    for method, path in http_routes(api):
        if (method, path) in ROOM_FILTERED:
            continue
        response = await api.http.request(method, concrete(path, "command"), headers=link)
        if response.status_code != 403:
            failures.append(f"{method} {path}: {response.status_code} {response.text[:80]}")
    assert failures == []
    assert [r["name"] for r in (await api.http.get("/api/v1/rooms", headers=link)).json()] == [
        "other"
    ]


def test_every_websocket_route_closes_without_a_token(tmp_path: Path) -> None:
    app = create_app(MediaServer(two_rooms(tmp_path)))
    sockets = websocket_paths(app)
    assert "/api/v1/events" in sockets
    with TestClient(app) as client:
        for path in sockets:
            with pytest.raises(WebSocketDisconnect) as closed:
                with client.websocket_connect(concrete(path, "command")) as socket:
                    socket.receive_json()
            assert closed.value.code in (1008, 4401), path


# -- the event stream -------------------------------------------------------------------------


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(MediaServer(two_rooms(tmp_path)))
    with TestClient(app) as started:
        yield started


def client_mint(client: TestClient, **body: Any) -> Any:
    response = client.post(
        "/api/v1/rooms/command/join-links",
        json={"name": "Dr. Lin", **body},
        headers=bearer(TOKENS["commander"]),
    )
    assert response.status_code == 201, response.text
    return response.json()


def publish(client: TestClient, type: str, room: str | None) -> None:
    server: MediaServer = client.app.state.server  # type: ignore[attr-defined]
    assert client.portal is not None
    client.portal.call(lambda: server.bus.publish(type, room))


def stir(client: TestClient) -> None:
    """Events, in order: one server-wide, one for room "other", one for room "command"."""
    publish(client, "sip.registered", None)
    for room, talkers in (("other", 2), ("command", 3)):
        response = client.patch(
            f"/api/v1/rooms/{room}", json={"max_talkers": talkers}, headers=bearer(TOKENS["admin"])
        )
        assert response.status_code == 200, response.text


def receive(client: TestClient, socket: Any, within: float = 5.0) -> Any:
    """The next event, or a "watchdog" event in room "command" after `within` seconds: a
    stream that goes quiet fails its test instead of hanging it."""
    watchdog = threading.Timer(within, publish, (client, "watchdog", "command"))
    watchdog.start()
    try:
        return socket.receive_json()
    finally:
        watchdog.cancel()


@pytest.mark.parametrize("query", ["", "&room=command"])
def test_link_event_stream_carries_only_its_rooms_events(client: TestClient, query: str) -> None:
    token = client_mint(client)["token"]
    with client.websocket_connect(f"/api/v1/events?token={token}{query}") as socket:
        stir(client)
        event = receive(client, socket)
    assert (event["type"], event["room"]) == ("room.updated", "command")


def test_unbound_stream_of_the_same_room_does_see_server_wide_events(client: TestClient) -> None:
    """The control for the test above: the server-wide event was there to be filtered."""
    with client.websocket_connect(f"/api/v1/events?token={TOKENS['expert']}&room=command") as ws:
        stir(client)
        assert receive(client, ws)["type"] == "sip.registered"
        assert receive(client, ws)["room"] == "command"


def test_link_event_stream_for_another_room_closes_4403(client: TestClient) -> None:
    token = client_mint(client)["token"]
    with pytest.raises(WebSocketDisconnect) as closed:
        with client.websocket_connect(f"/api/v1/events?token={token}&room=other") as socket:
            receive(client, socket)
    assert closed.value.code == 4403
    assert "command" in closed.value.reason


def test_link_event_stream_ends_4401_within_seconds_of_revocation(client: TestClient) -> None:
    """No event needs to pass for the stream to notice: it rechecks its link every second."""
    link = client_mint(client)
    with client.websocket_connect(f"/api/v1/events?token={link['token']}") as socket:
        response = client.delete(
            f"/api/v1/join-links/{link['id']}", headers=bearer(TOKENS["commander"])
        )
        assert response.status_code == 204
        with pytest.raises(WebSocketDisconnect) as closed:
            receive(client, socket, within=3.0)
    assert closed.value.code == 4401


def test_expired_link_event_stream_closes_4401(client: TestClient) -> None:
    server: MediaServer = client.app.state.server  # type: ignore[attr-defined]
    assert server.tokens.links is not None
    link = server.tokens.links.mint("command", "x", minutes=1, now=time.time() - 120)
    with pytest.raises(WebSocketDisconnect) as closed:
        with client.websocket_connect(f"/api/v1/events?token={link.token}") as socket:
            receive(client, socket)
    assert closed.value.code == 4401


def test_link_signalling_socket_ends_4401_within_seconds_of_revocation(
    client: TestClient,
) -> None:
    """A remote expert's call ends when the commander revokes the link, not at its expiry."""
    link = client_mint(client)
    with client.websocket_connect(f"/api/v1/rooms/command/webrtc?token={link['token']}") as socket:
        socket.send_json({"type": "ping"})
        assert socket.receive_json() == {"type": "pong"}
        response = client.delete(
            f"/api/v1/join-links/{link['id']}", headers=bearer(TOKENS["commander"])
        )
        assert response.status_code == 204
        deadline = time.monotonic() + 3.0
        with pytest.raises(WebSocketDisconnect) as closed:
            while time.monotonic() < deadline:  # the room's events (join-link.ended) may come first
                assert receive(client, socket, within=3.0)["type"] == "event"
    assert closed.value.code == 4401


# -- ending a link ends what it created (single-process mode; tests/e2e covers the workers) -----


async def bring_in(api: Api, token: str) -> tuple[set[str], list[Client]]:
    """With link `token`: a WHIP session, a WHEP session, an RTP leg and a field source."""
    link, ids, clients = bearer(token), set(), []
    for kind, client in (("whip", Client(440.0, receive=False)), ("whep", Client(None))):
        clients.append(client)
        response = await api.http.post(
            f"/api/v1/rooms/command/{kind}", content=await client.offer(), headers={**SDP, **link}
        )
        assert response.status_code == 201, response.text
        ids.add(response.headers["location"].rsplit("/", 1)[1])
    response = await api.http.post(
        "/api/v1/rooms/command/rtp", content=PCMU_OFFER, headers={**SDP, **link}
    )
    assert response.status_code == 201, response.text
    ids.add(response.headers["location"].rsplit("/", 1)[1])
    response = await api.http.post(
        "/api/v1/rooms/command/sources", json={"url": "rtmp://127.0.0.1:9/live/x"}, headers=link
    )
    assert response.status_code == 201, response.text
    ids.add(response.json()["id"])
    return ids, clients


async def left_within(api: Api, ids: set[str], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    room = api.server.directory.rooms["command"]
    while ids & set(room.participants):
        assert time.monotonic() < deadline, {
            i: room.participants[i] for i in ids & set(room.participants)
        }
        await asyncio.sleep(0.05)


async def test_revoking_a_link_removes_its_sessions_legs_and_sources_at_once(api: Api) -> None:
    own = (await api.join()).rsplit("/", 1)[1]
    link = await mint(api, role="operator")
    ended: list[Any] = []
    api.server.bus.listen(
        lambda event: ended.append(event) if event.type == "join-link.ended" else None
    )
    ids, clients = await bring_in(api, link["token"])
    try:
        assert ids <= set(api.server.directory.rooms["command"].participants)
        response = await api.as_role("commander", "DELETE", f"/api/v1/join-links/{link['id']}")
        assert response.status_code == 204
        await left_within(api, ids, 0.5)  # the revoke itself removed them
    finally:
        for client in clients:
            await client.close()
    assert own in api.server.directory.rooms["command"].participants
    assert [(e.room, e.data["link"], e.data["reason"], set(e.data["left"])) for e in ended] == [
        ("command", link["id"], "link-revoked", ids)
    ]


async def test_an_expired_link_loses_its_sessions_legs_and_sources_within_seconds(
    api: Api,
) -> None:
    own = (await api.join()).rsplit("/", 1)[1]
    link = store_link(api, role="operator", minutes=1, now=time.time() - 52)  # 8 s left
    ids, clients = await bring_in(api, link.token)
    try:
        assert time.time() < link.expires and ids <= set(
            api.server.directory.rooms["command"].participants
        )
        await asyncio.sleep(max(0.0, link.expires - time.time()))
        await left_within(api, ids, 2.5)
    finally:
        for client in clients:
            await client.close()
    assert own in api.server.directory.rooms["command"].participants
