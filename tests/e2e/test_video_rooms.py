"""Video stays in its room: a participant of one room asks a running server for the camera and
the wall of another, by WHEP `?video=` and by the signalling `subscribe`, and is refused as if
they did not exist; in their own room the same asks succeed."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import httpx
import pytest
import websockets

from tests.e2e.server import TOKEN, ServerProcess
from tests.webrtc.clients import Client

pytestmark = pytest.mark.slow

SERVER_SHARED = True  # its own rooms only: the shared server (tests/e2e/conftest.py)
SDP = {"Content-Type": "application/sdp"}


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def add_camera(server: ServerProcess, room: str) -> str:
    """A field source (its camera is not there: it stays connecting, but its video source is
    in the hub from the start)."""
    url = f"rtmp://127.0.0.1:{closed_port()}/live/x"
    response = server.client.post(f"/api/v1/rooms/{room}/sources", json={"url": url})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def whep(server: ServerProcess, room: str, video: str) -> httpx.Response:
    watcher = Client(None)
    watcher.pc.addTransceiver("video", direction="recvonly")
    try:
        async with httpx.AsyncClient(
            base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}
        ) as http:
            response = await http.post(
                f"/api/v1/rooms/{room}/whep",
                params={"video": video},
                content=await watcher.offer(),
                headers=SDP,
            )
            if response.status_code == 201:
                await http.delete(response.headers["location"])
            return response
    finally:
        await watcher.close()


async def subscribe(server: ServerProcess, room: str, video: str) -> dict[str, Any]:
    """Join `room` over the signalling socket and ask for `video`; the server's reply."""
    client = Client(None)
    client.pc.addTransceiver("video", direction="recvonly")
    url = server.url.replace("http", "ws", 1) + f"/api/v1/rooms/{room}/webrtc?token={TOKEN}"
    try:
        async with websockets.connect(url, max_size=2**20) as ws:

            async def reply(kind: str | None = None) -> dict[str, Any]:
                while True:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if message["type"] != "event" and (kind is None or message["type"] == kind):
                        return dict(message)

            await ws.send(json.dumps({"type": "join", "offer": await client.offer()}))
            joined = await reply("joined")
            await client.accept(joined["answer"])
            await ws.send(json.dumps({"type": "subscribe", "source": video}))
            return await reply()
    finally:
        await client.close()


def test_another_rooms_camera_and_wall_are_refused_as_unknown(
    server: ServerProcess, room: str
) -> None:
    other = f"{room[:50]}-b"
    assert server.client.post("/api/v1/rooms", json={"name": other}).status_code == 201
    camera = add_camera(server, room)
    wall = {
        "canvas": {"width": 320, "height": 180, "fps": 10},
        "layout": {"kind": "grid"},
        "room": room,
        "outputs": [{"kind": "whep"}],
    }
    assert server.client.put("/api/v1/walls/hall", json=wall).status_code in (200, 201)
    wall_source = server.client.get("/api/v1/walls/hall").json()["status"]["outputs"][0]
    assert wall_source["whep"]["room"] == room
    try:
        for video in (camera, wall_source["whep"]["video"]):
            refused = asyncio.run(whep(server, other, video))
            assert refused.status_code == 404, (video, refused.status_code)
            assert refused.json()["error"] == "unknown-source"
            error = asyncio.run(subscribe(server, other, video))
            assert (error["type"], error["code"]) == ("error", "unknown-source"), error
            assert asyncio.run(whep(server, room, video)).status_code == 201
            assert asyncio.run(subscribe(server, room, video))["type"] == "subscribed"
    finally:
        server.client.delete("/api/v1/walls/hall")
        server.client.delete(f"/api/v1/rooms/{other}")
