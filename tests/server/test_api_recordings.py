"""Recordings over HTTP: who may start, read, hold and delete; errors; auto-recording rooms."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from mediacore.room import RoomSettings
from tests.server.test_api import Api, assert_error, make_config, running


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running(make_config(tmp_path)) as started:
        yield started


async def recorded(api: Api) -> str:
    await api.join(name="speaker")
    started = await api.as_role("commander", "POST", "/api/v1/rooms/command/recordings")
    assert started.status_code == 201, started.text
    recording = started.json()["id"]
    await asyncio.sleep(0.3)
    stopped = await api.as_role("commander", "POST", f"/api/v1/recordings/{recording}/stop")
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["state"] == "stopped" and stopped.json()["manifest_sha256"]
    return str(recording)


async def test_commanders_record_reviewers_read_experts_do_neither(api: Api) -> None:
    assert_error(await api.as_role("reviewer", "POST", "/api/v1/rooms/command/recordings"), 403)
    recording = await recorded(api)
    assert (
        await api.as_role("reviewer", "GET", f"/api/v1/recordings/{recording}")
    ).status_code == 200
    for role in ("expert", "operator", "commander"):
        response = await api.as_role(role, "GET", f"/api/v1/recordings/{recording}")
        assert_error(response, 403, "forbidden")
    verify = await api.as_role("reviewer", "GET", f"/api/v1/recordings/{recording}/verify")
    assert verify.json() == {"ok": True, "problems": []}


async def test_double_start_unknown_room_and_unknown_ids(api: Api) -> None:
    assert (await api.admin("POST", "/api/v1/rooms/command/recordings")).status_code == 201
    assert_error(
        await api.admin("POST", "/api/v1/rooms/command/recordings"), 409, "already-recording"
    )
    assert_error(await api.admin("POST", "/api/v1/rooms/nowhere/recordings"), 404, "room-not-found")
    assert_error(await api.admin("POST", "/api/v1/recordings/rec-nope/stop"), 404)
    assert_error(await api.admin("GET", "/api/v1/recordings/rec-nope/verify"), 404)
    assert_error(await api.admin("GET", "/api/v1/exports/exp-nope"), 404, "export-not-found")


async def test_legal_hold_blocks_deletion_until_lifted(api: Api) -> None:
    recording = await recorded(api)
    held = await api.admin("PATCH", f"/api/v1/recordings/{recording}", json={"legal_hold": True})
    assert held.status_code == 200 and held.json()["legal_hold"] is True
    assert_error(await api.admin("DELETE", f"/api/v1/recordings/{recording}"), 409, "legal-hold")
    assert_error(
        await api.as_role("commander", "PATCH", f"/api/v1/recordings/{recording}",
                          json={"legal_hold": False}),
        403,
    )  # fmt: skip
    verify = await api.admin("GET", f"/api/v1/recordings/{recording}/verify")
    assert verify.json()["ok"]  # the hold is sealed into the manifest
    await api.admin("PATCH", f"/api/v1/recordings/{recording}", json={"legal_hold": False})
    assert (await api.admin("DELETE", f"/api/v1/recordings/{recording}")).status_code == 204
    assert_error(await api.admin("GET", f"/api/v1/recordings/{recording}"), 404)


async def test_a_room_that_says_record_records_from_the_start(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    config = replace(config, rooms=(RoomSettings("ops", record=True),))
    async with running(config) as api:
        found = (await api.admin("GET", "/api/v1/recordings", params={"room": "ops"})).json()
        assert [r["state"] for r in found] == ["recording"]
        created = await api.admin("POST", "/api/v1/rooms", json={"name": "late", "record": True})
        assert created.status_code == 201
        await asyncio.sleep(0.05)  # it starts with the room's `room.opened`, one step later
        found = (await api.admin("GET", "/api/v1/recordings", params={"room": "late"})).json()
        assert [r["state"] for r in found] == ["recording"]
    # Stopping the server stops and seals them.
    async with running(make_config(tmp_path)) as api:
        found = (await api.admin("GET", "/api/v1/recordings")).json()
        assert sorted(r["state"] for r in found) == ["stopped", "stopped"]


async def test_review_page_is_served(api: Api) -> None:
    page = await api.http.get("/review")
    assert page.status_code == 200 and "Recordings review" in page.text


async def test_commanders_see_whether_their_room_records(api: Api) -> None:
    path = "/api/v1/rooms/command/recordings"
    assert (await api.as_role("commander", "GET", path)).json() == {"recording": None}
    started = (await api.as_role("commander", "POST", path)).json()
    now = (await api.as_role("commander", "GET", path)).json()["recording"]
    assert now["id"] == started["id"] and now["state"] == "recording"
    assert_error(await api.as_role("expert", "GET", path), 403)
    assert_error(await api.admin("GET", "/api/v1/rooms/nowhere/recordings"), 404)


async def test_console_page_is_served(api: Api) -> None:
    page = await api.http.get("/console/")
    assert page.status_code == 200 and "Command console" in page.text
    moved = await api.http.get("/console?room=command", follow_redirects=False)
    assert moved.status_code == 307 and moved.headers["location"] == "/console/?room=command"


async def test_an_export_is_refused_while_it_would_eat_into_a_running_recordings_disk(
    tmp_path: Path,
) -> None:
    """The reserve here is bigger than any disk: no export while a recording runs (507), any
    once none does."""
    config = make_config(tmp_path)
    config = replace(config, recording=replace(config.recording, export_disk_reserve_mb=10**9))
    async with running(config) as api:
        recording = await recorded(api)
        live = await api.admin("POST", "/api/v1/rooms/command/recordings")
        assert live.status_code == 201, live.text
        path = f"/api/v1/recordings/{recording}/exports"
        refused = await api.admin("POST", path, json={"format": "wav"})
        assert_error(refused, 507, "disk-reserve")
        assert "a recording is running" in refused.json()["detail"]
        stopped = await api.admin("POST", f"/api/v1/recordings/{live.json()['id']}/stop")
        assert stopped.status_code == 200, stopped.text
        accepted = await api.admin("POST", path, json={"format": "wav"})
        assert accepted.status_code in (200, 201, 202), accepted.text
