"""What WebRTC signalling asks of a room and of a joined peer, wherever the peer's media runs.

The signalling WebSocket, WHIP and WHEP live in the control process. The peer connection (ICE,
DTLS, SRTP, the Opus playout) lives with the room's audio: in the same process when the server
runs as one (`LocalPeerRoom`, below), in a media worker otherwise
(`mediacore.server.remotepeers`). Both give signalling the same two objects: a `PeerRoom` to
join and act in, and a `Peer` for each joined peer's offer/answer rounds and video.

`Peers` keeps the live peers of the server by participant id, so that WHIP/WHEP's DELETE finds
them and knows who made them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, cast

from mediacore.events import Event, EventBus, Subscription
from mediacore.participant import Duplex, Participant
from mediacore.room import Room
from webrtc.contentshare import share_track
from webrtc.peer import LegMode, WebRtcLeg
from webrtc.service import WebRtcService

PttAction = Literal["press", "release"]
# The reason a peer closes with when the process holding its media died (it may join again).
MEDIA_LOST = "worker-lost"


@dataclass(frozen=True)
class PeerJoin:
    """A WebRTC join: the peer's `offer`, its display `name`, who makes it (`owner`, an
    identity), its `mode`, and for a session its `duplex`; `loopback` is the addresses to offer
    as host candidates, `video_source` the source a WHEP player watches."""

    offer: str
    name: str
    owner: str
    mode: LegMode
    duplex: Duplex = "full"
    loopback: Sequence[str] = ()
    video_source: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "offer": self.offer,
            "name": self.name,
            "owner": self.owner,
            "mode": self.mode,
            "duplex": self.duplex,
            "loopback": list(self.loopback),
            "video_source": self.video_source,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PeerJoin:
        """The join `to_json` wrote (other keys are ignored). Raises KeyError."""
        return cls(
            offer=str(data["offer"]),
            name=str(data["name"]),
            owner=str(data["owner"]),
            mode=cast(LegMode, data["mode"]),
            duplex=cast(Duplex, data["duplex"]),
            loopback=tuple(data["loopback"]),
            video_source=data.get("video_source"),
        )


class Peer(Protocol):
    """A joined peer as its signalling sees it."""

    participant_id: str
    room: str
    mode: LegMode
    owner: str
    on_negotiation_needed: Callable[[], None] | None

    @property
    def closed(self) -> bool: ...

    @property
    def negotiating(self) -> bool:
        """True while an offer of ours waits for the peer's answer."""
        ...

    def on_close(self, callback: Callable[[str], None]) -> None:
        """Call `callback(reason)` once the peer has closed, whoever closed it."""
        ...

    async def renegotiate(self) -> str:
        """A server offer (video added or removed). Raises WebRtcError("negotiating")."""
        ...

    async def accept_answer(self, sdp: str) -> None:
        """The peer's answer to our offer. Raises WebRtcError ("no-offer-pending", "bad-sdp")."""
        ...

    async def subscribe(self, source: str) -> None:
        """Send video source `source` to the peer. Raises KeyError (no such source) or
        WebRtcError ("video-unavailable", "video-refused")."""
        ...

    async def unsubscribe(self, source: str) -> None:
        """Stop sending `source`. Raises KeyError (not subscribed) or WebRtcError."""
        ...

    async def share(self, offer: str | None, mid: str) -> tuple[str | None, str]:
        """Take the peer's video `mid` as a source (the room's content, to the caller), after
        applying the peer's `offer` when given; returns our answer (None without an offer)
        and the source id. Raises WebRtcError (see webrtc.contentshare)."""
        ...


class PeerRoom(Protocol):
    """A room as WebRTC signalling sees it. Participant lookups raise KeyError."""

    name: str

    def events(self, capacity: int) -> Subscription: ...

    async def join(self, request: PeerJoin) -> tuple[Peer, str]:
        """A new participant for `request`; returns its peer and the SDP answer. Raises
        WebRtcError (the offer), RoomClosed, RoomFull or RoomError."""
        ...

    async def floor(self, participant: str, action: PttAction) -> dict[str, Any]:
        """Push-to-talk: the floor's answer (`result`, `holder`, maybe `position`/`reason`)."""
        ...

    def may_watch(self, source: str) -> bool:
        """Whether this room's participants may receive video source `source`: one a
        participant of the room publishes, or one bound to the room (a wall showing it)."""
        ...

    async def mute(self, participant: str, muted: bool) -> None: ...

    async def remove(self, participant: str, reason: str) -> None: ...


class Peers:
    """The server's live peers, by participant id; a closed peer is forgotten."""

    def __init__(self) -> None:
        self._peers: dict[str, Peer] = {}

    def add(self, peer: Peer) -> Peer:
        self._peers[peer.participant_id] = peer
        peer.on_close(lambda _reason: self._forget(peer))
        return peer

    def find(self, room: str, participant: str, mode: LegMode | None = None) -> Peer:
        """The live peer `participant` of `room` (of `mode`, if given). Raises KeyError."""
        peer = self._peers.get(participant)
        if peer is None or peer.closed or peer.room != room:
            raise KeyError(participant)
        if mode is not None and peer.mode != mode:
            raise KeyError(participant)
        return peer

    def owner_of(self, participant: str) -> str | None:
        """Who made the live peer `participant` (their identity), None when no peer is."""
        peer = self._peers.get(participant)
        return peer.owner if peer is not None and not peer.closed else None

    def owned_by(self, owner: str) -> list[Peer]:
        """The live peers `owner` (an identity) made: what ends when its credential does."""
        return [peer for peer in self._peers.values() if peer.owner == owner and not peer.closed]

    def follow(self, event: Event) -> None:
        """A bus listener: a peer whose participant moved belongs to its new room."""
        if event.type != "participant.moved" or event.room != event.data.get("to"):
            return
        peer = self._peers.get(str(event.data.get("participant")))
        if peer is not None:
            peer.room = str(event.data["to"])

    def __len__(self) -> int:
        return len(self._peers)

    def _forget(self, peer: Peer) -> None:
        if self._peers.get(peer.participant_id) is peer:
            del self._peers[peer.participant_id]


class LocalPeer:
    """A peer whose connection runs in this process: the leg itself, and the video hub."""

    def __init__(self, leg: WebRtcLeg, service: WebRtcService, room: str, owner: str) -> None:
        assert leg.participant_id is not None
        self.leg = leg
        self.service = service
        self.participant_id = leg.participant_id
        self.room = room
        self.mode = leg.mode
        self.owner = owner

    @classmethod
    async def join(
        cls, service: WebRtcService, room: Room, request: PeerJoin
    ) -> tuple[LocalPeer, Participant, str]:
        """Join `room` through `service`; returns the peer, its participant and the SDP answer.
        Raises as `WebRtcService.join` does."""
        participant, answer = await service.join(
            room,
            request.offer,
            name=request.name,
            mode=request.mode,
            duplex=request.duplex,
            loopback=request.loopback,
            video_source=request.video_source,
        )
        leg = participant.endpoint
        assert isinstance(leg, WebRtcLeg)
        return cls(leg, service, room.name, request.owner), participant, answer

    @property
    def on_negotiation_needed(self) -> Callable[[], None] | None:
        return self.leg.on_negotiation_needed

    @on_negotiation_needed.setter
    def on_negotiation_needed(self, callback: Callable[[], None] | None) -> None:
        self.leg.on_negotiation_needed = callback

    @property
    def closed(self) -> bool:
        return self.leg.closed

    @property
    def negotiating(self) -> bool:
        return self.leg.negotiating

    def on_close(self, callback: Callable[[str], None]) -> None:
        self.leg.on_close(callback)

    async def renegotiate(self) -> str:
        return await self.leg.renegotiate()

    async def accept_answer(self, sdp: str) -> None:
        await self.leg.accept_answer(sdp)
        hub = self.service.video_hub
        if hub is not None:
            hub.attach(self.leg)  # video the peer added in this round becomes a source

    async def subscribe(self, source: str) -> None:
        await self.service.subscribe(self.leg, source)

    async def unsubscribe(self, source: str) -> None:
        await self.service.unsubscribe(self.leg, source)

    async def share(self, offer: str | None, mid: str) -> tuple[str | None, str]:
        return await share_track(self.leg, self.service, offer, mid)


class LocalPeerRoom:
    """A room of this process, joined through the process's WebRTC service."""

    def __init__(self, service: WebRtcService, room: Room, peers: Peers, bus: EventBus) -> None:
        self.service = service
        self.room = room
        self.peers = peers
        self.bus = bus
        self.name = room.name

    def events(self, capacity: int) -> Subscription:
        return self.bus.subscribe(self.name, capacity=capacity)

    async def join(self, request: PeerJoin) -> tuple[Peer, str]:
        peer, _, answer = await LocalPeer.join(self.service, self.room, request)
        return self.peers.add(peer), answer

    async def floor(self, participant: str, action: PttAction) -> dict[str, Any]:
        if action == "press":
            result = self.room.request_floor(participant, "websocket")
        else:
            result = self.room.release_floor(participant, "websocket")
        return result.to_json()

    async def mute(self, participant: str, muted: bool) -> None:
        self.room.update(participant, muted=muted)

    def may_watch(self, source: str) -> bool:
        hub = self.service.video_hub
        return hub is not None and hub.may_watch(self.room, source)

    async def remove(self, participant: str, reason: str) -> None:
        await self.room.remove(participant, reason)

    def participant(self, participant_id: str) -> Participant:
        """The room's participant (for tests and tools). Raises KeyError."""
        return self.room.get(participant_id)
