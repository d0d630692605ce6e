"""Fuzz targets that read client messages in a session: WebRTC signalling and the API's bodies.

The signalling session (webrtc/signalling.py) is sans-I/O: it takes text and fills an outbox,
so the fuzzer drives it without a socket, behind a room that parses offers but makes no peer
connection (the media side is aiortc's). Every message it cannot carry out must become an
"error" reply: nothing may escape `receive()`. The API bodies are read the way FastAPI reads
them (json.loads, then the route's pydantic model, then the setting checks behind the route).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from bench.fuzztarget import JSON_TOKENS, Check, FuzzTarget

# -- WebRTC signalling ------------------------------------------------------------------------

MESSAGES_PER_INPUT = 8  # one input is up to this many messages, one a line, to one session


def _signalling() -> tuple[Check, list[bytes]]:
    import asyncio

    from mediacore.events import EventBus, Subscription
    from mediacore.sdp import SdpError, SessionDescription
    from mediacore.server.roomcontent import RoomContent
    from mediacore.videohub import VideoHub
    from webrtc.contentshare import offered_video_sends
    from webrtc.peer import LegMode, WebRtcError
    from webrtc.peerroom import Peer, PeerJoin, PttAction
    from webrtc.signalling import SignallingSession

    class OfferOnlyPeer:
        """A joined peer whose media never starts."""

        def __init__(self, number: int) -> None:
            self.participant_id = f"p{number}"
            self.room = "fuzz"
            self.mode: LegMode = "session"
            self.owner = "fuzzer"
            self.on_negotiation_needed: Callable[[], None] | None = None
            self.closed = False
            self.negotiating = False
            self.sources: set[str] = set()
            self._on_close: list[Callable[[str], None]] = []

        def on_close(self, callback: Callable[[str], None]) -> None:
            self._on_close.append(callback)

        def close(self, reason: str) -> None:
            self.closed = True
            for callback in self._on_close:
                callback(reason)

        async def renegotiate(self) -> str:
            self.negotiating = True
            return "v=0\r\n"

        async def accept_answer(self, sdp: str) -> None:
            if not self.negotiating:
                raise WebRtcError("no-offer-pending", "no offer of ours waits for an answer")
            _parsed(sdp)
            self.negotiating = False

        async def subscribe(self, source: str) -> None:
            self.sources.add(source)
            if self.on_negotiation_needed is not None:
                self.on_negotiation_needed()

        async def unsubscribe(self, source: str) -> None:
            self.sources.remove(source)

        async def share(self, offer: str | None, mid: str) -> tuple[str | None, str]:
            if offer is not None:
                offered_video_sends(offer, mid)
            return (None if offer is None else "v=0\r\n"), f"{self.participant_id}/content"

    def _parsed(sdp: str) -> SessionDescription:
        try:
            return SessionDescription.parse(sdp)
        except SdpError as error:
            raise WebRtcError("bad-sdp", str(error)) from None

    class OfferOnlyRoom:
        """A PeerRoom that checks offers and keeps a roster, with no media."""

        name = "fuzz"

        def __init__(self) -> None:
            self.bus = EventBus()
            self.peers: dict[str, OfferOnlyPeer] = {}

        def events(self, capacity: int) -> Subscription:
            return self.bus.subscribe(self.name, capacity)

        async def join(self, request: PeerJoin) -> tuple[Peer, str]:
            if not _parsed(request.offer).media:
                raise WebRtcError("bad-sdp", "the offer has no media")
            peer = OfferOnlyPeer(len(self.peers))
            self.peers[peer.participant_id] = peer
            return peer, "v=0\r\n"

        async def floor(self, participant: str, action: PttAction) -> dict[str, Any]:
            if participant not in self.peers:
                raise KeyError(participant)
            return {"result": "granted", "holder": participant}

        def may_watch(self, source: str) -> bool:
            return source.startswith("cam")

        async def mute(self, participant: str, muted: bool) -> None:
            if participant not in self.peers:
                raise KeyError(participant)

        async def remove(self, participant: str, reason: str) -> None:
            self.peers.pop(participant).close(reason)

    loop = asyncio.new_event_loop()
    clock = [0.0]

    async def converse(lines: list[str]) -> None:
        room = OfferOnlyRoom()
        content = RoomContent(room.bus, VideoHub())
        session = SignallingSession(room, user="fuzzer", may_talk=True, content=content)
        session.start()
        try:
            for line in lines:
                clock[0] += 1.0  # past the rate limit: every message is read
                await session.receive(line, clock[0])
                await asyncio.sleep(0)  # let a renegotiation task run
            for reply in session.drain():
                json.dumps(reply)  # every reply must be sendable as JSON
        finally:
            await session.close()

    def check(data: bytes) -> None:
        text = data.decode("utf-8", "replace")
        loop.run_until_complete(converse(text.split("\n")[:MESSAGES_PER_INPUT]))

    offer = (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\n"
    )
    screen = offer.replace("audio", "video") + "a=mid:1\r\na=sendonly\r\n"
    conversation = [
        {"type": "join", "offer": offer, "name": "unit 4", "duplex": "half"},
        {"type": "ptt", "action": "press"},
        {"type": "mute", "muted": True},
        {"type": "subscribe", "source": "cam-1"},
        {"type": "answer", "sdp": offer},
        {"type": "unsubscribe", "source": "cam-1"},
        {"type": "share", "offer": screen, "mid": "1"},
        {"type": "unshare"},
        {"type": "ping"},
        {"type": "leave"},
    ]
    seeds = ["\n".join(json.dumps(message) for message in conversation).encode()]
    return check, seeds


SIGNALLING = FuzzTarget(
    "signalling",
    "WebRTC signalling session",
    "(none: errors are replies)",
    ("webrtc", "mediacore"),
    _signalling,
    json_prefix=0,
    dictionary=JSON_TOKENS
    + tuple(
        f'"{word}"'.encode()
        for word in ("type", "join", "offer", "answer", "sdp", "ptt", "press", "mute", "muted")
        + ("subscribe", "unsubscribe", "source", "leave", "ping", "name", "duplex", "half")
        + ("share", "unshare", "mid", "a=mid:", "sendonly", "m=video")
    ),
)


# -- API bodies -------------------------------------------------------------------------------


def _api_bodies() -> tuple[Check, list[bytes]]:
    import dataclasses

    from pydantic import BaseModel, ValidationError

    from mediacore.room import RoomError, RoomSettings
    from mediacore.server.api_floor import FloorAction
    from mediacore.server.api_joinlinks import JoinLinkRequest
    from mediacore.server.api_recordings import ExportRequest, HoldRequest
    from mediacore.server.api_rooms import ParticipantChange, RoomChange, RoomCreate
    from mediacore.server.api_sip import DialRequest
    from mediacore.server.api_sources import SourceCreate
    from mixer.layout import LayoutError, parse_wall

    def create_room(body: BaseModel) -> None:
        RoomSettings(**body.model_dump()).validate()

    def change_room(body: BaseModel) -> None:
        changes = body.model_dump(exclude_none=True)
        dataclasses.replace(RoomSettings("fuzz"), **changes).validate()

    # The first byte of an input picks the body: (its model, what the route does next).
    bodies: list[tuple[type[BaseModel] | None, Callable[[Any], object]]] = [
        (RoomCreate, create_room),
        (RoomChange, change_room),
        (ParticipantChange, _nothing),
        (FloorAction, _nothing),
        (JoinLinkRequest, _nothing),
        (ExportRequest, _nothing),
        (HoldRequest, _nothing),
        (DialRequest, _nothing),
        (SourceCreate, _nothing),
        (None, parse_wall),  # PUT /walls/{wall}: the layout's own validator (returns a Wall)
    ]

    def check(data: bytes) -> None:
        if not data:
            return
        model, then = bodies[data[0] % len(bodies)]
        if model is not None:
            try:
                value = json.loads(data[1:])
            except Exception:  # noqa: BLE001 - FastAPI answers 400 to any body it cannot read
                return
            try:
                then(model.model_validate(value))
            except (ValidationError, RoomError):
                pass
            return
        # PUT /walls reads its body itself: json.loads, a 400 for what it cannot read.
        try:
            value = json.loads(data[1:])
        except (ValueError, RecursionError):
            return
        try:
            then(value)
        except LayoutError:
            return
        # Accepted: the definition is kept and sent back as the response (and on every GET).
        json.dumps(value, ensure_ascii=False, allow_nan=False).encode()

    examples: list[tuple[int, Any]] = [
        (0, {"name": "incident-7", "ptime": 20, "rate": 48000, "floor": "queue"}),
        (1, {"max_talkers": 4, "talk_on_dbfs": -40.5, "retention_days": 30}),
        (2, {"muted": True, "priority": 3, "gain_db": -6.0, "duplex": "half", "name": "u"}),
        (3, {"participant": "p1", "action": "request", "priority": 2}),
        (4, {"name": "expert", "minutes": 30, "role": "operator"}),
        (5, {"start": "2026-01-01T00:00:00Z", "to_s": 12.5, "tracks": ["mix", "video"]}),
        (6, {"legal_hold": True}),
        (7, {"uri": "sip:unit@192.0.2.5", "radio": "txrx", "trunk": "t1"}),
        (8, {"url": "rtsp://192.0.2.7/cam", "name": "cam", "audio": False}),
        (
            9,
            {
                "canvas": {"width": 3840, "height": 1080, "fps": 25},
                "layout": {"kind": "grid", "regions": []},
                "outputs": [{"x": 0, "y": 0, "width": 1920, "height": 1080}],
                "room": "incident-7",
            },
        ),
    ]
    return check, [bytes((index,)) + json.dumps(value).encode() for index, value in examples]


def _nothing(body: Any) -> None:
    """Routes whose model is the whole check."""


API_BODIES = FuzzTarget(
    "api-bodies",
    "API JSON bodies (pydantic models, wall layouts)",
    "ValidationError, RoomError, LayoutError",
    ("mediacore", "mixer"),
    _api_bodies,
    json_prefix=1,
    dictionary=JSON_TOKENS
    + tuple(
        f'"{word}"'.encode()
        for word in ("name", "ptime", "rate", "floor", "priority", "gain_db", "label", "room")
        + ("canvas", "layout", "outputs", "regions", "kind", "width", "height", "fps", "url")
    ),
)
