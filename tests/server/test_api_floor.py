"""The floor over HTTP: PTT request and release, queue and pre-emption, revoke by role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from mediacore.room import RoomSettings
from tests.server.test_api import SDP, Api, assert_error, make_config, running
from tests.webrtc.clients import Client

FLOOR = "/api/v1/rooms/command/floor"


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running(make_config(tmp_path)) as started:
        yield started


async def press(api: Api, participant: str, action: str = "request", **extra: Any) -> Any:
    response = await api.admin(
        "POST", FLOOR, json={"participant": participant, "action": action, **extra}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def joined(api: Api, count: int) -> list[str]:
    return [(await api.join(name=f"leg{i}")).rsplit("/", 1)[1] for i in range(count)]


async def test_request_grants_a_free_floor_and_release_frees_it(api: Api) -> None:
    a, b = await joined(api, 2)
    assert await press(api, a) == {"result": "granted", "holder": a}
    state = (await api.admin("GET", FLOOR)).json()
    assert state["holder"] == a and state["since"].endswith("Z") and state["queue"] == []
    assert state["source"] == "api"
    roster = {
        p["id"]: p for p in (await api.admin("GET", "/api/v1/rooms/command/participants")).json()
    }
    assert roster[a]["has_floor"] and not roster[b]["has_floor"]
    denied = await press(api, b)
    assert denied == {"result": "denied", "holder": a, "reason": "busy"}
    assert await press(api, b, "release") == {"result": "not-holder", "holder": a}
    assert await press(api, a, "release") == {"result": "released", "holder": None}
    assert (await api.admin("GET", FLOOR)).json()["holder"] is None


async def test_higher_priority_pre_empts_and_a_queue_room_queues(api: Api) -> None:
    await api.admin("PATCH", "/api/v1/rooms/command", json={"floor": "queue"})
    a, b, c = await joined(api, 3)
    await press(api, a)
    assert await press(api, b) == {"result": "queued", "holder": a, "position": 1}
    assert await press(api, c, priority=3) == {"result": "granted", "holder": c}
    queue = (await api.admin("GET", FLOOR)).json()["queue"]
    assert [entry["participant"] for entry in queue] == [b]
    assert await press(api, c, "release") == {"result": "released", "holder": b}


async def test_revoke_takes_the_permission_to_control_participants(api: Api) -> None:
    (a,) = await joined(api, 1)
    await press(api, a)
    body = {"participant": a, "action": "revoke"}
    expert = await api.as_role("expert", "POST", FLOOR, json=body)
    assert_error(expert, 403, "forbidden")
    assert (await api.admin("POST", FLOOR, json=body)).json() == {
        "result": "revoked",
        "holder": None,
    }


async def published(api: Api, role: str) -> tuple[str, Client]:
    """A WHIP publisher joined by `role`: its participant id and its client (to close)."""
    client = Client(440.0, receive=False)
    response = await api.as_role(
        role, "POST", "/api/v1/rooms/command/whip", content=await client.offer(), headers=SDP
    )
    assert response.status_code == 201, response.text
    return response.headers["location"].rsplit("/", 1)[1], client


async def test_experts_talk_for_their_own_participant_only_and_reviewers_not_at_all(
    api: Api,
) -> None:
    """The attack: an expert's token asks the floor, at emergency priority, for a participant
    someone else created (a commander's phone), or releases it for them."""
    (phone,) = await joined(api, 1)
    mine, client = await published(api, "expert")
    try:

        async def expert(participant: str, action: str = "request", **extra: Any) -> Any:
            body = {"participant": participant, "action": action, **extra}
            return await api.as_role("expert", "POST", FLOOR, json=body)

        assert_error(await expert(phone), 403, "not-yours")
        assert_error(await expert(phone, priority=3), 403, "not-yours")
        assert await press(api, phone) == {"result": "granted", "holder": phone}
        assert_error(await expert(phone, "release"), 403, "not-yours")
        assert api.server.directory.get("command").floor.holder == phone
        assert await press(api, phone, "release") == {"result": "released", "holder": None}

        assert_error(await expert(mine, priority=3), 403, "priority-too-high")
        granted = await expert(mine, priority=1)
        assert granted.json() == {"result": "granted", "holder": mine}
        assert (await expert(mine, "release")).json() == {"result": "released", "holder": None}
        talk = {"participant": mine, "action": "request"}
        assert_error(await api.as_role("reviewer", "POST", FLOOR, json=talk), 403, "forbidden")
    finally:
        await client.close()


async def test_roles_that_may_revoke_act_for_anyone_within_their_priority(api: Api) -> None:
    a, b = await joined(api, 2)
    body = {"participant": a, "action": "request", "priority": 3}
    assert_error(await api.as_role("operator", "POST", FLOOR, json=body), 403, "priority-too-high")
    operator = await api.as_role("operator", "POST", FLOOR, json={**body, "priority": 2})
    assert operator.json() == {"result": "granted", "holder": a}
    commander = await api.as_role(
        "commander", "POST", FLOOR, json={"participant": b, "action": "request", "priority": 3}
    )
    assert commander.json() == {"result": "granted", "holder": b}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"participant": "p-nobody", "action": "request"}, 404),
        ({"participant": "x", "action": "shout"}, 422),
        ({"participant": "x", "action": "request", "priority": 9}, 422),
        ({"action": "request"}, 422),
    ],
)
async def test_bad_floor_requests_are_refused(api: Api, body: dict[str, Any], status: int) -> None:
    assert_error(await api.admin("POST", FLOOR, json=body), status)


async def test_unknown_room_is_404(api: Api) -> None:
    response = await api.admin("GET", "/api/v1/rooms/nowhere/floor")
    assert_error(response, 404, "room-not-found")


async def test_floor_settings_change_live(api: Api) -> None:
    response = await api.admin(
        "PATCH", "/api/v1/rooms/command", json={"floor_hang_ms": 200, "floor_timeout_s": 5}
    )
    assert response.status_code == 200, response.text
    room = api.server.directory.get("command")
    assert (room.floor.settings.hang_ms, room.floor.settings.talk_timeout_s) == (200, 5.0)
    bad = await api.admin("PATCH", "/api/v1/rooms/command", json={"floor_timeout_s": -1})
    assert "floor_timeout_s" in assert_error(bad, 400)
    assert isinstance(room.settings, RoomSettings)


async def test_phones_in_ptt_mode_talk_with_star_and_stop_with_hash(api: Api) -> None:
    half, full = await joined(api, 2)
    await api.admin("PATCH", f"/api/v1/rooms/command/participants/{half}", json={"duplex": "half"})
    room = api.server.directory.get("command")
    room.dtmf_pressed(room.get(full), "*")  # a full-duplex phone's * is just a digit
    assert room.floor.holder is None
    room.dtmf_pressed(room.get(half), "*")
    assert room.floor.holder == half and room.floor.holder_source == "dtmf"
    room.dtmf_pressed(room.get(half), "#")
    assert room.floor.holder is None


async def test_floor_shows_in_metrics(api: Api) -> None:
    (a,) = await joined(api, 1)
    await press(api, a)
    text = (await api.admin("GET", "/metrics")).text
    assert 'mediacore_floor_held{room="command"} 1.0' in text
    assert 'mediacore_floor_events_total{event="floor.granted",room="command"} 1.0' in text


async def test_a_holder_raising_its_priority_re_keys_the_radios(api: Api) -> None:
    (a,) = await joined(api, 1)
    room = api.server.directory.get("command")
    told: list[tuple[str | None, int]] = []
    other = room.get(a).endpoint
    other.floor_changed = lambda holder, priority: told.append((holder, priority))  # type: ignore[method-assign]
    await press(api, a)
    await press(api, a, priority=3)
    assert told == [(a, 0), (a, 3)]
