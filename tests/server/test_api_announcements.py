"""The announcements API in-process (the single-process mode): files, starting, progress, the
finished event with its reasons, the floor, permissions and bad input."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from mediacore.events import Event
from mediacore.server.announcefiles import MAX_FILE_BYTES
from tests.server.test_api import Api, assert_error, make_config, running
from tests.server.test_clips import write_wav

FILES = "/api/v1/announcements/files"
PLAY = "/api/v1/rooms/command/announcements"


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running(make_config(tmp_path / "data")) as started:
        yield started


def collected(api: Api) -> list[Event]:
    events: list[Event] = []
    api.server.bus.listen(events.append)
    return events


async def upload(api: Api, path: Path, name: str, role: str = "operator") -> Any:
    response = await api.as_role(
        role, "POST", FILES, params={"name": name}, content=path.read_bytes()
    )
    assert response.status_code == 201, response.text
    return response.json()


async def finished(events: list[Event], announcement: str, timeout: float = 5.0) -> Event:
    for _ in range(int(timeout / 0.02)):
        for event in events:
            if event.type == "announcement.finished" and event.data["id"] == announcement:
                return event
        await asyncio.sleep(0.02)
    raise AssertionError(f"no announcement.finished; saw {[e.type for e in events]}")


async def test_an_uploaded_file_plays_holds_the_floor_and_finishes(
    api: Api, tmp_path: Path
) -> None:
    events = collected(api)
    saved = await upload(api, write_wav(tmp_path / "t.wav", seconds=0.6), "tone.wav")
    assert saved["name"] == "tone.wav" and saved["duration_s"] == pytest.approx(0.6, abs=0.02)
    listed = (await api.as_role("operator", "GET", FILES)).json()
    assert [entry["name"] for entry in listed] == ["tone.wav"]

    response = await api.as_role("operator", "POST", PLAY, json={"file": "tone.wav"})
    assert response.status_code == 201, response.text
    started = response.json()
    announcement = started["id"]
    assert started["duration_s"] == pytest.approx(0.6, abs=0.02) and started["priority"] == 2
    assert response.headers["location"].endswith(f"/announcements/{announcement}")
    running_now = (await api.as_role("expert", "GET", PLAY)).json()
    assert [entry["id"] for entry in running_now] == [announcement]
    assert running_now[0]["source"] == {"file": "tone.wav"} and running_now[0]["has_floor"]
    roster = (await api.admin("GET", "/api/v1/rooms/command/participants")).json()
    assert [p["kind"] for p in roster] == ["announcement"]
    assert (await api.admin("GET", "/api/v1/rooms/command/floor")).json()["holder"] == announcement

    done = await finished(events, announcement)
    assert done.data["reason"] == "played" and done.data["position_s"] == pytest.approx(
        0.6, abs=0.03
    )
    types = [e.type for e in events if e.data.get("id") == announcement]
    assert types[0] == "announcement.started" and types[-1] == "announcement.finished"
    await asyncio.sleep(0.05)
    assert (await api.as_role("operator", "GET", PLAY)).json() == []
    assert (await api.admin("GET", "/api/v1/rooms/command/floor")).json()["holder"] is None


async def test_stopping_early_says_stopped(api: Api, tmp_path: Path) -> None:
    events = collected(api)
    await upload(api, write_wav(tmp_path / "t.wav", seconds=5.0), "long.wav")
    announcement = (await api.as_role("commander", "POST", PLAY, json={"file": "long.wav"})).json()[
        "id"
    ]
    await asyncio.sleep(0.3)
    stopped = await api.as_role("operator", "DELETE", f"{PLAY}/{announcement}")
    assert stopped.status_code == 204
    done = await finished(events, announcement)
    assert done.data["reason"] == "stopped" and 0.1 < done.data["position_s"] < 1.0
    again = await api.as_role("operator", "DELETE", f"{PLAY}/{announcement}")
    assert_error(again, 404, "announcement-not-found")


async def test_closing_the_room_says_room_closed(api: Api, tmp_path: Path) -> None:
    events = collected(api)
    assert (await api.admin("POST", "/api/v1/rooms", json={"name": "briefing"})).status_code == 201
    await upload(api, write_wav(tmp_path / "t.wav", seconds=5.0), "long.wav")
    response = await api.admin(
        "POST", "/api/v1/rooms/briefing/announcements", json={"file": "long.wav"}
    )
    assert (await api.admin("DELETE", "/api/v1/rooms/briefing")).status_code == 204
    done = await finished(events, response.json()["id"])
    assert done.data["reason"] == "room-closed"


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng missing")
async def test_text_is_spoken_in_the_language_guessed_from_it(api: Api) -> None:
    response = await api.as_role("operator", "POST", PLAY, json={"text": "各单位注意"})
    assert response.status_code == 201, response.text
    assert response.json()["source"] == {"text": "各单位注意", "lang": "zh"}
    assert 0.3 < response.json()["duration_s"] < 5


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [({"file": "nothing.wav"}, 404, "file-not-found"), ({"text": ""}, 400, "bad-text"),
     ({"text": "   "}, 400, "bad-text"), ({"text": "x" * 1001}, 422, "invalid-request"),
     ({"text": "hello", "lang": "fr"}, 422, "invalid-request"), ({}, 400, "bad-announcement"),
     ({"text": "hello", "file": "a.wav"}, 400, "bad-announcement"),
     ({"text": "hello", "priority": 3}, 403, "priority-too-high"),
     ({"text": "hello", "volume": 3}, 422, "invalid-request")],
)  # fmt: skip
async def test_bad_requests_are_refused(
    api: Api, body: dict[str, Any], status: int, code: str
) -> None:
    assert_error(await api.as_role("operator", "POST", PLAY, json=body), status, code)


async def test_unknown_rooms_and_files_are_404(api: Api) -> None:
    response = await api.admin("POST", "/api/v1/rooms/nowhere/announcements", json={"text": "hi"})
    assert_error(response, 404, "room-not-found")
    assert_error(await api.admin("GET", "/api/v1/rooms/nowhere/announcements"), 404)
    assert_error(await api.admin("DELETE", f"{PLAY}/p-00000000"), 404, "announcement-not-found")
    assert_error(await api.admin("DELETE", f"{FILES}/nothing.wav"), 404, "file-not-found")


async def test_experts_and_reviewers_may_not_announce_or_upload(api: Api, tmp_path: Path) -> None:
    for role in ("expert", "reviewer"):
        assert_error(await api.as_role(role, "POST", PLAY, json={"text": "hi"}), 403)
        response = await api.as_role(role, "POST", FILES, params={"name": "a.wav"}, content=b"x")
        assert_error(response, 403)
    assert_error(await api.as_role(None, "GET", FILES), 401)


async def test_uploads_that_are_not_audio_or_too_large_are_refused(api: Api) -> None:
    junk = await api.admin("POST", FILES, params={"name": "a.wav"}, content=b"junk" * 100)
    assert_error(junk, 400, "bad-audio")
    big = await api.admin(
        "POST", FILES, params={"name": "b.wav"}, content=b"\0" * (MAX_FILE_BYTES + 1)
    )
    assert_error(big, 413, "too-large")
    assert_error(
        await api.admin("POST", FILES, params={"name": ".."}, content=b"x"), 400, "bad-name"
    )
    assert (await api.admin("GET", FILES)).json() == []
