"""A join link ends everything it brought in: an operator link publishes with WHIP, plays with
WHEP, joins over the signalling socket, adds an RTP leg, a field source and a dial-out on a
running server (media workers); revoking the link, or its expiry, makes every one of them
leave within seconds, with a `join-link.ended` event, while the admin's own leg stays."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import websockets

from mediacore.server.joinlinks import JoinLinks
from tests.e2e.server import ServerProcess
from tests.server.test_api import offer
from tests.webrtc.clients import Client

pytestmark = pytest.mark.slow

# Legs must not leave for want of RTP while the test waits: only the link may end them.
SERVER_ENV = {"MEDIACORE_RTP_TIMEOUT": "120"}
SDP = {"Content-Type": "application/sdp"}
ENDED_WITHIN_S = 3.0


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Brought:
    """What one link brought into the room, and the peers and sockets holding it up."""

    participants: dict[str, str] = field(default_factory=dict)  # id -> how it came
    clients: list[Client] = field(default_factory=list)
    sockets: list[socket.socket] = field(default_factory=list)
    signalling: Any = None


@contextlib.asynccontextmanager
async def everything(server: ServerProcess, room: str, token: str) -> AsyncIterator[Brought]:
    """Use the link `token` to bring in one participant of every kind it may create."""
    brought = Brought()
    link = {"Authorization": f"Bearer {token}"}
    try:
        async with httpx.AsyncClient(base_url=server.url, headers=link, timeout=10) as http:
            for kind, client in (("whip", Client(440.0, receive=False)), ("whep", Client(None))):
                brought.clients.append(client)
                response = await http.post(
                    f"/api/v1/rooms/{room}/{kind}", content=await client.offer(), headers=SDP
                )
                assert response.status_code == 201, response.text
                await client.accept(response.text)
                brought.participants[response.headers["location"].rsplit("/", 1)[1]] = kind
            phone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            phone.bind(("127.0.0.1", 0))
            brought.sockets.append(phone)
            response = await http.post(
                f"/api/v1/rooms/{room}/rtp",
                content=offer(port=phone.getsockname()[1]),
                headers=SDP,
            )
            assert response.status_code == 201, response.text
            brought.participants[response.headers["location"].rsplit("/", 1)[1]] = "rtp"
            camera = f"rtmp://127.0.0.1:{closed_port()}/live/x"  # stays connecting
            response = await http.post(f"/api/v1/rooms/{room}/sources", json={"url": camera})
            assert response.status_code == 201, response.text
            brought.participants[response.json()["id"]] = "source"
            callee = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # rings for ever
            callee.bind(("127.0.0.1", 0))
            brought.sockets.append(callee)
            uri = f"sip:phone@127.0.0.1:{callee.getsockname()[1]}"
            response = await http.post(f"/api/v1/rooms/{room}/dial", json={"uri": uri})
            assert response.status_code == 201, response.text
            brought.participants[response.json()["id"]] = "dial"
        peer = Client(None)
        brought.clients.append(peer)
        url = server.url.replace("http", "ws", 1) + f"/api/v1/rooms/{room}/webrtc?token={token}"
        brought.signalling = await websockets.connect(url, max_size=2**20)
        await brought.signalling.send(json.dumps({"type": "join", "offer": await peer.offer()}))
        while True:
            message = json.loads(await asyncio.wait_for(brought.signalling.recv(), 10))
            if message["type"] == "joined":
                break
        await peer.accept(message["answer"])
        brought.participants[message["participant"]] = "webrtc"
        yield brought
    finally:
        if brought.signalling is not None:
            await brought.signalling.close()
        for client in brought.clients:
            await client.close()
        for held in brought.sockets:
            held.close()


def present(server: ServerProcess, room: str) -> set[str]:
    return {entry["id"] for entry in server.roster(room)}


async def gone_after(server: ServerProcess, room: str, ids: set[str], limit: float) -> float:
    """Seconds until none of `ids` is in the roster (fails past `limit`)."""
    started = time.monotonic()
    while present(server, room) & ids:
        if time.monotonic() - started > limit:
            left = {i: e for i, e in ((e["id"], e) for e in server.roster(room)) if i in ids}
            raise AssertionError(f"still in the room after {limit} s: {left}")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def ended_event(server: ServerProcess, room: str, events: Any) -> dict[str, Any]:
    while True:
        event = json.loads(await asyncio.wait_for(events.recv(), 10))
        if event["type"] == "join-link.ended" and event["room"] == room:
            return dict(event)


async def signalling_closed(brought: Brought) -> int:
    """The close code of the link's signalling socket, once the server has closed it."""
    with contextlib.suppress(websockets.ConnectionClosed):
        while True:
            await asyncio.wait_for(brought.signalling.recv(), 10)
    return int(brought.signalling.close_code)


async def test_revoking_a_link_ends_every_participant_it_created(
    server: ServerProcess, room: str
) -> None:
    own, _ = server.join(room, offer(port=closed_port()))  # the admin's: it stays
    minted = server.client.post(
        f"/api/v1/rooms/{room}/join-links", json={"name": "Dr. Lin", "role": "operator"}
    )
    assert minted.status_code == 201, minted.text
    link = minted.json()
    async with websockets.connect(server.events_url(room)) as events:
        async with everything(server, room, link["token"]) as brought:
            ids = set(brought.participants)
            assert len(ids) == 6 and ids <= present(server, room), brought.participants
            revoked = server.client.delete(f"/api/v1/join-links/{link['id']}")
            assert revoked.status_code == 204
            took = await gone_after(server, room, ids, ENDED_WITHIN_S)
            event = await ended_event(server, room, events)
            assert await signalling_closed(brought) == 4401
    assert took <= ENDED_WITHIN_S
    assert (event["link"], event["reason"]) == (link["id"], "link-revoked")
    assert set(event["left"]) <= ids
    assert own in present(server, room)


async def test_an_expired_link_ends_every_participant_it_created(
    server: ServerProcess, room: str
) -> None:
    own, _ = server.join(room, offer(port=closed_port()))
    # The link is made with the server's own secret, as if minted 45 s ago for one minute:
    # it expires 15 s from now (links last whole minutes; a test should not wait for one).
    link = JoinLinks(server.data_dir).mint(room, "Dr. Lin", "operator", 1, now=time.time() - 45)
    async with websockets.connect(server.events_url(room)) as events:
        async with everything(server, room, link.token) as brought:
            ids = set(brought.participants)
            assert len(ids) == 6 and ids <= present(server, room), brought.participants
            assert time.time() < link.expires, "setting up took longer than the link lived"
            await asyncio.sleep(max(0.0, link.expires - time.time()))
            await gone_after(server, room, ids, ENDED_WITHIN_S)
            event = await ended_event(server, room, events)
    assert (event["link"], event["reason"]) == (link.id, "link-expired")
    assert own in present(server, room)


async def test_a_participant_moved_out_of_the_links_room_still_ends_with_the_link(
    server: ServerProcess, room: str
) -> None:
    elsewhere = "link-moved-elsewhere"
    assert server.client.post("/api/v1/rooms", json={"name": elsewhere}).status_code == 201
    link = server.client.post(
        f"/api/v1/rooms/{room}/join-links", json={"name": "Dr. Lin", "role": "operator"}
    ).json()
    headers = {"Authorization": f"Bearer {link['token']}", **SDP}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as phone:
        phone.bind(("127.0.0.1", 0))
        joined = httpx.post(
            server.url + f"/api/v1/rooms/{room}/rtp",
            content=offer(port=phone.getsockname()[1]),
            headers=headers,
        )
        assert joined.status_code == 201, joined.text
        leg = joined.headers["location"].rsplit("/", 1)[1]
        moved = server.client.post(
            f"/api/v1/rooms/{room}/participants/{leg}/move", json={"to": elsewhere}
        )
        assert moved.status_code == 200, moved.text
        assert server.client.delete(f"/api/v1/join-links/{link['id']}").status_code == 204
        await gone_after(server, elsewhere, {leg}, ENDED_WITHIN_S)
    server.client.delete(f"/api/v1/rooms/{elsewhere}")
