"""WebRtcLeg in-process against aiortc clients: negotiation, loopback ICE, renegotiation for
video, WHEP with a video hub, and leaving when the connection goes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aioice.ice
import pytest
from aiortc import VideoStreamTrack

from mediacore.events import Event, EventBus
from mediacore.room import Room, RoomSettings
from mixer.audiomixer import AudioMixer
from tests.webrtc.clients import Client
from webrtc.ice import add_host_candidates
from webrtc.peer import CONNECT_TIMEOUT, WebRtcError, WebRtcLeg
from webrtc.service import WebRtcService
from webrtc.settings import WebRtcSettings


@pytest.fixture
async def room() -> AsyncIterator[Room]:
    opened = Room(RoomSettings("peer-tests"), EventBus(), make_mixer=AudioMixer)
    opened.start()
    yield opened
    await opened.close()


@pytest.fixture
async def service() -> AsyncIterator[WebRtcService]:
    created = WebRtcService(WebRtcSettings())
    yield created
    await created.stop()


def candidates(sdp: str) -> list[str]:
    return [line.split()[4] for line in sdp.splitlines() if line.startswith("a=candidate:")]


async def test_a_loopback_only_client_connects_through_the_added_host_candidate(
    room: Room, service: WebRtcService, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A machine with no address but loopback: aioice itself gathers nothing at all.
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: [])
    client = Client(440.0)
    offer = await client.pc.createOffer()
    gatherer = client.pc.getTransceivers()[0].receiver.transport.transport.iceGatherer
    await add_host_candidates(gatherer, ["127.0.0.1"])
    await client.pc.setLocalDescription(offer)
    assert candidates(client.pc.localDescription.sdp) == ["127.0.0.1"]

    _, bare = await service.join(room, client.pc.localDescription.sdp, name="x", mode="session")
    assert candidates(bare) == []  # what the server would answer without the fix
    participant, answer = await service.join(
        room,
        client.pc.localDescription.sdp,
        name="a",
        mode="session",
        loopback=["127.0.0.1"],
    )
    assert candidates(answer) == ["127.0.0.1"]
    await client.accept(answer)
    await client.connected()
    leg = participant.endpoint
    assert isinstance(leg, WebRtcLeg)
    await asyncio.sleep(0.5)
    assert leg.remote_address() is not None and leg.remote_address().startswith("127.0.0.1:")
    assert leg.statistics()["packets_received"] > 10
    await client.close()


async def test_offers_without_opus_or_audio_are_refused(room: Room, service: WebRtcService) -> None:
    client = Client(440.0)
    offer = await client.offer()
    no_opus = offer.replace("opus/48000/2", "xopus/48000/2")
    with pytest.raises(WebRtcError) as refused:
        await service.join(room, no_opus, name="a", mode="session")
    assert refused.value.reason == "no-common-codec"
    no_audio = offer.split("m=audio")[0]
    with pytest.raises(WebRtcError) as refused:
        await service.join(room, no_audio, name="a", mode="session")
    assert refused.value.reason == "no-audio"
    assert not room.participants and not service.legs
    await client.close()


async def test_a_peer_that_goes_away_leaves_the_room(room: Room, service: WebRtcService) -> None:
    left: list[Event] = []
    room.bus.listen(lambda event: left.append(event) if event.type == "participant.left" else None)
    client = Client(440.0)
    participant, answer = await service.join(room, await client.offer(), name="a", mode="session")
    await client.accept(answer)
    await client.connected()
    assert participant.endpoint.check(time.monotonic()) is None
    await client.close()  # DTLS close_notify: the server's connection closes
    deadline = time.monotonic() + 5
    while participant.id in room.participants and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert participant.id not in room.participants and participant.id not in service.legs
    assert [e.data["reason"] for e in left] == ["webrtc-closed"]


async def test_a_peer_that_never_connects_times_out(room: Room, service: WebRtcService) -> None:
    client = Client(440.0)
    participant, _ = await service.join(room, await client.offer(), name="a", mode="session")
    leg = participant.endpoint
    assert leg.check(time.monotonic()) is None
    assert leg.check(time.monotonic() + CONNECT_TIMEOUT + 1) == "webrtc-timeout"
    await client.close()


async def test_server_offer_adds_video_to_a_connected_peer(
    room: Room, service: WebRtcService
) -> None:
    client = Client(440.0)
    participant, answer = await service.join(room, await client.offer(), name="a", mode="session")
    await client.accept(answer)
    await client.connected()
    leg = participant.endpoint
    assert isinstance(leg, WebRtcLeg)
    asked: list[bool] = []
    leg.on_negotiation_needed = lambda: asked.append(True)
    sender = leg.add_video_sender(VideoStreamTrack())
    assert asked == [True] and leg.video_senders == [sender]
    offer = await leg.renegotiate()
    assert "m=video" in offer
    with pytest.raises(WebRtcError):
        await leg.renegotiate()  # one round at a time
    await leg.accept_answer(await client.answer_offer(offer))
    assert not leg.negotiating
    assert [track.kind for track in client.video_tracks] == ["video"]
    frame = await asyncio.wait_for(client.video_tracks[0].recv(), 5)
    assert (frame.width, frame.height) == (640, 480)
    assert leg.describe()["video_out"] == 1
    leg.remove_video_sender(sender)
    assert asked == [True, True] and leg.video_senders == []
    with pytest.raises(WebRtcError) as refused:
        await leg.accept_answer("v=0")
    assert refused.value.reason == "no-offer-pending"
    await client.close()


class VideoHubStub:
    """A hub that sends a generated video to whoever subscribes to source "camera"."""

    def __init__(self) -> None:
        self.attached: list[WebRtcLeg] = []
        self.detached: list[WebRtcLeg] = []

    async def subscribe(self, leg: WebRtcLeg, source_id: str) -> None:
        if source_id != "camera":
            raise KeyError(source_id)
        leg.add_video_sender(VideoStreamTrack())

    async def unsubscribe(self, leg: WebRtcLeg, source_id: str) -> None:
        raise KeyError(source_id)

    def attach(self, leg: WebRtcLeg) -> None:
        self.attached.append(leg)

    def detach(self, leg: WebRtcLeg) -> None:
        self.detached.append(leg)


async def test_whep_asks_the_hub_for_video_before_answering(
    room: Room, service: WebRtcService
) -> None:
    player = Client(None)
    player.pc.addTransceiver("video", direction="recvonly")
    offer = await player.offer()
    with pytest.raises(WebRtcError) as refused:
        await service.join(room, offer, name="p", mode="play", video_source="camera")
    assert refused.value.reason == "video-unavailable"

    hub = VideoHubStub()
    service.video_hub = hub
    with pytest.raises(WebRtcError) as refused:
        await service.join(room, offer, name="p", mode="play", video_source="drone")
    assert refused.value.reason == "unknown-source"
    participant, answer = await service.join(
        room, offer, name="p", mode="play", video_source="camera"
    )
    video = answer[answer.index("m=video") :]
    assert "a=sendonly" in video
    audio = answer[answer.index("m=audio") : answer.index("m=video")]
    assert "a=sendonly" in audio and "opus/48000/2" in audio
    assert hub.attached == [participant.endpoint]
    await player.accept(answer)
    await player.connected()
    frame = await asyncio.wait_for(player.video_tracks[0].recv(), 5)
    assert frame.width == 640
    await room.remove(participant.id, "ended")
    assert hub.detached == [participant.endpoint]
    await player.close()


async def test_video_from_a_peer_is_declined_without_a_hub(
    room: Room, service: WebRtcService
) -> None:
    client = Client(440.0)
    client.pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
    _, answer = await service.join(room, await client.offer(), name="cam", mode="session")
    assert "a=inactive" in answer[answer.index("m=video") :]
    await client.close()
