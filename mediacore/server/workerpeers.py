"""WebRTC peers in a media worker: the connection here, its signalling in control.

Control's signalling (webrtc/signalling.py, WHIP, WHEP) sees a peer of a worker's room as a
`mediacore.server.remotepeers.RemotePeer`; its requests land here ("peer.join", offers and
answers of renegotiation, video subscriptions), and the worker tells control when a peer needs
a new offer ("peer.negotiate") and when it has closed ("peer.closed"). ICE, DTLS, SRTP, the
Opus playout and the mixer's encode all run in this process, next to the room's clock."""

from __future__ import annotations

import logging
from typing import Any

from mediacore.channelio import Channel, RequestFailed
from mediacore.server.rooms import LocalRooms, NoSuchParticipant
from mediacore.server.workervideo import WorkerVideo
from webrtc.peer import WebRtcError
from webrtc.peerroom import LocalPeer, PeerJoin
from webrtc.service import WebRtcService
from webrtc.settings import parse_webrtc_settings

log = logging.getLogger(__name__)


class WorkerPeers:
    """The worker's WebRTC peers, by participant id."""

    def __init__(
        self, rooms: LocalRooms, channel: Channel, worker_id: int, video: WorkerVideo
    ) -> None:
        self.rooms = rooms
        self.channel = channel
        self.worker_id = worker_id
        self.video = video
        self.service = WebRtcService(parse_webrtc_settings({}))
        self.service.video_hub = video.hub  # joined to control's hub by `video`
        self.peers: dict[str, LocalPeer] = {}
        channel.handlers.update(
            {
                "peer.join": self.join,
                "peer.renegotiate": self.renegotiate,
                "peer.answer": self.answer,
                "peer.subscribe": self.subscribe,
                "peer.unsubscribe": self.unsubscribe,
                "peer.share": self.share,
            }
        )

    async def join(self, data: dict[str, Any]) -> dict[str, Any]:
        room = self.rooms.room(data["room"])
        # The ICE servers come with each join, never on a command line where `ps` shows them.
        self.service.settings = parse_webrtc_settings({"ice_servers": data["ice_servers"]})
        video_source = data.get("video_source")
        try:
            if video_source is not None:
                await self._watchable(video_source)
            peer, participant, answer = await LocalPeer.join(
                self.service, room, PeerJoin.from_json(data)
            )
        except WebRtcError as error:
            raise _failure(error) from None
        self.video.export()
        self.peers[peer.participant_id] = peer
        peer.on_negotiation_needed = lambda: self.channel.notify(
            "peer.negotiate", participant=peer.participant_id
        )
        peer.on_close(lambda reason: self._closed(peer, reason))
        return {
            "participant": {**participant.roster_entry(), "worker": self.worker_id},
            "answer": answer,
        }

    async def renegotiate(self, data: dict[str, Any]) -> dict[str, Any]:
        try:
            return {"sdp": await self._peer(data).renegotiate()}
        except WebRtcError as error:
            raise _failure(error) from None

    async def answer(self, data: dict[str, Any]) -> None:
        try:
            await self._peer(data).accept_answer(data["sdp"])
        except WebRtcError as error:
            raise _failure(error) from None
        self.video.export()  # video the peer added in this round

    async def subscribe(self, data: dict[str, Any]) -> None:
        peer = self._peer(data)
        try:
            await self._watchable(data["source"])
            await peer.subscribe(data["source"])
        except KeyError:
            raise RequestFailed("KeyError", f"no video source {data['source']!r}") from None
        except WebRtcError as error:
            raise _failure(error) from None

    async def unsubscribe(self, data: dict[str, Any]) -> None:
        try:
            await self._peer(data).unsubscribe(data["source"])
        except KeyError:
            raise RequestFailed("KeyError", f"not subscribed to {data['source']!r}") from None
        except WebRtcError as error:
            raise _failure(error) from None
        self.video.release_unwatched()

    async def share(self, data: dict[str, Any]) -> dict[str, Any]:
        """The peer's track `mid` as a source (its offer applied first, when there is one)."""
        offer = data.get("offer")
        try:
            answer, source = await self._peer(data).share(
                None if offer is None else str(offer), str(data["mid"])
            )
        except WebRtcError as error:
            raise _failure(error) from None
        self.video.export()  # control's hub has it with its first frame
        return {"answer": answer, "source": source}

    async def stop(self) -> None:
        """Peers not in a room yet (the rooms close the others)."""
        await self.service.stop()

    async def _watchable(self, source: str) -> None:
        """Bring `source` into this worker's hub (from control, when published elsewhere).
        Raises WebRtcError("unknown-source")."""
        try:
            await self.video.ensure(source)
        except KeyError:
            raise WebRtcError("unknown-source", f"no video source {source!r}") from None

    def _peer(self, data: dict[str, Any]) -> LocalPeer:
        peer = self.peers.get(data["participant"])
        if peer is None or peer.closed:
            raise NoSuchParticipant(f"no WebRTC peer {data['participant']!r}")
        return peer

    def _closed(self, peer: LocalPeer, reason: str) -> None:
        if self.peers.get(peer.participant_id) is peer:
            del self.peers[peer.participant_id]
        self.channel.notify("peer.closed", participant=peer.participant_id, reason=reason)
        self.video.release_unwatched()


def _failure(error: WebRtcError) -> RequestFailed:
    """A WebRtcError as it crosses the channel: control raises the same one again."""
    return RequestFailed(f"WebRtcError:{error.reason}", str(error))
