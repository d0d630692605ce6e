"""The HTTP API in-process: FastAPI app + MediaServer behind httpx's ASGI transport."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from bench.sipprun import free_sip_port
from mediacore.server.app import MediaServer, create_app
from mediacore.server.config import Config, OutboundSection, RtpSection, ServerSection, TokenEntry
from sip.settings import SipSettings

ROLES = ("admin", "commander", "operator", "expert", "reviewer")
TOKENS = {role: f"{role}-token-for-tests" for role in ROLES}
SDP = {"content-type": "application/sdp"}
ROSTER_FIELDS = {
    "id",
    "name",
    "kind",
    "duplex",
    "priority",
    "muted",
    "deaf",
    "talking",
    "level_db",
    "has_floor",
    "codec",
}


def offer(
    formats: str = "0",
    rtpmaps: tuple[str, ...] = ("0 PCMU/8000",),
    *,
    port: int = 40000,
    ptime: int | None = 20,
    extra: str = "",
) -> str:
    lines = [
        "v=0",
        "o=- 1 1 IN IP4 127.0.0.1",
        "s=-",
        "c=IN IP4 127.0.0.1",
        "t=0 0",
        f"m=audio {port} RTP/AVP {formats}",
        *(f"a=rtpmap:{rtpmap}" for rtpmap in rtpmaps),
    ]
    if ptime is not None:
        lines.append(f"a=ptime:{ptime}")
    if extra:
        lines.append(extra)
    return "\r\n".join(lines) + "\r\n"


PCMU_OFFER = offer()


def make_config(data_dir: Path, *, public_address: str = "") -> Config:
    return Config(
        server=ServerSection(host="127.0.0.1", data_dir=str(data_dir)),
        rtp=RtpSection(port_min=41000, port_max=41999, public_address=public_address),
        # A free SIP port: test runs side by side must not fight over 5060.
        sip=SipSettings(port=free_sip_port()),
        tokens=tuple(TokenEntry(token, role, f"{role} user") for role, token in TOKENS.items()),
        outbound=OutboundSection(allow_loopback=True),  # test cameras listen on loopback
    )


@dataclass
class Api:
    app: FastAPI
    server: MediaServer
    http: httpx.AsyncClient

    async def as_role(self, role: str | None, method: str, url: str, **kwargs: Any):
        headers = dict(kwargs.pop("headers", {}) or {})
        if role is not None:
            headers["Authorization"] = f"Bearer {TOKENS[role]}"
        return await self.http.request(method, url, headers=headers, **kwargs)

    async def admin(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return await self.as_role("admin", method, url, **kwargs)

    async def join(self, body: str = PCMU_OFFER, room: str = "command", **query: Any) -> str:
        """Adds an RTP leg; returns its participant URL."""
        response = await self.admin(
            "POST", f"/api/v1/rooms/{room}/rtp", content=body, headers=SDP, params=query
        )
        assert response.status_code == 201, response.text
        return response.headers["location"]


@asynccontextmanager
async def running(config: Config) -> AsyncIterator[Api]:
    server = MediaServer(config)
    app = create_app(server)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            yield Api(app, server, http)


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running(make_config(tmp_path)) as started:
        yield started


# Refused requests change nothing, so the many cases of a test that checks a refusal (and that
# nothing changed) share one server, on the module's event loop: starting one takes longer
# than the requests themselves.
REFUSALS = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def unchanged_api(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    async with running(make_config(tmp_path_factory.mktemp("refusals"))) as started:
        yield started


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> str:
    """The contract's error shape; returns the detail."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "detail"}, body
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["detail"], str) and body["detail"]
    if code is not None:
        assert body["error"] == code, body
    return body["detail"]


# -- health and auth --------------------------------------------------------------------------


async def test_health_answers_ok_without_auth(api: Api) -> None:
    response = await api.http.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_health_answers_503_starting_before_the_server_started(tmp_path: Path) -> None:
    app = create_app(MediaServer(make_config(tmp_path)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        response = await http.get("/api/v1/health")
    assert response.status_code == 503
    assert response.json() == {"status": "starting"}


@REFUSALS
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": "Bearer "},
        {"Authorization": f"Basic {TOKENS['admin']}"},
        {"Authorization": TOKENS["admin"]},
    ],
    ids=["none", "wrong", "empty", "basic-scheme", "no-scheme"],
)
@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/api/v1/rooms"),
        ("POST", "/api/v1/rooms"),
        ("GET", "/api/v1/rooms/command"),
        ("DELETE", "/api/v1/rooms/command"),
        ("POST", "/api/v1/rooms/command/rtp"),
        ("POST", "/api/v1/rooms/no-such-room/rtp"),
    ],
)
async def test_requests_without_a_valid_bearer_token_get_401_json(
    unchanged_api: Api, headers: dict[str, str], method: str, url: str
) -> None:
    response = await unchanged_api.http.request(method, url, headers=headers, json={"name": "x"})
    assert_error(response, 401, "unauthorized")
    assert "command" in unchanged_api.server.directory.rooms  # nothing happened


async def test_bearer_scheme_is_case_insensitive(api: Api) -> None:
    response = await api.http.get(
        "/api/v1/rooms", headers={"Authorization": f"bearer {TOKENS['expert']}"}
    )
    assert response.status_code == 200


@REFUSALS
@pytest.mark.parametrize(
    ("role", "method", "url", "kwargs"),
    [
        ("expert", "POST", "/api/v1/rooms", {"json": {"name": "nope"}}),
        ("operator", "POST", "/api/v1/rooms", {"json": {"name": "nope"}}),
        ("reviewer", "GET", "/api/v1/rooms", {}),
        ("reviewer", "GET", "/api/v1/rooms/command", {}),
        ("reviewer", "GET", "/api/v1/rooms/command/participants", {}),
        ("operator", "DELETE", "/api/v1/rooms/command", {}),
        ("expert", "PATCH", "/api/v1/rooms/command", {"json": {"max_talkers": 2}}),
        ("expert", "POST", "/api/v1/rooms/command/rtp", {"content": PCMU_OFFER, "headers": SDP}),
        ("reviewer", "POST", "/api/v1/rooms/command/rtp", {"content": PCMU_OFFER, "headers": SDP}),
    ],
)
async def test_role_without_the_permission_gets_403_json(
    unchanged_api: Api, role: str, method: str, url: str, kwargs: dict[str, Any]
) -> None:
    response = await unchanged_api.as_role(role, method, url, **kwargs)
    detail = assert_error(response, 403, "forbidden")
    assert role in detail
    assert "nope" not in unchanged_api.server.directory.rooms
    assert "command" in unchanged_api.server.directory.rooms
    assert unchanged_api.server.directory.rooms["command"].participants == {}
    assert unchanged_api.server.directory.rooms["command"].settings.max_talkers == 4


@pytest.mark.parametrize("role", ["expert", "reviewer"])
async def test_role_without_participants_write_cannot_change_or_kick(api: Api, role: str) -> None:
    url = await api.join()
    assert_error(await api.as_role(role, "PATCH", url, json={"muted": True}), 403, "forbidden")
    assert_error(await api.as_role(role, "DELETE", url), 403, "forbidden")
    assert (await api.admin("GET", url)).json()["muted"] is False


@pytest.mark.parametrize("role", ["admin", "commander", "operator", "expert"])
async def test_every_role_with_rooms_read_lists_rooms(api: Api, role: str) -> None:
    response = await api.as_role(role, "GET", "/api/v1/rooms")
    assert response.status_code == 200
    assert [room["name"] for room in response.json()] == ["command"]


async def test_operator_may_join_legs_and_change_participants(api: Api) -> None:
    response = await api.as_role(
        "operator", "POST", "/api/v1/rooms/command/rtp", content=PCMU_OFFER, headers=SDP
    )
    assert response.status_code == 201, response.text
    url = response.headers["location"]
    changed = await api.as_role("operator", "PATCH", url, json={"muted": True})
    assert changed.status_code == 200 and changed.json()["muted"] is True
    assert (await api.as_role("operator", "DELETE", url)).status_code == 204


async def test_commander_may_create_and_close_rooms(api: Api) -> None:
    created = await api.as_role("commander", "POST", "/api/v1/rooms", json={"name": "fire-2"})
    assert created.status_code == 201
    assert (await api.as_role("commander", "DELETE", "/api/v1/rooms/fire-2")).status_code == 204


async def test_unknown_route_and_method_give_json_errors(api: Api) -> None:
    assert_error(await api.admin("GET", "/api/v1/nothing-here"), 404, "not-found")
    assert_error(await api.admin("PUT", "/api/v1/rooms"), 405, "method-not-allowed")


# -- rooms ------------------------------------------------------------------------------------


async def test_default_room_command_is_listed_with_its_settings_and_clock(api: Api) -> None:
    (room,) = (await api.admin("GET", "/api/v1/rooms")).json()
    assert room["name"] == "command"
    assert room["ptime"] == 20 and room["rate"] == 48000 and room["floor"] == "deny"
    assert room["participants"] == 0
    assert set(room["clock"]) >= {"ticks", "late_ticks", "skipped_ticks", "max_lateness_ms"}


async def test_room_clock_ticks_while_the_app_runs(api: Api) -> None:
    before = (await api.admin("GET", "/api/v1/rooms/command")).json()["clock"]["ticks"]
    await asyncio.sleep(0.15)
    after = (await api.admin("GET", "/api/v1/rooms/command")).json()["clock"]["ticks"]
    assert after >= before + 3


async def test_create_room_answers_201_with_location_and_it_can_be_read(api: Api) -> None:
    response = await api.admin(
        "POST",
        "/api/v1/rooms",
        json={"name": "fire-1", "ptime": 10, "rate": 16000, "floor": "queue"},
    )
    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/api/v1/rooms/fire-1"
    body = response.json()
    assert (body["name"], body["ptime"], body["rate"], body["floor"]) == (
        "fire-1",
        10,
        16000,
        "queue",
    )
    read = await api.admin("GET", response.headers["location"])
    assert read.status_code == 200
    assert read.json()["name"] == "fire-1"
    names = [room["name"] for room in (await api.admin("GET", "/api/v1/rooms")).json()]
    assert sorted(names) == ["command", "fire-1"]


async def test_create_room_with_only_a_name_uses_default_settings(api: Api) -> None:
    body = (await api.admin("POST", "/api/v1/rooms", json={"name": "a.b_c-9"})).json()
    assert (body["ptime"], body["rate"], body["floor"], body["max_talkers"]) == (
        20,
        48000,
        "deny",
        4,
    )


async def test_joining_a_full_room_is_409_room_full(api: Api) -> None:
    await api.admin("PATCH", "/api/v1/rooms/command", json={"max_participants": 1})
    await api.join()
    response = await api.admin("POST", "/api/v1/rooms/command/rtp", content=PCMU_OFFER, headers=SDP)
    assert "full" in assert_error(response, 409, "room-full")


async def test_creating_an_existing_room_is_409(api: Api) -> None:
    assert_error(
        await api.admin("POST", "/api/v1/rooms", json={"name": "command"}), 409, "room-exists"
    )


@REFUSALS
@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"name": "bad name"}, 400, "room names"),
        ({"name": "ünï"}, 400, "room names"),
        ({"name": "a/b"}, 400, "room names"),
        ({"name": "x" * 65}, 400, "room names"),
        ({"name": ""}, 400, "room names"),
        ({}, 422, "name"),
        ({"name": "r", "ptime": 30}, 400, "ptime"),
        ({"name": "r", "ptime": "often"}, 422, "ptime"),
        ({"name": "r", "rate": 44100}, 400, "rate"),
        ({"name": "r", "floor": "grab"}, 422, "floor"),
        ({"name": "r", "max_talkers": 0}, 400, "max_talkers"),
        ({"name": "r", "max_participants": 0}, 400, "max_participants"),
        ({"name": "r", "max_participants": 2001}, 400, "max_participants"),
        ({"name": "r", "talk_on_dbfs": -60, "talk_off_dbfs": -50}, 400, "talk_off_dbfs"),
        ({"name": "r", "talk_hang_ms": -1}, 400, "talk_hang_ms"),
        ({"name": "r", "colour": "red"}, 422, "colour"),
    ],
)
async def test_bad_room_creation_is_rejected_with_a_message_naming_the_problem(
    unchanged_api: Api, body: dict[str, Any], status: int, fragment: str
) -> None:
    detail = assert_error(await unchanged_api.admin("POST", "/api/v1/rooms", json=body), status)
    assert fragment in detail
    assert list(unchanged_api.server.directory.rooms) == ["command"]


@REFUSALS
@pytest.mark.parametrize("body", ["[]", "null", '"room"', "{", "not json"])
async def test_room_creation_with_a_non_object_body_is_422(unchanged_api: Api, body: str) -> None:
    response = await unchanged_api.admin(
        "POST", "/api/v1/rooms", content=body, headers={"content-type": "application/json"}
    )
    assert_error(response, 422, "invalid-request")


@pytest.mark.parametrize(
    "body",
    [
        '{"name": "r", "talk_on_dbfs": NaN}',
        '{"name": "r", "talk_off_dbfs": -Infinity}',
        '{"name": "r", "talk_on_dbfs": Infinity}',
    ],
)
async def test_room_with_non_finite_talk_threshold_is_rejected(api: Api, body: str) -> None:
    response = await api.admin(
        "POST", "/api/v1/rooms", content=body, headers={"content-type": "application/json"}
    )
    assert_error(response, response.status_code)
    assert response.status_code in (400, 422)
    assert "r" not in api.server.directory.rooms


@pytest.mark.parametrize("name", [".", ".."])
async def test_dot_room_names_are_rejected(api: Api, name: str) -> None:
    assert_error(await api.admin("POST", "/api/v1/rooms", json={"name": name}), 400, "bad-room")


async def test_patch_room_changes_live_settings(api: Api) -> None:
    response = await api.admin(
        "PATCH",
        "/api/v1/rooms/command",
        json={"floor": "queue", "max_talkers": 2, "talk_on_dbfs": -40, "talk_hang_ms": 200},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["floor"], body["max_talkers"], body["talk_on_dbfs"], body["talk_hang_ms"]) == (
        "queue",
        2,
        -40.0,
        200,
    )
    room = api.server.directory.rooms["command"]
    assert room.settings.max_talkers == 2
    assert room.mixer.settings.max_talkers == 2
    assert (await api.admin("GET", "/api/v1/rooms/command")).json()["floor"] == "queue"


@pytest.mark.parametrize("change", [{"ptime": 10}, {"rate": 16000}, {"name": "other"}])
async def test_patch_of_a_fixed_room_setting_is_rejected_and_changes_nothing(
    api: Api, change: dict[str, Any]
) -> None:
    response = await api.admin("PATCH", "/api/v1/rooms/command", json=change)
    detail = assert_error(response, 422)
    assert next(iter(change)) in detail
    settings = api.server.directory.rooms["command"].settings
    assert (settings.name, settings.ptime, settings.rate) == ("command", 20, 48000)


async def test_patch_room_with_inconsistent_thresholds_is_400_and_keeps_old_settings(
    api: Api,
) -> None:
    response = await api.admin("PATCH", "/api/v1/rooms/command", json={"talk_off_dbfs": -10})
    assert "talk_off_dbfs" in assert_error(response, 400, "bad-room")
    assert api.server.directory.rooms["command"].settings.talk_off_dbfs == -55.0


async def test_patch_unknown_room_is_404(api: Api) -> None:
    response = await api.admin("PATCH", "/api/v1/rooms/nope", json={"max_talkers": 2})
    assert_error(response, 404, "room-not-found")


async def test_delete_room_answers_204_then_404(api: Api) -> None:
    url = await api.join()
    leg_port = api.server.directory.ports.in_use
    assert leg_port == 1
    response = await api.admin("DELETE", "/api/v1/rooms/command")
    assert response.status_code == 204
    assert response.content == b""
    assert_error(await api.admin("GET", "/api/v1/rooms/command"), 404, "room-not-found")
    assert_error(await api.admin("GET", url), 404, "room-not-found")
    assert_error(await api.admin("DELETE", "/api/v1/rooms/command"), 404, "room-not-found")
    assert api.server.directory.ports.in_use == 0  # its legs were closed
    assert (await api.admin("GET", "/api/v1/rooms")).json() == []


# -- plain RTP legs ---------------------------------------------------------------------------


async def test_pcmu_offer_gets_201_with_an_sdp_answer_and_a_location(api: Api) -> None:
    response = await api.admin("POST", "/api/v1/rooms/command/rtp", content=PCMU_OFFER, headers=SDP)
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/sdp")
    answer = response.text
    assert answer.startswith("v=0\r\n")
    assert "c=IN IP4 127.0.0.1\r\n" in answer
    assert "a=rtpmap:0 PCMU/8000\r\n" in answer
    media = next(line for line in answer.split("\r\n") if line.startswith("m=audio "))
    port = int(media.split()[1])
    assert 41000 <= port <= 41999
    assert media.split()[3:] == ["0"]
    location = response.headers["location"]
    assert location.startswith("/api/v1/rooms/command/participants/")
    participant = await api.admin("GET", location)
    assert participant.status_code == 200
    body = participant.json()
    assert body["id"] == location.rsplit("/", 1)[1]
    assert body["codec"] == "PCMU/8000"
    assert body["kind"] == "rtp"
    assert "statistics" in body


async def test_leg_appears_in_the_roster_with_the_contract_fields(api: Api) -> None:
    url = await api.join(name="radio-room", duplex="half", priority=2)
    roster = (await api.admin("GET", "/api/v1/rooms/command/participants")).json()
    (entry,) = roster
    assert set(entry) >= ROSTER_FIELDS
    assert entry["id"] == url.rsplit("/", 1)[1]
    assert (entry["name"], entry["duplex"], entry["priority"]) == ("radio-room", "half", 2)
    assert (entry["muted"], entry["deaf"], entry["has_floor"]) == (False, False, False)
    room = (await api.admin("GET", "/api/v1/rooms/command")).json()
    assert room["participants"] == 1


async def test_offerers_codec_order_picks_the_codec(api: Api) -> None:
    body = offer("8 0", ("8 PCMA/8000", "0 PCMU/8000"))
    response = await api.admin("POST", "/api/v1/rooms/command/rtp", content=body, headers=SDP)
    assert response.status_code == 201
    assert "a=rtpmap:8 PCMA/8000" in response.text
    assert "PCMU" not in response.text
    assert (await api.admin("GET", response.headers["location"])).json()["codec"] == "PCMA/8000"


async def test_sdp_content_type_with_parameters_is_accepted(api: Api) -> None:
    response = await api.admin(
        "POST",
        "/api/v1/rooms/command/rtp",
        content=PCMU_OFFER,
        headers={"content-type": "Application/SDP; charset=utf-8"},
    )
    assert response.status_code == 201, response.text


async def test_configured_public_address_is_written_into_the_answer(tmp_path: Path) -> None:
    async with running(make_config(tmp_path, public_address="192.0.2.10")) as started:
        response = await started.admin(
            "POST", "/api/v1/rooms/command/rtp", content=PCMU_OFFER, headers=SDP
        )
    assert response.status_code == 201
    assert "c=IN IP4 192.0.2.10\r\n" in response.text


async def test_each_leg_gets_its_own_port(api: Api) -> None:
    ports = set()
    for _ in range(3):
        response = await api.admin(
            "POST", "/api/v1/rooms/command/rtp", content=PCMU_OFFER, headers=SDP
        )
        media = next(line for line in response.text.split("\r\n") if line.startswith("m="))
        ports.add(int(media.split()[1]))
    assert len(ports) == 3
    assert api.server.directory.ports.in_use == 3


@pytest.mark.parametrize("content_type", ["text/plain", "application/json", "application/sdpx"])
async def test_offer_with_the_wrong_content_type_is_415(api: Api, content_type: str) -> None:
    response = await api.admin(
        "POST",
        "/api/v1/rooms/command/rtp",
        content=PCMU_OFFER,
        headers={"content-type": content_type},
    )
    assert_error(response, 415, "unsupported-media-type")


async def test_offer_without_a_content_type_is_415(api: Api) -> None:
    response = await api.admin("POST", "/api/v1/rooms/command/rtp", content=PCMU_OFFER.encode())
    assert_error(response, 415, "unsupported-media-type")


async def test_empty_offer_is_400(api: Api) -> None:
    response = await api.admin("POST", "/api/v1/rooms/command/rtp", content=b"", headers=SDP)
    assert_error(response, 400)


@pytest.mark.parametrize(
    "body",
    [b"garbage", b"v=1\r\n", b"\xff\xfe\x00", b"v=0\r\no=broken\r\n", PCMU_OFFER.encode()[:40]],
)
async def test_garbage_sdp_is_400_bad_sdp(api: Api, body: bytes) -> None:
    response = await api.admin("POST", "/api/v1/rooms/command/rtp", content=body, headers=SDP)
    assert_error(response, 400, "bad-sdp")


@REFUSALS
@pytest.mark.parametrize(
    ("body", "code"),
    [
        (offer("3", ("3 GSM/8000",)), "no-common-codec"),
        (offer("3", ()), "no-common-codec"),
        (offer(ptime=7), "bad-ptime"),
        (offer(port=0), "rejected"),
        (offer().replace("m=audio", "m=video"), "no-audio"),
        (offer().replace("RTP/AVP", "RTP/SAVP"), "no-srtp"),  # SAVP without a=crypto
        (offer().replace("c=IN IP4 127.0.0.1\r\n", ""), "bad-address"),
        (offer().replace("IN IP4 127.0.0.1\r\nt=", "IN IP4 example.com\r\nt="), "bad-address"),
    ],
    ids=[
        "only-gsm",
        "only-static-gsm",
        "ptime-7",
        "port-0",
        "video-only",
        "srtp-without-crypto",
        "no-connection",
        "hostname",
    ],
)
async def test_unusable_offer_is_400_with_a_reason_and_takes_no_port(
    unchanged_api: Api, body: str, code: str
) -> None:
    response = await unchanged_api.admin(
        "POST", "/api/v1/rooms/command/rtp", content=body, headers=SDP
    )
    assert_error(response, 400, code)
    assert unchanged_api.server.directory.ports.in_use == 0
    assert unchanged_api.server.directory.rooms["command"].participants == {}


async def test_offer_over_16_kib_is_413(api: Api) -> None:
    body = PCMU_OFFER + "a=x-padding:" + "p" * (16 * 1024) + "\r\n"
    response = await api.admin("POST", "/api/v1/rooms/command/rtp", content=body, headers=SDP)
    assert_error(response, 413, "too-large")


async def test_streamed_offer_over_16_kib_without_length_is_413(api: Api) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"a" * 1024

    response = await api.admin("POST", "/api/v1/rooms/command/rtp", content=chunks(), headers=SDP)
    assert_error(response, 413, "too-large")


async def test_offer_of_exactly_16_kib_is_not_too_large(api: Api) -> None:
    body = PCMU_OFFER.encode()
    while 16 * 1024 - len(body) > 1014:  # SDP lines are limited to 4096 characters
        body += b"a=x-padding:" + b"p" * 1000 + b"\r\n"
    body += b"a=x-padding:" + b"p" * (16 * 1024 - len(body) - 14) + b"\r\n"
    assert len(body) == 16 * 1024
    response = await api.admin("POST", "/api/v1/rooms/command/rtp", content=body, headers=SDP)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("radio", ["vox", "ed137"])
async def test_radio_legs_join_half_duplex_as_kind_radio(api: Api, radio: str) -> None:
    location = await api.join(radio=radio, name=f"{radio} gateway")
    entry = (await api.admin("GET", location)).json()
    assert (entry["kind"], entry["duplex"], entry["radio"]) == ("radio", "half", radio)
    assert entry["has_floor"] is False and entry["squelch"] is False


async def test_ed137_answer_carries_the_radio_attributes_and_keepalive_type(api: Api) -> None:
    radio = (
        "a=type:Radio-Rxonly\r\na=txrxmode:Rx\r\n"
        "a=R2S-KeepAlivePeriod:100\r\na=R2S-KeepAliveMultiplier:5"
    )
    gateway_offer = offer("0 123", ("0 PCMU/8000", "123 R2S/8000"), extra=radio)
    response = await api.admin(
        "POST", "/api/v1/rooms/command/rtp", params={"radio": "ed137"}, content=gateway_offer,
        headers=SDP,
    )  # fmt: skip
    assert response.status_code == 201, response.text
    answer = response.text
    assert "a=type:Radio-Rxonly" in answer and "a=R2S-KeepAlivePeriod:100" in answer
    assert "a=rtpmap:123 R2S/8000" in answer
    entry = (await api.admin("GET", response.headers["location"])).json()
    assert entry["radio_type"] == "Radio-Rxonly"


async def test_bad_radio_sdp_is_400(api: Api) -> None:
    bad_offer = offer(extra="a=type:Radio-TxRx\r\na=R2S-KeepAlivePeriod:0")
    response = await api.admin(
        "POST", "/api/v1/rooms/command/rtp", params={"radio": "ed137"}, content=bad_offer,
        headers=SDP,
    )  # fmt: skip
    assert "KeepAlivePeriod" in assert_error(response, 400, "bad-sdp")
    assert api.server.directory.ports.in_use == 0


async def test_offer_to_an_unknown_room_is_404(api: Api) -> None:
    response = await api.admin(
        "POST", "/api/v1/rooms/no-such-room/rtp", content=PCMU_OFFER, headers=SDP
    )
    assert_error(response, 404, "room-not-found")


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ({"priority": 4}, "priority"),
        ({"priority": -1}, "priority"),
        ({"priority": "high"}, "priority"),
        ({"duplex": "simplex"}, "duplex"),
        ({"radio": "cb"}, "radio"),
        ({"name": "n" * 129}, "name"),
    ],
)
async def test_bad_leg_query_is_422_naming_the_parameter(
    api: Api, query: dict[str, Any], fragment: str
) -> None:
    response = await api.admin(
        "POST", "/api/v1/rooms/command/rtp", params=query, content=PCMU_OFFER, headers=SDP
    )
    assert fragment in assert_error(response, 422, "invalid-request")
    assert api.server.directory.ports.in_use == 0


# -- participants -----------------------------------------------------------------------------


async def test_patch_participant_changes_muted_deaf_and_priority(api: Api) -> None:
    url = await api.join()
    response = await api.admin("PATCH", url, json={"muted": True, "deaf": True, "priority": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["muted"], body["deaf"], body["priority"]) == (True, True, 3)
    again = (await api.admin("GET", url)).json()
    assert (again["muted"], again["deaf"], again["priority"]) == (True, True, 3)
    back = (await api.admin("PATCH", url, json={"muted": False})).json()
    assert (back["muted"], back["deaf"]) == (False, True)


async def test_patch_participant_changes_gain_duplex_and_name(api: Api) -> None:
    url = await api.join()
    body = (
        await api.admin("PATCH", url, json={"gain_db": -6.5, "duplex": "half", "name": "Unit 7"})
    ).json()
    assert (body["gain_db"], body["duplex"], body["name"]) == (-6.5, "half", "Unit 7")


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"priority": 9}, "priority"),
        ({"priority": -1}, "priority"),
        ({"gain_db": 30}, "gain_db"),
        ({"duplex": "simplex"}, "duplex"),
        ({"muted": "perhaps"}, "muted"),
        ({"name": ""}, "name"),
        ({"volume": 3}, "volume"),
        ({"id": "p-other"}, "id"),
    ],
)
async def test_bad_participant_patch_is_422_and_changes_nothing(
    api: Api, change: dict[str, Any], fragment: str
) -> None:
    url = await api.join()
    before = (await api.admin("GET", url)).json()
    response = await api.admin("PATCH", url, json=change)
    assert fragment in assert_error(response, 422, "invalid-request")
    after = (await api.admin("GET", url)).json()
    for key in ("id", "name", "priority", "gain_db", "duplex", "muted"):
        assert after[key] == before[key]


async def test_patch_or_delete_unknown_participant_is_404(api: Api) -> None:
    url = "/api/v1/rooms/command/participants/p-0000000000"
    assert_error(await api.admin("PATCH", url, json={"muted": True}), 404, "participant-not-found")
    assert_error(await api.admin("DELETE", url), 404, "participant-not-found")
    assert_error(await api.admin("GET", url), 404, "participant-not-found")


async def test_participant_in_unknown_room_is_404_room_not_found(api: Api) -> None:
    url = "/api/v1/rooms/nope/participants/p-0000000000"
    assert_error(await api.admin("PATCH", url, json={"muted": True}), 404, "room-not-found")
    assert_error(await api.admin("GET", "/api/v1/rooms/nope/participants"), 404, "room-not-found")


async def test_kick_answers_204_then_the_participant_is_gone(api: Api) -> None:
    url = await api.join()
    other = await api.join()
    assert api.server.directory.ports.in_use == 2
    response = await api.admin("DELETE", url)
    assert response.status_code == 204
    assert response.content == b""
    assert_error(await api.admin("GET", url), 404, "participant-not-found")
    assert_error(await api.admin("DELETE", url), 404, "participant-not-found")
    roster = (await api.admin("GET", "/api/v1/rooms/command/participants")).json()
    assert [entry["id"] for entry in roster] == [other.rsplit("/", 1)[1]]
    assert api.server.directory.ports.in_use == 1  # the kicked leg's port is free again


# -- metrics and documentation ----------------------------------------------------------------


async def test_metrics_expose_clock_mixer_and_leg_series(api: Api) -> None:
    participant = (await api.join()).rsplit("/", 1)[1]
    await asyncio.sleep(0.1)  # let the room tick, so the mix histogram has samples
    response = await api.admin("GET", "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'mediacore_ticks_total{room="command"}' in text
    assert 'mediacore_late_ticks_total{room="command"}' in text
    assert "mediacore_leg_jitter_seconds{" in text
    assert f'participant="{participant}"' in text
    assert 'mediacore_mix_seconds_count{room="command"}' in text
    ticks = next(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith('mediacore_ticks_total{room="command"}')
    )
    assert ticks >= 1


async def test_metrics_drop_a_kicked_leg(api: Api) -> None:
    url = await api.join()
    participant = url.rsplit("/", 1)[1]
    assert participant in (await api.admin("GET", "/metrics")).text
    await api.admin("DELETE", url)
    assert participant not in (await api.admin("GET", "/metrics")).text


async def test_openapi_document_and_docs_page_are_served_to_token_holders_when_on(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path)
    config = replace(config, server=replace(config.server, api_docs=True))
    async with running(config) as api:
        for path in ("/api/openapi.json", "/api/docs"):
            assert_error(await api.http.get(path), 401, "unauthorized")
        await _assert_docs_served(api)


async def _assert_docs_served(api: Api) -> None:
    spec = await api.as_role("expert", "GET", "/api/openapi.json")
    assert spec.status_code == 200
    document = spec.json()
    assert document["info"]["title"] == "mediacore"
    paths = document["paths"]
    assert "/api/v1/rooms" in paths
    assert "/api/v1/rooms/{room}/rtp" in paths
    rtp = paths["/api/v1/rooms/{room}/rtp"]["post"]
    assert "application/sdp" in rtp["requestBody"]["content"]
    token = TOKENS["expert"]
    docs = await api.http.get("/api/docs", params={"token": token})  # as a browser opens it
    assert docs.status_code == 200
    assert "text/html" in docs.headers["content-type"]
    assert f"/api/openapi.json?token={token}" in docs.text


async def test_ipv6_offer_to_a_server_listening_on_one_ipv4_address_is_refused_clearly(
    api: Api,
) -> None:
    offer = (
        "v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"
    )
    response = await api.admin(
        "POST",
        "/api/v1/rooms/command/rtp",
        content=offer,
        headers={"content-type": "application/sdp"},
    )
    assert_error(response, 400, "bad-address")
    assert "IPv6" in response.json()["detail"]
