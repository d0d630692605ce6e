"""WebRTC peers whose connections run in media workers, signalled through control: a browser
and a phone on different workers of one room hear each other, push-to-talk and mute work
across shards, a killed worker closes the browser's socket with 1012 and the browser joins
again, and WHIP/WHEP sessions are made and ended as in one process."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import httpx
import numpy as np
import pytest
import websockets
from aiortc import RTCPeerConnection, RTCSessionDescription

from tests.e2e.server import TOKEN, ServerProcess
from tests.webrtc.clients import Client, ToneTrack
from tests.webrtc.test_video_forwarding import (
    HEIGHT,
    RED,
    WIDTH,
    SolidColourTrack,
    Viewer,
    wait_for,
)
from tests.webrtc.test_webrtc_e2e import (
    LEVEL,
    SDP,
    SILENT,
    join,
    roster_empty,
    rtp_leg,
    rtp_level,
    tone_payloads,
)

pytestmark = pytest.mark.slow

# Two workers, one leg per shard: the second leg of a room opens a shard on the other worker.
SERVER_ENV = {
    "MEDIACORE_RTP_TIMEOUT": "5",
    "MEDIACORE_SERVER_WORKERS": "2",
    "MEDIACORE_SERVER_MAX_LEGS_PER_SHARD": "1",
}


async def test_a_browser_and_a_phone_on_two_workers_and_a_killed_worker(
    server: ServerProcess, room: str
) -> None:
    browser = Client(440.0)
    socket, me = await join(server, room, browser, "browser")
    phone, phone_id = await rtp_leg(server, room, "phone")
    roster = {p["id"]: p for p in server.roster(room)}
    assert roster[me]["kind"] == "webrtc" and roster[me]["worker"] != roster[phone_id]["worker"]

    started = time.monotonic()
    await phone.play(tone_payloads(phone, 700.0, 2.5))
    start, end = started + 0.8, time.monotonic()
    assert rtp_level(phone, 440.0, start, end) == pytest.approx(LEVEL, abs=2.0)
    assert browser.level(700.0, start, end) == pytest.approx(LEVEL, abs=2.0)
    assert browser.level(440.0, start, end) < SILENT

    await socket.send({"type": "ptt", "action": "press"})
    floor = await socket.expect("floor")
    assert (floor["result"], floor["holder"]) == ("granted", me)
    held = server.client.get(f"/api/v1/rooms/{room}/floor").json()
    assert (held["holder"], held["source"]) == (me, "websocket")
    await socket.send({"type": "ptt", "action": "release"})
    assert (await socket.expect("floor"))["result"] == "released"
    await socket.send({"type": "mute", "muted": True})
    await socket.expect("muted")
    assert {p["id"]: p for p in server.roster(room)}[me]["muted"] is True

    # Its worker dies: the socket closes with 1012 (the console reconnects on that), the
    # phone on the other worker keeps its call, and the browser joins again.
    pid = next(
        w["pid"]
        for w in server.client.get("/api/v1/workers").json()
        if w["id"] == roster[me]["worker"]
    )
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await socket.expect("never", timeout=5.0)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
    await browser.close()
    again = Client(440.0)
    socket, me = await join(server, room, again, "browser")
    assert sorted(p["name"] for p in server.roster(room)) == ["browser", "phone"]
    started = time.monotonic()
    await phone.play(tone_payloads(phone, 700.0, 2.5))
    start, end = started + 0.8, time.monotonic()
    assert again.level(700.0, start, end) == pytest.approx(LEVEL, abs=2.0)
    assert rtp_level(phone, 440.0, start, end) == pytest.approx(LEVEL, abs=2.0)
    await socket.send({"type": "leave"})
    assert (await socket.expect("left"))["reason"] == "left"
    await socket.close()
    await again.close()
    phone.close()


async def test_whip_and_whep_in_workers(server: ServerProcess, room: str) -> None:
    publisher, player = Client(440.0, receive=False), Client(None)
    async with httpx.AsyncClient(
        base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as http:
        published = await http.post(
            f"/api/v1/rooms/{room}/whip", content=await publisher.offer(), headers=SDP
        )
        assert published.status_code == 201, published.text
        await publisher.accept(published.text)
        played = await http.post(
            f"/api/v1/rooms/{room}/whep", content=await player.offer(), headers=SDP
        )
        assert played.status_code == 201, played.text
        await player.accept(played.text)
        await publisher.connected()
        await player.connected()
        roster = server.roster(room)
        assert len({p["worker"] for p in roster}) == 2  # one leg per shard
        await asyncio.sleep(1.5)
        now = time.monotonic()
        assert player.level(440.0, now - 0.8, now) == pytest.approx(LEVEL, abs=2.0)
        whip, whep = published.headers["location"], played.headers["location"]
        assert (await http.delete(whep.replace("/whep/", "/whip/"))).status_code == 404
        for location in (whip, whep):
            assert (await http.delete(location)).status_code == 204
            assert (await http.delete(location)).status_code == 404
        assert await roster_empty(server, room)
        bad = await http.post(f"/api/v1/rooms/{room}/whip", content="v=0\r\nbogus", headers=SDP)
        assert bad.status_code == 400 and bad.json()["error"] == "bad-sdp"
    await publisher.close()
    await player.close()


async def test_video_published_in_one_worker_is_watched_from_another(
    server: ServerProcess, room: str
) -> None:
    """A WHIP camera's picture reaches a WHEP player on the other worker through control's
    hub: worker data path up, control's hub, the other worker's data path down."""
    publisher, player = RTCPeerConnection(), RTCPeerConnection()
    publisher.addTransceiver(ToneTrack(440.0), direction="sendonly")
    publisher.addTransceiver(SolidColourTrack(), direction="sendonly")
    viewers: list[Viewer] = []
    player.addTransceiver("audio", direction="recvonly")
    player.addTransceiver("video", direction="recvonly")
    player.on(
        "track",
        lambda track: (
            viewers.append(Viewer(track, time.monotonic())) if track.kind == "video" else None
        ),
    )
    try:
        async with httpx.AsyncClient(
            base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}
        ) as http:
            await publisher.setLocalDescription(await publisher.createOffer())
            published = await http.post(
                f"/api/v1/rooms/{room}/whip",
                content=publisher.localDescription.sdp,
                headers=SDP,
            )
            assert published.status_code == 201, published.text
            await publisher.setRemoteDescription(RTCSessionDescription(published.text, "answer"))
            camera = published.headers["location"].rsplit("/", 1)[1]
            await player.setLocalDescription(await player.createOffer())
            deadline = time.monotonic() + 10.0
            while True:  # the camera becomes a source of the hub with its first frame
                played = await http.post(
                    f"/api/v1/rooms/{room}/whep?video={camera}",
                    content=player.localDescription.sdp,
                    headers=SDP,
                )
                if played.status_code == 201 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.3)
            assert played.status_code == 201, played.text
            await player.setRemoteDescription(RTCSessionDescription(played.text, "answer"))
            workers = {p["id"]: p["worker"] for p in server.roster(room)}
            whep = played.headers["location"].rsplit("/", 1)[1]
            assert workers[camera] != workers[whep]
            await wait_for(lambda: bool(viewers) and viewers[0].frames >= 10, 15.0, "frames")
            viewer = viewers[0]
            assert viewer.size == (WIDTH, HEIGHT)
            assert viewer.mean_rgb is not None
            assert np.allclose(viewer.mean_rgb, RED, atol=25), viewer.mean_rgb
    finally:
        await publisher.close()
        await player.close()
