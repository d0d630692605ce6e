"""Emergency alarms over HTTP, in one process: raised by a priority-3 floor request and by
hand, listed, acknowledged by role, audited, kept across a restart, in recordings' timelines."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mediacore.events import Event
from mediacore.room import RoomSettings
from mediacore.server.alarms import ALARMS_FILE
from mediacore.server.config import Config
from tests.server.test_api import Api, assert_error, make_config, running

ALARMS = "/api/v1/alarms"


def two_rooms(data_dir: Path) -> Config:
    return replace(make_config(data_dir), rooms=(RoomSettings("command"), RoomSettings("north")))


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running(two_rooms(tmp_path)) as started:
        yield started


def alarm_events(api: Api) -> list[Event]:
    seen: list[Event] = []
    api.server.bus.listen(lambda e: seen.append(e) if e.type.startswith("alarm.") else None)
    return seen


async def until(condition: Any, timeout: float = 3.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def emergency_press(api: Api, room: str, participant: str) -> dict[str, Any]:
    body = {"participant": participant, "action": "request", "priority": 3}
    response = await api.admin("POST", f"/api/v1/rooms/{room}/floor", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def active(api: Api, role: str = "admin", **params: str) -> list[dict[str, Any]]:
    response = await api.as_role(role, "GET", ALARMS, params={"state": "active", **params})
    assert response.status_code == 200, response.text
    return list(response.json())


async def test_a_priority_3_floor_request_raises_one_alarm_until_acknowledged(api: Api) -> None:
    seen = alarm_events(api)
    unit = (await api.join(room="north", name="Unit 7")).rsplit("/", 1)[1]
    other = (await api.join(room="north", name="Unit 8")).rsplit("/", 1)[1]
    assert (await emergency_press(api, "north", unit))["result"] == "granted"
    await until(lambda: len(seen) == 1)
    raised = seen[0]
    assert (raised.type, raised.room) == ("alarm.raised", "north")
    assert raised.data["participant"] == unit and raised.data["name"] == "Unit 7"
    assert raised.data["source"] == "api" and raised.data["state"] == "active"
    (listed,) = await active(api, "expert")  # everyone who reads rooms sees it
    assert listed["id"] == raised.data["id"] and listed["room"] == "north"
    # pressing again (after letting go) counts on the same alarm
    await api.admin(
        "POST", "/api/v1/rooms/north/floor", json={"participant": unit, "action": "release"}
    )
    await emergency_press(api, "north", unit)
    await until(lambda: len(seen) == 2)
    assert seen[1].type == "alarm.updated" and seen[1].data["count"] == 2
    assert len(await active(api)) == 1
    # a normal request raises nothing; another participant's emergency is its own alarm
    await api.admin(
        "POST", "/api/v1/rooms/north/floor", json={"participant": other, "action": "request"}
    )
    await asyncio.sleep(0.1)
    assert len(seen) == 2
    response = await api.as_role("operator", "POST", f"{ALARMS}/{listed['id']}/ack")
    assert response.status_code == 200, response.text
    acked = response.json()
    assert acked["state"] == "acknowledged" and acked["acknowledged_by"] == "operator user"
    assert acked["acknowledged_at"].endswith("Z")
    await until(lambda: len(seen) == 3)
    assert seen[2].type == "alarm.acknowledged" and seen[2].room == "north"
    assert seen[2].data["acknowledged_by"] == "operator user"
    assert await active(api) == []
    assert [
        a["id"] for a in (await api.admin("GET", ALARMS, params={"state": "acknowledged"})).json()
    ] == [listed["id"]]


async def test_acknowledging_is_for_dispatchers_once_and_unknown_alarms_are_404(api: Api) -> None:
    response = await api.as_role(
        "operator", "POST", ALARMS, json={"room": "north", "text": "smoke"}
    )
    assert response.status_code == 201, response.text
    alarm = response.json()
    assert alarm["source"] == "manual" and alarm["raised_by"] == "operator user"
    assert alarm["text"] == "smoke" and response.headers["location"] == f"{ALARMS}/{alarm['id']}"
    assert_error(
        await api.as_role("expert", "POST", f"{ALARMS}/{alarm['id']}/ack"), 403, "forbidden"
    )
    assert_error(await api.as_role("reviewer", "GET", ALARMS), 403, "forbidden")
    assert_error(await api.as_role("expert", "POST", ALARMS, json={"room": "north"}), 403)
    assert_error(await api.admin("POST", f"{ALARMS}/al-nothing/ack"), 404, "alarm-not-found")
    assert_error(await api.admin("GET", f"{ALARMS}/al-nothing"), 404, "alarm-not-found")
    assert (
        await api.as_role("commander", "POST", f"{ALARMS}/{alarm['id']}/ack")
    ).status_code == 200
    detail = assert_error(
        await api.admin("POST", f"{ALARMS}/{alarm['id']}/ack"), 409, "already-acknowledged"
    )
    assert "commander user" in detail
    one = (await api.as_role("expert", "GET", f"{ALARMS}/{alarm['id']}")).json()
    assert one["acknowledged_by"] == "commander user"


async def test_the_acknowledgement_is_in_the_audit_log_with_who_and_the_room(api: Api) -> None:
    alarm = (await api.admin("POST", ALARMS, json={"room": "north"})).json()
    await api.as_role("operator", "POST", f"{ALARMS}/{alarm['id']}/ack")
    await api.as_role("expert", "POST", f"{ALARMS}/{alarm['id']}/ack")  # refused: audited too
    found = (await api.admin("GET", "/api/v1/audit", params={"action": "/ack"})).json()
    assert [(e["who"], e["result"]) for e in found] == [
        ("operator user", 200),
        ("expert user", 403),
    ]
    assert found[0]["room"] == "north" and alarm["id"] in found[0]["targets"].values()


async def test_manual_alarms_check_room_participant_and_body(api: Api) -> None:
    unit = (await api.join(room="north", name="Unit 7")).rsplit("/", 1)[1]
    first = await api.admin("POST", ALARMS, json={"room": "north", "participant": unit})
    assert first.status_code == 201 and first.json()["name"] == "Unit 7"
    again = await api.admin("POST", ALARMS, json={"room": "north", "participant": unit})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert again.json()["count"] == 2
    assert_error(await api.admin("POST", ALARMS, json={"room": "nowhere"}), 404, "room-not-found")
    assert_error(
        await api.admin("POST", ALARMS, json={"room": "north", "participant": "p-nobody"}),
        404,
        "participant-not-found",
    )
    for body in (
        {},
        {"room": ""},
        {"room": "north", "colour": "red"},
        {"room": "north", "text": "x" * 501},
    ):
        assert_error(await api.admin("POST", ALARMS, json=body), 422)
    assert_error(await api.admin("GET", ALARMS, params={"state": "burning"}), 422)
    assert [a["room"] for a in await active(api, room="command")] == []


async def test_a_join_link_sees_and_acknowledges_its_own_rooms_alarms_only(api: Api) -> None:
    link = (
        await api.admin(
            "POST", "/api/v1/rooms/north/join-links", json={"name": "field", "role": "operator"}
        )
    ).json()
    headers = {"Authorization": f"Bearer {link['token']}"}
    theirs = (await api.admin("POST", ALARMS, json={"room": "north"})).json()
    other = (await api.admin("POST", ALARMS, json={"room": "command"})).json()
    listed = (await api.http.get(ALARMS, headers=headers)).json()
    assert [a["id"] for a in listed] == [theirs["id"]]
    assert_error(await api.http.get(ALARMS, params={"room": "command"}, headers=headers), 403)
    assert_error(await api.http.post(f"{ALARMS}/{other['id']}/ack", headers=headers), 404)
    assert (await api.http.post(f"{ALARMS}/{theirs['id']}/ack", headers=headers)).status_code == 200
    refused = await api.http.post(ALARMS, json={"room": "command"}, headers=headers)
    assert_error(refused, 403)


async def test_unacknowledged_alarms_survive_a_restart(tmp_path: Path) -> None:
    config = two_rooms(tmp_path)
    async with running(config) as api:
        kept = (await api.admin("POST", ALARMS, json={"room": "north", "text": "火灾"})).json()
        done = (await api.admin("POST", ALARMS, json={"room": "north"})).json()
        await api.admin("POST", f"{ALARMS}/{done['id']}/ack")
    assert (tmp_path / ALARMS_FILE).stat().st_mode & 0o777 == 0o600
    async with running(config) as api:
        assert [a["id"] for a in await active(api)] == [kept["id"]]
        assert (await api.admin("GET", f"{ALARMS}/{kept['id']}")).json()["text"] == "火灾"
        assert (await api.admin("GET", f"{ALARMS}/{done['id']}")).json()["state"] == "acknowledged"


async def test_an_unreadable_alarms_file_stops_the_start_with_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / ALARMS_FILE).write_text(json.dumps({"alarms": [{"id": 1}]}))
    with pytest.raises(ValueError, match="does not hold alarms"):
        async with running(two_rooms(tmp_path)):
            pass


async def test_alarms_are_in_the_rooms_recording_timeline(api: Api) -> None:
    await api.join(room="north", name="speaker")
    recording = (await api.admin("POST", "/api/v1/rooms/north/recordings")).json()["id"]
    alarm = (await api.admin("POST", ALARMS, json={"room": "north"})).json()
    await api.admin("POST", f"{ALARMS}/{alarm['id']}/ack")
    await asyncio.sleep(0.1)
    await api.admin("POST", f"/api/v1/recordings/{recording}/stop")
    manifest = (await api.admin("GET", f"/api/v1/recordings/{recording}")).json()
    kinds = [
        (e["type"], e.get("id")) for e in manifest["timeline"] if e["type"].startswith("alarm.")
    ]
    assert kinds == [("alarm.raised", alarm["id"]), ("alarm.acknowledged", alarm["id"])]
