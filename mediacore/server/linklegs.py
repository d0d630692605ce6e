"""What each join link brought into its room, so that revoking or expiring the link ends it.

A link's holder may publish with WHIP, play with WHEP, join over the signalling WebSocket and,
with the operator role, add RTP legs, field sources and dial-outs. Closing the link's sockets
is not enough: every one of those participants must leave too. Routes `record` what a link
principal created; WebRTC peers are found in `Peers` by their owner (the link's identity).
`end` removes them all (the revoke route calls it at once); a sweep every second ends the links
that expired. Either way the room hears a `join-link.ended` event naming who left."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mediacore.events import Event, EventBus
from mediacore.room import MOVED, RoomError
from mediacore.server.auth import Principal
from mediacore.server.joinlinks import JoinLinks
from mediacore.server.rooms import Rooms
from webrtc.peerroom import Peers

log = logging.getLogger(__name__)

SWEEP_S = 1.0
REVOKED = "link-revoked"
EXPIRED = "link-expired"


@dataclass(slots=True)
class _Link:
    room: str
    identity: str
    expires: int  # Unix seconds, as the link says
    participants: set[str] = field(default_factory=set)


class LinkLegs:
    """The participants each live join link created, by link id."""

    def __init__(
        self,
        rooms: Rooms,
        peers: Peers,
        bus: EventBus,
        links: JoinLinks | None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._rooms = rooms
        self._peers = peers
        self._bus = bus
        self._links = links
        self._wall_clock = wall_clock
        self._live: dict[str, _Link] = {}
        self._sweeper: asyncio.Task[None] | None = None
        bus.listen(self._forget_left)

    def track(self, principal: Principal) -> None:
        """Remember `principal`'s link (nothing for other tokens), so that its WebRTC peers
        end with it even when no route recorded them."""
        link_id = principal.link_id
        if link_id is None or principal.room is None or principal.expires is None:
            return
        if link_id not in self._live:
            self._live[link_id] = _Link(principal.room, principal.identity, principal.expires)

    def record(self, principal: Principal, participant: str) -> None:
        """`principal` (when it is a join link) created `participant` in its room."""
        self.track(principal)
        link_id = principal.link_id
        if link_id is not None and link_id in self._live:
            self._live[link_id].participants.add(participant)

    async def end(self, link_id: str, reason: str = REVOKED) -> list[str]:
        """Remove everything link `link_id` created; returns the participants that left."""
        link = self._live.pop(link_id, None)
        if link is None:
            return []
        gone = []
        peers = self._peers.owned_by(link.identity)
        for participant in sorted(link.participants | {peer.participant_id for peer in peers}):
            # wherever it is now: a dispatcher may have moved it out of the link's room
            room = self._rooms.locate(participant) or link.room
            # already gone, its room closed, or its worker restarting: nothing left to end
            with contextlib.suppress(LookupError, RoomError, ConnectionError):
                await self._rooms.remove(room, participant, reason)
                gone.append(participant)
        self._bus.publish("join-link.ended", link.room, link=link_id, reason=reason, left=gone)
        log.info("join link ended", extra={"link": link_id, "reason": reason, "participants": gone})
        return gone

    async def sweep(self) -> None:
        """End the links that expired (or that were revoked another way) since the last one."""
        now = self._wall_clock()
        for link_id, link in list(self._live.items()):
            if link.expires <= now:
                await self.end(link_id, EXPIRED)
            elif self._links is not None and self._links.revoked(link_id, now):
                await self.end(link_id, REVOKED)

    def start(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def stop(self) -> None:
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_S)
            try:
                await self.sweep()
            except Exception:  # one failed removal must not end the watch over every link
                log.exception("sweeping join links failed")

    def _forget_left(self, event: Event) -> None:
        if event.type != "participant.left" or event.data.get("reason") == MOVED:
            return  # one moved to another room is still the link's to end
        participant = str(event.data.get("participant"))
        for link in self._live.values():
            link.participants.discard(participant)
