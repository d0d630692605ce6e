"""Emergency alarms against a real server in worker mode: an emergency floor request over the
API, an ED-137 gateway's emergency PTT and a phone's DTMF `*9` raise `alarm.raised` on event
streams of another room and of all rooms; the alarm is listed until a dispatcher acknowledges
it, and both events are in the room's recording, written in the room's worker."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets

from bench.radiogateway import Ed137Gateway
from bench.rtppeer import RtpPeer
from mediacore.audio import tone
from mediacore.codecs import PCMA, PCMU
from radio.ed137 import PttType
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.slow

SERVER_CONFIG = """
[[auth.tokens]]
token = "expert-token-for-tests"
role = "expert"
name = "listener"
"""
EXPERT = {"Authorization": "Bearer expert-token-for-tests"}


class Stream:
    """One event WebSocket read in the background."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.events: list[dict[str, Any]] = []
        self._task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for message in self.connection:
            self.events.append(json.loads(message))

    async def wait(self, kind: str, timeout: float = 10.0, **fields: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if event["type"] == kind and all(event.get(k) == v for k, v in fields.items()):
                    return event
            await asyncio.sleep(0.02)
        raise AssertionError(f"no {kind} {fields}; saw {[e['type'] for e in self.events]}")


@pytest.fixture
async def consoles(server: ServerProcess, room: str) -> AsyncIterator[tuple[Stream, Stream]]:
    """Two consoles' event streams: one following another room, one following all rooms."""
    elsewhere = f"{room[:40]}-elsewhere"
    assert server.client.post("/api/v1/rooms", json={"name": elsewhere}).status_code == 201
    async with (
        websockets.connect(server.events_url(elsewhere)) as other_room,
        websockets.connect(server.events_url()) as all_rooms,
    ):
        streams = (Stream(other_room), Stream(all_rooms))
        yield streams
    server.client.delete(f"/api/v1/rooms/{elsewhere}")


def acknowledge(server: ServerProcess, alarm: str, **kwargs: Any) -> httpx.Response:
    return server.client.post(f"/api/v1/alarms/{alarm}/ack", **kwargs)


def active(server: ServerProcess, room: str) -> list[dict[str, Any]]:
    response = server.client.get("/api/v1/alarms", params={"state": "active", "room": room})
    assert response.status_code == 200, response.text
    return list(response.json())


async def test_an_emergency_floor_request_alarms_every_console_until_acknowledged(
    server: ServerProcess, room: str, consoles: tuple[Stream, Stream]
) -> None:
    phone = RtpPeer(PCMU, 20)
    await phone.open()
    unit, answer = server.join(room, phone.make_offer(), name="Unit 7")
    phone.accept(answer)
    recording = server.client.post(f"/api/v1/rooms/{room}/recordings").json()["id"]
    body = {"participant": unit, "action": "request", "priority": 3}
    floor = server.client.post(f"/api/v1/rooms/{room}/floor", json=body)
    assert floor.json()["result"] == "granted", floor.text
    for console in consoles:  # another room's console and an all-rooms console alike
        raised = await console.wait("alarm.raised", room=room)
        assert raised["participant"] == unit and raised["name"] == "Unit 7"
        assert raised["source"] == "api" and raised["state"] == "active"
    alarm = raised["id"]
    assert [a["id"] for a in active(server, room)] == [alarm]

    assert acknowledge(server, alarm, headers=EXPERT).status_code == 403
    assert acknowledge(server, "al-unknown").status_code == 404
    acked = acknowledge(server, alarm)
    assert acked.status_code == 200 and acked.json()["acknowledged_by"] == "admin"
    for console in consoles:
        await console.wait("alarm.acknowledged", room=room, id=alarm)
    assert active(server, room) == []
    assert acknowledge(server, alarm).status_code == 409

    await asyncio.sleep(0.3)  # the events reach the room's worker for the timeline
    stopped = server.client.post(f"/api/v1/recordings/{recording}/stop")
    assert stopped.status_code == 200, stopped.text
    manifest = server.client.get(f"/api/v1/recordings/{recording}").json()
    timeline = [(e["type"], e.get("id")) for e in manifest["timeline"]]
    assert ("alarm.raised", alarm) in timeline and ("alarm.acknowledged", alarm) in timeline
    phone.close()


async def test_an_ed137_gateways_emergency_ptt_raises_an_alarm(
    server: ServerProcess, room: str, consoles: tuple[Stream, Stream]
) -> None:
    radio = Ed137Gateway(PCMA)
    await radio.open()
    gateway, answer = server.join(room, radio.make_offer(), name="Channel 5", radio="ed137")
    radio.accept(answer)
    radio.start_keepalives()
    try:
        radio.ptt_type = PttType.EMERGENCY  # the radio user presses the emergency key
        audio = radio.packetize(tone(1000.0, 0.6, PCMA.sample_rate, -20.0))
        await radio.transmit(audio)
        other_room, all_rooms = consoles
        raised = await all_rooms.wait("alarm.raised", room=room)
        assert raised["participant"] == gateway and raised["name"] == "Channel 5"
        assert raised["source"] == "squelch"
        assert (await other_room.wait("alarm.raised", room=room))["id"] == raised["id"]
        # A second emergency transmission while the alarm is active counts on it.
        await all_rooms.wait("floor.released", room=room, participant=gateway)  # after the hang
        await radio.transmit(audio)
        updated = await all_rooms.wait("alarm.updated", room=room, id=raised["id"])
        assert updated["count"] == 2
        assert [a["count"] for a in active(server, room)] == [2]
        assert acknowledge(server, raised["id"]).status_code == 200
        await other_room.wait("alarm.acknowledged", room=room, id=raised["id"])
    finally:
        radio.close()


async def test_a_phone_keying_star_nine_raises_an_alarm(
    server: ServerProcess, room: str, consoles: tuple[Stream, Stream]
) -> None:
    phone = RtpPeer(PCMU, 20)
    await phone.open()
    unit, answer = server.join(room, phone.make_offer(), name="Phone 12")
    phone.accept(answer)
    try:
        await phone.send_digits("19")  # no * first: nothing
        await phone.send_digits("*9")
        _, all_rooms = consoles
        raised = await all_rooms.wait("alarm.raised", room=room)
        assert raised["participant"] == unit and raised["source"] == "dtmf"
        assert [e["digit"] for e in all_rooms.events if e["type"] == "dtmf"] == ["1", "9", "*", "9"]
        assert len([e for e in all_rooms.events if e["type"] == "alarm.raised"]) == 1
        assert acknowledge(server, raised["id"]).status_code == 200
    finally:
        phone.close()
