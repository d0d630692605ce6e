"""WebRTC peers in a real server: aiortc clients over the signalling WebSocket, WHIP and WHEP,
next to plain RTP legs. Who hears whom is measured (tone levels at known frequencies)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

import httpx
import pytest
import websockets

from bench.rtppeer import RtpPeer
from mediacore.audio import tone, tone_levels_by_block
from mediacore.codecs import PCMU
from tests.e2e.server import TOKEN, ServerProcess
from tests.webrtc.clients import Client

pytestmark = pytest.mark.slow

LEVEL = -20.0  # dBFS RMS of every test tone
SILENT = -50.0  # below this a tone is "not heard"
SERVER_CONFIG = """
[[auth.tokens]]
token = "expert-token-for-tests"
role = "expert"
name = "dr expert"

[[auth.tokens]]
token = "reviewer-token-for-tests"
role = "reviewer"
"""
SDP = {"Content-Type": "application/sdp"}


class Socket:
    """The signalling WebSocket of one client; room events are kept aside in `events`."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.events: list[dict[str, Any]] = []

    async def send(self, message: dict[str, Any] | str) -> None:
        await self.connection.send(message if isinstance(message, str) else json.dumps(message))

    async def expect(self, kind: str, timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kind!r} message within {timeout} s")
            message = json.loads(await asyncio.wait_for(self.connection.recv(), left))
            if message["type"] == "event":
                self.events.append(message["event"])
                continue
            assert message["type"] == kind, message
            return dict(message)

    async def read_events(self, seconds: float) -> list[dict[str, Any]]:
        """Keep reading for `seconds`; returns every event seen so far."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = json.loads(await asyncio.wait_for(self.connection.recv(), left))
            except TimeoutError:
                break
            if message["type"] == "event":
                self.events.append(message["event"])
        return self.events

    async def close(self) -> None:
        await self.connection.close()


def socket_url(server: ServerProcess, room: str, token: str = TOKEN) -> str:
    return server.url.replace("http", "ws", 1) + f"/api/v1/rooms/{room}/webrtc?token={token}"


async def open_socket(server: ServerProcess, room: str, token: str = TOKEN) -> Socket:
    return Socket(await websockets.connect(socket_url(server, room, token), max_size=2**20))


async def join(
    server: ServerProcess, room: str, client: Client, name: str, **fields: Any
) -> tuple[Socket, str]:
    socket = await open_socket(server, room)
    await socket.send({"type": "join", "name": name, "offer": await client.offer(), **fields})
    joined = await socket.expect("joined")
    await client.accept(joined["answer"])
    await client.connected()
    return socket, str(joined["participant"])


async def rtp_leg(server: ServerProcess, room: str, name: str) -> tuple[RtpPeer, str]:
    peer = RtpPeer(PCMU)
    await peer.open()
    participant, answer = server.join(room, peer.make_offer(), name=name)
    peer.accept(answer)
    return peer, participant


def rtp_level(peer: RtpPeer, frequency: float, since: float, until: float) -> float:
    """Median 20 ms block level of `frequency` in what the RTP peer received in the window."""
    parts = [a for a in peer.arrivals if since <= a.time < until]
    if not parts:
        return -127.0
    decoded = peer.decoded(parts[0].time)
    count = sum(1 for a in peer.arrivals if a.time >= parts[0].time)
    keep = len(parts) * len(decoded) // max(1, count)
    levels = tone_levels_by_block(decoded[:keep], frequency, 8000)
    return float(sorted(levels)[len(levels) // 2]) if len(levels) else -127.0


def tone_payloads(peer: RtpPeer, frequency: float, seconds: float) -> list[bytes]:
    return peer.packetize(tone(frequency, seconds, 8000, LEVEL))


async def roster_empty(server: ServerProcess, room: str, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.roster(room):
            return True
        await asyncio.sleep(0.1)
    return False


async def test_two_browsers_hear_each_other_and_not_themselves(
    server: ServerProcess, room: str
) -> None:
    low, high = Client(440.0), Client(1000.0)
    low_socket, low_id = await join(server, room, low, "low")
    high_socket, high_id = await join(server, room, high, "high")
    start = time.monotonic() + 0.8  # past the jitter buffers' start
    await asyncio.sleep(2.3)
    end = time.monotonic()
    assert low.level(1000.0, start, end) == pytest.approx(LEVEL, abs=2.0)
    assert high.level(440.0, start, end) == pytest.approx(LEVEL, abs=2.0)
    assert low.level(440.0, start, end) < SILENT
    assert high.level(1000.0, start, end) < SILENT
    roster = {p["id"]: p for p in server.roster(room)}
    assert set(roster) == {low_id, high_id}
    for entry in roster.values():
        assert (entry["kind"], entry["codec"], entry["connection_state"]) == (
            "webrtc",
            "opus/48000/2",
            "connected",
        )
        assert entry["remote"]
    await low_socket.close()  # closing the socket removes the participant
    await high_socket.send({"type": "leave"})
    assert (await high_socket.expect("left"))["reason"] == "left"
    assert await roster_empty(server, room)
    await high_socket.close()
    for client in (low, high):
        await client.close()


async def test_rtp_leg_and_browser_hear_each_other(server: ServerProcess, room: str) -> None:
    browser = Client(440.0)
    socket, _ = await join(server, room, browser, "browser")
    phone, _ = await rtp_leg(server, room, "phone")
    started = time.monotonic()
    await phone.play(tone_payloads(phone, 700.0, 2.5))
    start, end = started + 0.8, time.monotonic()
    assert rtp_level(phone, 440.0, start, end) == pytest.approx(LEVEL, abs=2.0)
    assert rtp_level(phone, 700.0, start, end) < SILENT
    assert browser.level(700.0, start, end) == pytest.approx(LEVEL, abs=2.0)
    assert browser.level(440.0, start, end) < SILENT
    phone.close()
    await socket.close()
    await browser.close()


async def test_whip_publisher_and_whep_player(server: ServerProcess, room: str) -> None:
    publisher, player = Client(440.0, receive=False), Client(None)
    async with httpx.AsyncClient(
        base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as http:
        published = await http.post(
            f"/api/v1/rooms/{room}/whip", content=await publisher.offer(), headers=SDP
        )
        assert published.status_code == 201, published.text
        assert published.headers["content-type"] == "application/sdp"
        whip = published.headers["location"]
        assert re.fullmatch(rf"/api/v1/rooms/{room}/whip/p-[0-9a-f]+", whip)
        await publisher.accept(published.text)
        played = await http.post(
            f"/api/v1/rooms/{room}/whep", content=await player.offer(), headers=SDP
        )
        assert played.status_code == 201, played.text
        whep = played.headers["location"]
        assert "/whep/" in whep
        await player.accept(played.text)
        await publisher.connected()
        await player.connected()
        phone, _ = await rtp_leg(server, room, "phone")
        started = time.monotonic()
        await phone.play(tone_payloads(phone, 700.0, 2.5))
        start, end = started + 0.8, time.monotonic()
        assert rtp_level(phone, 440.0, start, end) == pytest.approx(LEVEL, abs=2.0)
        assert player.level(700.0, start, end) == pytest.approx(LEVEL, abs=2.0)
        assert player.level(440.0, start, end) == pytest.approx(LEVEL, abs=2.0)
        assert not publisher.heard  # WHIP only publishes
        roster = {p["id"]: p for p in server.roster(room)}
        assert roster[whip.rsplit("/", 1)[1]]["mode"] == "publish"
        assert roster[whep.rsplit("/", 1)[1]]["mode"] == "play"

        trickle = await http.patch(whip, content="a=candidate:x", headers=SDP)
        assert trickle.status_code == 405 and trickle.headers["allow"] == "DELETE"
        assert (await http.delete(whep.replace("/whep/", "/whip/"))).status_code == 404
        for location in (whip, whep):
            assert (await http.delete(location)).status_code == 204
            assert (await http.delete(location)).status_code == 404
        assert [p["name"] for p in server.roster(room)] == ["phone"]
        phone.close()
        participants = server.roster(room)
        await http.delete(f"/api/v1/rooms/{room}/participants/{participants[0]['id']}")
        assert await roster_empty(server, room)

        bad = await http.post(f"/api/v1/rooms/{room}/whip", content="v=0\r\nbogus", headers=SDP)
        assert bad.status_code == 400 and bad.json()["error"] == "bad-sdp"
        watcher = Client(None)
        video = await http.post(
            f"/api/v1/rooms/{room}/whep?video=p-0123456789",
            content=await watcher.offer(),
            headers=SDP,
        )
        await watcher.close()
        # Without a video hub 409 video-unavailable; with one, this source does not exist.
        assert (video.status_code, video.json()["error"]) in (
            (409, "video-unavailable"),
            (404, "unknown-source"),
        )
        wrong_type = await http.post(f"/api/v1/rooms/{room}/whip", content="v=0")
        assert wrong_type.status_code == 415
        no_token = await http.post(
            f"/api/v1/rooms/{room}/whip", content="v=0", headers={**SDP, "Authorization": ""}
        )
        assert no_token.status_code == 401
    await publisher.close()
    await player.close()


async def test_bad_signalling_gets_errors_and_the_session_stays_up(
    server: ServerProcess, room: str
) -> None:
    socket = await open_socket(server, room)
    client = Client(440.0)
    offer = await client.offer()
    cases: list[tuple[str | dict[str, Any], str, str | None]] = [
        ("{not json", "bad-json", None),
        ("[1, 2]", "bad-message", None),
        ({"type": "dance"}, "unknown-type", "dance"),
        ({"type": "join", "name": "x"}, "missing-field", "join"),
        ({"type": "join", "offer": "v=0\r\nnonsense\r\n"}, "bad-sdp", "join"),
        ({"type": "join", "offer": offer + "a=x:" + "y" * 17000 + "\r\n"}, "sdp-too-large", "join"),
        ({"type": "join", "offer": offer, "duplex": "quarter"}, "bad-field", "join"),
        ({"type": "ptt", "action": "press"}, "not-joined", "ptt"),
        ({"type": "mute", "muted": True}, "not-joined", "mute"),
        ({"type": "answer", "sdp": "v=0"}, "not-joined", "answer"),
        ({"type": "subscribe", "source": "p-1"}, "not-joined", "subscribe"),
    ]
    for message, code, regarding in cases:
        await socket.send(message)
        error = await socket.expect("error")
        assert (error["code"], error["for"]) == (code, regarding), error
    await socket.send({"type": "ping"})
    await socket.expect("pong")
    await asyncio.sleep(1.0)  # the rate limit refills
    await socket.send({"type": "join", "name": "late", "offer": offer, "duplex": "half"})
    joined = await socket.expect("joined")
    await client.accept(joined["answer"])
    await socket.send({"type": "join", "offer": offer})
    assert (await socket.expect("error"))["code"] == "already-joined"
    await socket.send({"type": "subscribe", "source": "p-0123456789"})
    assert (await socket.expect("error"))["code"] in ("video-unavailable", "unknown-source")
    await socket.send({"type": "ptt", "action": "jump"})
    assert (await socket.expect("error"))["code"] == "bad-field"
    await socket.send({"type": "mute", "muted": True})
    assert (await socket.expect("muted"))["muted"] is True
    assert [(p["name"], p["duplex"], p["muted"]) for p in server.roster(room)] == [
        ("late", "half", True)
    ]
    assert any(e["type"] == "participant.joined" for e in socket.events)
    await asyncio.sleep(1.0)
    for _ in range(30):  # beyond 20 a second
        await socket.send({"type": "ping"})
    replies = [await socket.connection.recv() for _ in range(30)]
    codes = [json.loads(r).get("code") for r in replies if json.loads(r)["type"] == "error"]
    assert codes and set(codes) == {"rate-limited"}
    await socket.close()
    await client.close()
    assert await roster_empty(server, room)

    big = await open_socket(server, room)
    await big.send(json.dumps({"type": "ping", "pad": "x" * 70000}))
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await big.expect("pong")
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    for token, target, code in (
        ("wrong-token", room, 4401),
        ("reviewer-token-for-tests", room, 4403),
        (TOKEN, "no-such-room", 4404),
    ):
        refused = await open_socket(server, target, token)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await refused.expect("pong")
        assert closed.value.rcvd is not None and closed.value.rcvd.code == code
    expert = Socket(await websockets.connect(socket_url(server, room, "expert-token-for-tests")))
    await expert.send({"type": "ping"})
    await expert.expect("pong")
    await expert.close()


async def test_half_duplex_browser_is_heard_only_while_it_holds_the_floor(
    server: ServerProcess, room: str
) -> None:
    radio_user = Client(440.0)
    socket, participant = await join(server, room, radio_user, "ptt", duplex="half")
    phone, _ = await rtp_leg(server, room, "phone")
    player = asyncio.ensure_future(phone.play([phone.packetize(tone(1.0, 0.02, 8000))[0]] * 200))
    await asyncio.sleep(1.2)
    released = (time.monotonic() - 0.8, time.monotonic())
    await socket.send({"type": "ptt", "action": "press"})
    floor = await socket.expect("floor")
    assert (floor["result"], floor["holder"]) == ("granted", participant)
    pressed_at = time.monotonic()
    await asyncio.sleep(1.2)
    pressed = (pressed_at + 0.4, time.monotonic())
    await socket.send({"type": "ptt", "action": "release"})
    assert (await socket.expect("floor"))["result"] == "released"
    released_at = time.monotonic()
    await asyncio.sleep(1.0)
    after = (released_at + 0.4, time.monotonic())
    await player
    assert rtp_level(phone, 440.0, *released) < SILENT
    assert rtp_level(phone, 440.0, *pressed) == pytest.approx(LEVEL, abs=2.0)
    assert rtp_level(phone, 440.0, *after) < SILENT
    events = await socket.read_events(0.3)
    assert {e["type"] for e in events} >= {"floor.granted", "floor.released"}
    phone.close()
    await socket.close()
    await radio_user.close()


def counter(metrics: str, name: str, room: str) -> float:
    found = re.search(rf'^{name}{{room="{re.escape(room)}"}} (\S+)$', metrics, re.MULTILINE)
    assert found, name
    return float(found.group(1))


async def test_browsers_listening_to_one_mix_share_one_opus_encode(
    server: ServerProcess, room: str
) -> None:
    listeners = [Client(None) for _ in range(3)]
    sockets = [(await join(server, room, c, f"listener-{i}"))[0] for i, c in enumerate(listeners)]
    phone, _ = await rtp_leg(server, room, "talker")
    started = time.monotonic()
    playing = asyncio.ensure_future(phone.play(tone_payloads(phone, 700.0, 3.0)))
    await asyncio.sleep(1.0)
    first = server.metrics()
    await asyncio.sleep(1.5)
    second = server.metrics()
    await playing
    end = time.monotonic()
    ticks = counter(second, "mediacore_ticks_total", room) - counter(
        first, "mediacore_ticks_total", room
    )
    encodes = counter(second, "mediacore_encodes_total", room) - counter(
        first, "mediacore_encodes_total", room
    )
    # Per tick: one PCMU encode of silence for the talker (it hears no one), one Opus encode
    # of the talker for all three browsers. Unshared, the browsers alone would need three.
    assert ticks > 50
    assert encodes / ticks == pytest.approx(2.0, abs=0.1)
    for client in listeners:
        assert client.level(700.0, started + 0.8, end) == pytest.approx(LEVEL, abs=2.0)
    phone.close()
    for socket in sockets:
        await socket.close()
    for client in listeners:
        await client.close()
