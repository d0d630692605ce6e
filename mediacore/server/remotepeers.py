"""WebRTC peers of rooms on media workers, as control's signalling sees them.

The signalling WebSocket, WHIP and WHEP stay in control; a peer's connection runs in the worker
that holds its room's shard (mediacore/server/workerpeers.py). `RemotePeerRoom` joins through
the room's placement (a spanning room puts the peer on a shard with room), and acts through the
same calls the HTTP API makes; `RemotePeer` forwards offer/answer rounds and video
subscriptions, and hears back when the worker needs a new offer or the peer has closed.

When a worker dies, its peers close with `MEDIA_LOST`: the signalling socket closes with 1012,
and the console joins again once the room is back on the restarted worker."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from mediacore.channelio import RequestFailed
from mediacore.clock import MONOTONIC
from mediacore.events import EventBus, Subscription
from mediacore.server.rooms import FloorAction, NoRunningShard, NoSuchParticipant
from mediacore.server.shardedrooms import ShardedRooms
from mediacore.server.workers import WorkerProcess
from mediacore.videohub import VideoHub
from webrtc.closing import CloseCallbacks
from webrtc.peer import LegMode, WebRtcError
from webrtc.peerroom import MEDIA_LOST, Peer, PeerJoin, Peers, PttAction
from webrtc.settings import WebRtcSettings

log = logging.getLogger(__name__)

RESTART_WAIT = 6.0  # seconds a join waits for a room whose only worker is restarting


class RemotePeer:
    """A peer whose connection runs in a media worker."""

    def __init__(
        self, worker: WorkerProcess, room: str, participant_id: str, mode: LegMode, owner: str
    ) -> None:
        self.worker = worker
        self.room = room
        self.participant_id = participant_id
        self.mode: LegMode = mode
        self.owner = owner
        self.on_negotiation_needed: Callable[[], None] | None = None
        self._closed = False
        self._negotiating = False
        self._close_callbacks = CloseCallbacks()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def negotiating(self) -> bool:
        return self._negotiating

    def on_close(self, callback: Callable[[str], None]) -> None:
        self._close_callbacks.add(callback)

    async def renegotiate(self) -> str:
        answer = await self._ask("peer.renegotiate")
        self._negotiating = True
        return str(answer["sdp"])

    async def accept_answer(self, sdp: str) -> None:
        await self._ask("peer.answer", sdp=sdp)
        self._negotiating = False

    async def subscribe(self, source: str) -> None:
        await self._ask("peer.subscribe", source=source)

    async def unsubscribe(self, source: str) -> None:
        await self._ask("peer.unsubscribe", source=source)

    async def share(self, offer: str | None, mid: str) -> tuple[str | None, str]:
        answer = await self._ask("peer.share", offer=offer, mid=mid)
        sdp = answer.get("answer")
        return (None if sdp is None else str(sdp)), str(answer["source"])

    # -- what the worker says -------------------------------------------------------------

    def negotiation_needed(self) -> None:
        if self.on_negotiation_needed is not None and not self._closed:
            self.on_negotiation_needed()

    def closed_by_worker(self, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        self._close_callbacks.fire(reason)

    async def _ask(self, method: str, **data: Any) -> Any:
        try:
            return await self.worker.request(method, participant=self.participant_id, **data)
        except RequestFailed as error:
            raise _webrtc_failure(error) from None
        except ConnectionError:
            raise WebRtcError("unavailable", "the room's media process is restarting") from None


class RemotePeerRoom:
    """A room on media workers, as a WebRTC peer joins it."""

    def __init__(
        self,
        sharded: ShardedRooms,
        name: str,
        remote: RemotePeers,
        bus: EventBus,
    ) -> None:
        self.sharded = sharded
        self.name = name
        self.remote = remote
        self.bus = bus

    def events(self, capacity: int) -> Subscription:
        return self.bus.subscribe(self.name, capacity=capacity)

    async def join(self, request: PeerJoin) -> tuple[Peer, str]:
        ice_servers = [server.to_json() for server in self.remote.settings.ice_servers]
        worker, answer = await self._add({**request.to_json(), "ice_servers": ice_servers})
        peer = RemotePeer(
            worker, self.name, answer["participant"]["id"], request.mode, request.owner
        )
        return self.remote.adopt(peer), str(answer["answer"])

    async def _add(self, request: dict[str, Any]) -> tuple[WorkerProcess, dict[str, Any]]:
        """Join through the placement; a room whose workers are all restarting is waited for."""
        deadline = MONOTONIC.now() + RESTART_WAIT
        while True:
            try:
                return await self.sharded.add_leg(self.name, "peer.join", **request)
            except RequestFailed as error:
                raise _webrtc_failure(error) from None
            except (NoRunningShard, ConnectionError):
                if MONOTONIC.now() > deadline:
                    raise
            await asyncio.sleep(0.25)

    async def floor(self, participant: str, action: PttAction) -> dict[str, Any]:
        kind: FloorAction = "request" if action == "press" else "release"
        try:
            return await self.sharded.floor_action(
                self.name, participant, kind, None, by=participant, source="websocket"
            )
        except NoSuchParticipant:
            raise KeyError(participant) from None

    def may_watch(self, source: str) -> bool:
        """The server's hub holds every source (workers' peers' too, as proxies)."""
        return self.remote.hub.may_watch(_Members(self.name, self.sharded), source)

    async def mute(self, participant: str, muted: bool) -> None:
        try:
            await self.sharded.update(self.name, participant, {"muted": muted})
        except NoSuchParticipant:
            raise KeyError(participant) from None

    async def remove(self, participant: str, reason: str) -> None:
        try:
            await self.sharded.remove(self.name, participant, reason)
        except (NoSuchParticipant, ConnectionError):
            raise KeyError(participant) from None


class _Members:
    """A room on workers as the hub's `may_watch` reads it: its name and participants."""

    def __init__(self, name: str, sharded: ShardedRooms) -> None:
        self.name = name
        placed = sharded.rooms.get(name)
        shards = placed.shards if placed is not None else []
        self.participants = {pid: True for shard in shards for pid in shard.participants}


class RemotePeers:
    """Control's side of every worker peer: what their workers say reaches them."""

    def __init__(
        self,
        sharded: ShardedRooms,
        peers: Peers,
        settings: WebRtcSettings,
        bus: EventBus,
        hub: VideoHub,
    ) -> None:
        self.sharded = sharded
        self.hub = hub
        self.peers = peers
        self.settings = settings
        self.bus = bus
        self._remote: dict[str, RemotePeer] = {}
        sharded.notification_listeners["peer.negotiate"] = self._negotiate
        sharded.notification_listeners["peer.closed"] = self._closed
        sharded.lost_listeners.append(self._lost)

    def room(self, name: str) -> RemotePeerRoom | None:
        """The open room `name` as a WebRTC peer joins it."""
        if name not in self.sharded.rooms:
            return None
        return RemotePeerRoom(self.sharded, name, self, self.bus)

    def adopt(self, peer: RemotePeer) -> RemotePeer:
        self._remote[peer.participant_id] = peer
        self.peers.add(peer)
        peer.on_close(lambda _reason: self._forget(peer))
        return peer

    def _forget(self, peer: RemotePeer) -> None:
        if self._remote.get(peer.participant_id) is peer:
            del self._remote[peer.participant_id]

    def _negotiate(self, worker: WorkerProcess, data: dict[str, Any]) -> None:
        peer = self._remote.get(data["participant"])
        if peer is not None and peer.worker is worker:
            peer.negotiation_needed()

    def _closed(self, worker: WorkerProcess, data: dict[str, Any]) -> None:
        peer = self._remote.get(data["participant"])
        if peer is not None and peer.worker is worker:
            peer.closed_by_worker(data["reason"])

    def _lost(self, worker: WorkerProcess) -> None:
        for peer in [p for p in self._remote.values() if p.worker is worker]:
            peer.closed_by_worker(MEDIA_LOST)


def _webrtc_failure(error: RequestFailed) -> Exception:
    """A worker's refusal as the exception signalling expects."""
    kind, _, reason = error.kind.partition(":")
    if kind == "WebRtcError":
        return WebRtcError(reason, error.detail)
    if kind in ("KeyError", "NoSuchParticipant"):
        return KeyError(error.detail)
    return error
