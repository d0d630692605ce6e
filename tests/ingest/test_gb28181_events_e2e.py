"""GB/T 28181 subscriptions, alarms, positions and talkback end to end: `mediacore serve` (media
workers by default) and the device simulator with its events and talk extensions
(tools/gbdevice_events.py, tools/gbdevice_talk.py).

Checked by content: a channel the device adds by a catalog Notify is in the device list, an
alarm and a position reach the event stream with their fields, and in a talkback the device
hears a tone played by another room member and the room hears the device's tone (measured at
their frequencies)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import websockets

from bench.rtppeer import RtpPeer
from bench.serverproc import ServerProcess
from ingest.manscdp import CatalogItem
from mediacore.audio import tone, tone_level_dbfs
from mediacore.codecs import PCMA
from tests.waiting import wait_for
from tools.gbdevice import DeviceConfig, GbDeviceSimulator
from tools.gbdevice_events import DeviceEvents
from tools.gbdevice_talk import DeviceTalk

pytestmark = pytest.mark.slow

DOMAIN = "3402000000"
SERVER_ID = "34020000002000000001"
PASSWORD = "gb-secret"
DEVICE = "34020000001320000001"
AUDIO_OUT = "34020000001370000001"  # the device's audio output channel (type 137)
ROOM_TONE = 1000.0  # what a room member plays
DEVICE_TONE = 600.0  # what the device's microphone picks up
CONFIG = f"""
[gb28181]
domain = "{DOMAIN}"
server_id = "{SERVER_ID}"
password = "{PASSWORD}"
keepalive_interval = 1.0
position_interval = 1
subscribe_expires = 60
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # one media worker: the talkback legs run in a worker, and the server starts sooner
    process = ServerProcess(Path(tmp_path_factory.mktemp("gbevents")), config=CONFIG, workers=1)
    try:
        yield process
    finally:
        process.stop()


@asynccontextmanager
async def device(
    server: ServerProcess, device_id: str = DEVICE, ps: bool = False
) -> AsyncIterator[Any]:
    config = DeviceConfig(
        server=("127.0.0.1", server.sip_port),
        device_id=device_id,
        password=PASSWORD,
        local_host="127.0.0.1",
        keepalive=1.0,
    )
    simulator = GbDeviceSimulator(config)
    events = DeviceEvents.attach(simulator)
    talk = DeviceTalk.attach(simulator, tone_hz=DEVICE_TONE, ps=ps)
    await simulator.start()
    try:
        yield simulator, events, talk
    finally:
        events.stop()
        talk.stop()
        await simulator.stop()


async def until(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await asyncio.to_thread(check)
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def listed_device(server: ServerProcess, device_id: str = DEVICE) -> dict[str, Any]:
    listed = server.client.get("/api/v1/gb28181/devices").json()
    return next((d for d in listed if d["id"] == device_id), {})


async def next_event(stream: Any, kind: str, timeout: float = 8.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            event = json.loads(await asyncio.wait_for(stream.recv(), 0.5))
        except TimeoutError:
            continue
        if event["type"] == kind:
            return dict(event)
    raise AssertionError(f"no {kind} event within {timeout} s")


async def test_subscribed_catalog_change_shows_in_the_device_list(server: ServerProcess) -> None:
    async with device(server) as (_, events, _talk):
        await until(lambda: len(events.subscriptions) == 3, 8, "three subscriptions")
        kinds = {kind: (expires, event) for kind, expires, event in events.stats.subscribes}
        assert kinds["Catalog"] == (60, kinds["Catalog"][1])
        assert kinds["Catalog"][1].startswith("Catalog")
        assert kinds["MobilePosition"][1].startswith("presence")
        assert events.subscriptions["MobilePosition"].interval == 1
        await until(
            lambda: (
                listed_device(server).get("subscriptions", {}).get("Catalog", {}).get("state")
                == "active"
            ),
            5,
            "the catalog subscription active in the API",
        )
        added = CatalogItem(f"{DOMAIN}1310000009", name="后门摄像机", status="ON", parent_id=DEVICE)
        assert await events.notify("Catalog", events.catalog_change("ADD", added)) == 200

        def channel_names() -> set[str]:
            return {c["name"] for c in listed_device(server).get("channels", [])}

        await until(lambda: "后门摄像机" in channel_names(), 5, "the added channel listed")
        assert await events.notify("Catalog", events.catalog_change("DEL", added)) == 200
        await until(lambda: "后门摄像机" not in channel_names(), 5, "the deleted channel gone")


async def test_alarm_and_position_arrive_as_events(server: ServerProcess) -> None:
    async with websockets.connect(server.events_url()) as stream:
        async with device(server) as (_, events, _talk):
            alarm = events.alarm("越界报警", priority=1)
            assert await events.send_message(alarm) == 200  # a plain MESSAGE
            received = await next_event(stream, "gb.alarm")
            assert received["device"] == DEVICE
            assert received["description"] == "越界报警"
            assert received["priority"] == 1
            assert received["longitude"] == pytest.approx(alarm.longitude)
            await until(lambda: events.stats.alarm_responses, 5, "the platform's Response/Alarm")
            assert events.stats.alarm_responses[0].sn == alarm.sn
            # positions come by themselves, every second, in the MobilePosition subscription
            position = await next_event(stream, "gb.position")
            assert position["device"] == DEVICE
            assert abs(position["longitude"] - 116.397) < 0.01
            assert position["speed"] == pytest.approx(5.0)
            shown = await until(
                lambda: listed_device(server).get("position"), 5, "the position in the API"
            )
            assert abs(shown["latitude"] - 39.909) < 0.01


async def test_a_channel_playing_in_a_room_carries_its_position_in_the_roster(
    server: ServerProcess,
) -> None:
    async with device(server) as (simulator, _events, _talk):
        url = f"gb28181://{DEVICE}/{simulator.channels[0]}"
        added = await asyncio.to_thread(
            server.client.post, "/api/v1/rooms/command/sources", json={"url": url, "name": "前门"}
        )
        assert added.status_code == 201, added.text
        source = added.json()["id"]

        def positioned() -> Any:
            entry = next((e for e in server.roster("command") if e["id"] == source), {})
            return entry.get("position")

        shown = await until(positioned, 8, "the position in the source's roster entry")
        assert abs(shown["longitude"] - 116.397) < 0.01 and shown["time"]
        assert set(shown) == {"longitude", "latitude", "time"}
        await asyncio.to_thread(server.client.delete, f"/api/v1/rooms/command/sources/{source}")


def level(pcm: Any, frequency: float, rate: int) -> float:
    return tone_level_dbfs(pcm, frequency, rate)


async def tones_cross(member: RtpPeer, talk: DeviceTalk) -> None:
    """The device hears the member's tone, the member the device's (and not its own)."""
    await asyncio.sleep(2.0)
    since = time.monotonic()
    await asyncio.sleep(1.0)
    heard_by_device = talk.heard()[-8000:]
    assert len(heard_by_device) >= 6000
    assert level(heard_by_device, ROOM_TONE, 8000) > -30
    heard_by_room = member.decoded(since)
    assert len(heard_by_room) >= 6000
    assert level(heard_by_room, DEVICE_TONE, 8000) > -30
    assert level(heard_by_room, ROOM_TONE, 8000) < -45  # mix-minus: not its own


async def test_talkback_device_hears_the_room_and_the_room_hears_the_device(
    server: ServerProcess,
) -> None:
    member = RtpPeer(PCMA)
    await member.open()
    participant, answer = server.join("command", member.make_offer(), name="member")
    member.accept(answer)
    playing = asyncio.get_running_loop().create_task(
        member.play(member.packetize(tone(ROOM_TONE, 12.0, 8000, -20.0)))
    )
    try:
        async with websockets.connect(server.events_url("command")) as stream:
            async with device(server) as (_, _events, talk):
                path = f"/api/v1/gb28181/devices/{DEVICE}/channels/{AUDIO_OUT}/broadcast"
                response = await asyncio.to_thread(
                    server.client.post, path, json={"room": "command"}
                )
                assert response.status_code == 201, response.text
                talkback = response.json()
                assert talkback["state"] == "connected"
                assert talk.broadcasts[0].target_id == AUDIO_OUT
                assert talk.broadcasts[0].source_id == SERVER_ID
                started = await next_event(stream, "gb.talkback.started")
                assert started["participant"] == talkback["participant"]
                roster = await asyncio.to_thread(server.roster, "command")
                assert talkback["participant"] in {p["id"] for p in roster}
                await tones_cross(member, talk)
                again = await asyncio.to_thread(server.client.post, path, json={"room": "command"})
                assert again.status_code == 409, again.text
                stopped = await asyncio.to_thread(server.client.delete, path)
                assert stopped.status_code == 204, stopped.text
                await next_event(stream, "gb.talkback.ended")
                await until(lambda: talk.byes_received == 1, 5, "the BYE at the device")
                roster = await asyncio.to_thread(server.roster, "command")
                assert talkback["participant"] not in {p["id"] for p in roster}
    finally:
        playing.cancel()
        member.close()
        await asyncio.to_thread(
            server.client.delete, f"/api/v1/rooms/command/participants/{participant}"
        )


async def test_broadcast_errors_are_clear(server: ServerProcess) -> None:
    path = f"/api/v1/gb28181/devices/{DEVICE}/channels/{AUDIO_OUT}/broadcast"
    stranger = path.replace(DEVICE, f"{DOMAIN}1320000099")
    unknown = await asyncio.to_thread(server.client.post, stranger, json={"room": "command"})
    assert unknown.status_code == 404 and unknown.json()["error"] == "device-not-found"
    async with device(server) as (_, _events, talk):
        no_room = await asyncio.to_thread(server.client.post, path, json={"room": "nowhere"})
        assert no_room.status_code == 404 and no_room.json()["error"] == "room-not-found"
        bad = await asyncio.to_thread(server.client.post, path, json={"rooms": "command"})
        assert bad.status_code in (400, 422)
        talk.answer_ok = False
        refused = await asyncio.to_thread(server.client.post, path, json={"room": "command"})
        assert refused.status_code == 502, refused.text
        none = await asyncio.to_thread(server.client.delete, path)
        assert none.status_code == 404


async def test_half_duplex_talkback_talks_under_the_room_floor(server: ServerProcess) -> None:
    member = RtpPeer(PCMA)
    await member.open()
    participant, answer = server.join("command", member.make_offer(), name="member")
    member.accept(answer)
    path = f"/api/v1/gb28181/devices/{DEVICE}/channels/{AUDIO_OUT}/broadcast"
    try:
        async with device(server) as (_, _events, _talk):
            body = {"room": "command", "duplex": "half"}
            response = await asyncio.to_thread(server.client.post, path, json=body)
            assert response.status_code == 201, response.text
            talkback = response.json()
            assert talkback["duplex"] == "half"

            def holder() -> Any:
                return server.client.get("/api/v1/rooms/command/floor").json()["holder"]

            # its voice (the tone it sends) asks for the floor (VOX) and gets it
            assert await until(holder, 5, "the floor") == talkback["participant"]
            roster = await asyncio.to_thread(server.roster, "command")
            entry = next(p for p in roster if p["id"] == talkback["participant"])
            assert entry["duplex"] == "half"
            since = time.monotonic()
            await asyncio.sleep(1.0)
            assert level(member.decoded(since), DEVICE_TONE, 8000) > -30
            assert (await asyncio.to_thread(server.client.delete, path)).status_code == 204
    finally:
        member.close()
        await asyncio.to_thread(
            server.client.delete, f"/api/v1/rooms/command/participants/{participant}"
        )


async def test_talkback_in_ps_carries_both_tones(server: ServerProcess) -> None:
    """A device offering its audio as G.711 in PS (PS/90000) is answered in PS, and the
    tones cross both ways through the worker's leg."""
    member = RtpPeer(PCMA)
    await member.open()
    participant, answer = server.join("command", member.make_offer(), name="member")
    member.accept(answer)
    playing = asyncio.get_running_loop().create_task(
        member.play(member.packetize(tone(ROOM_TONE, 12.0, 8000, -20.0)))
    )
    path = f"/api/v1/gb28181/devices/{DEVICE}/channels/{AUDIO_OUT}/broadcast"
    try:
        async with device(server, ps=True) as (_, _events, talk):
            response = await asyncio.to_thread(server.client.post, path, json={"room": "command"})
            assert response.status_code == 201, response.text
            # The device's side learns the answer with the ACK, which may come a moment later.
            await wait_for(lambda: talk.call is not None and talk.call.answer, 5)
            call = talk.call
            assert call is not None
            assert "m=audio" in call.answer and " RTP/AVP 96\r\n" in call.answer
            assert "a=rtpmap:96 PS/90000" in call.answer and "f=v/////a/1/8/1" in call.answer
            await tones_cross(member, talk)
            assert call.adapter is not None and call.adapter.frames_received > 50
            roster = await asyncio.to_thread(server.roster, "command")
            entry = next(p for p in roster if p["id"] == response.json()["participant"])
            assert entry["carried_in"] == "ps"
            assert (await asyncio.to_thread(server.client.delete, path)).status_code == 204
    finally:
        playing.cancel()
        member.close()
        await asyncio.to_thread(
            server.client.delete, f"/api/v1/rooms/command/participants/{participant}"
        )
