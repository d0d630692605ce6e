"""The asyncio side of a room shard's cascade links: one UDP socket, many peer shards.

`RoomLinks` is what a shard's room holds as its `links` (mediacore.room.ShardLinks): it sends
the local talkers of each tick to every peer shard and offers the talkers it hears from them
to the mixer as source-only participants (kind "cascade", never in the roster). Every link is
SRTP with keys exchanged through the worker's `cascade.bind` / `cascade.connect`."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

from mediacore.cascade import CascadeFrame, CascadeReceiver, CascadeSender, RemoteTalker
from mediacore.cascadesec import LinkPeers, LinkRejected
from mediacore.clock import MONOTONIC, Clock
from mediacore.codecs.base import Pcm
from mediacore.endpoint import Endpoint
from mediacore.participant import Participant

log = logging.getLogger(__name__)

Addr = tuple[Any, ...]


class RemoteTalkerInput:
    """A remote talker's frames, already at the room rate."""

    def __init__(self, talker: RemoteTalker, rate: int) -> None:
        self.talker = talker
        self.native_rate = rate

    def read(self, now: float) -> Pcm | None:
        return self.talker.read(now)

    def to_room_rate(self, pcm: Pcm, restart: bool) -> Pcm:
        return pcm


class RemoteTalkerEndpoint(Endpoint):
    """A talker of another shard: a source of this shard's mix, never a listener."""

    kind = "cascade"

    def __init__(self, talker: RemoteTalker, rate: int) -> None:
        self.audio_input = RemoteTalkerInput(talker, rate)

    async def close(self, reason: str) -> None:
        return None


class RoomLinks(asyncio.DatagramProtocol):
    """The cascade links of one room shard, SRTP-protected (mediacore/cascadesec.py)."""

    def __init__(self, rate: int, ptime: int, clock: Clock = MONOTONIC, room: str = "") -> None:
        self.rate = rate
        self.samples_per_tick = rate * ptime // 1000
        self.clock = clock
        self.room = room  # for the log
        self.receiver = CascadeReceiver(self.samples_per_tick, ptime / 1000)
        self.sender = CascadeSender(self.samples_per_tick)
        self.peers = LinkPeers()  # link name -> the peer shard's address and SRTP
        self._sources: dict[str, Participant] = {}
        self._transport: asyncio.DatagramTransport | None = None
        self._logged: set[str] = set()
        self.port = 0

    @property
    def key(self) -> str:
        """The key peers protect what they send here with (base64, see cascadesec.py)."""
        return self.peers.key

    async def bind(self, host: str) -> int:
        """Listen on `host` (any free port); returns the port peers send to."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(host, 0))
        self.port = transport.get_extra_info("sockname")[1]
        return self.port

    def connect(self, link: str, address: str, port: int, key: str) -> None:
        """Send to, and accept from, the peer shard at `address`:`port` under the name `link`,
        protecting what goes there with `key` (the peer's, from its bind). Raises ValueError
        for a key that is not one."""
        self.peers.connect(link, (address, port), key)

    def disconnect(self, link: str) -> None:
        self.peers.disconnect(link)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        self.peers.clear()

    @property
    def rejected(self) -> int:
        """Datagrams refused: from no peer, or failing SRTP authentication or replay checks."""
        return sum(self.peers.rejected.values())

    def statistics(self) -> dict[str, float]:
        return {
            "links": len(self.peers),
            "remote_talkers": len(self.receiver.talkers),
            "packets_sent": self.sender.packets_sent,
            "packets_received": self.receiver.packets_received,
            "packets_dropped": self.receiver.packets_dropped,
            "packets_from_strangers": self.peers.rejected["stranger"],
            "packets_unauthenticated": self.peers.rejected["unauthenticated"],
        }

    # -- asyncio.DatagramProtocol ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)  # uvloop's: no subclass

    def datagram_received(self, data: bytes, addr: Addr) -> None:
        try:
            plain = self.peers.unprotect(data, addr)  # only the shards we were told of may talk
        except LinkRejected as rejected:
            self.receiver.packets_dropped += 1
            self._log_once(rejected.reason, addr)
            return
        talker = self.receiver.receive(plain, self.clock.now())
        if talker is None:
            return
        source = self._sources.get(talker.participant)
        if source is None:
            endpoint = RemoteTalkerEndpoint(talker, self.rate)
            source = Participant(name=talker.participant, endpoint=endpoint, id=talker.participant)
            self._sources[talker.participant] = source
        source.priority = talker.priority
        source.has_floor = talker.has_floor

    def error_received(self, exc: Exception) -> None:
        log.debug("cascade link error", extra={"error": str(exc)})

    def _log_once(self, reason: str, addr: Addr) -> None:
        """The first refused datagram of each kind on this socket; the rest are only counted."""
        if reason not in self._logged:
            self._logged.add(reason)
            log.warning(
                "cascade link refused a datagram; further ones are only counted",
                extra={"room": self.room, "reason": reason, "peer": f"{addr[0]}:{addr[1]}"},
            )

    # -- mediacore.room.ShardLinks --------------------------------------------------------

    def sources(self, now: float) -> list[Participant]:
        for participant in self.receiver.expire(now):
            self._sources.pop(participant, None)
        return list(self._sources.values())

    def after_tick(
        self, tick: int, frames: dict[str, Pcm], local: dict[str, Participant], holder: str | None
    ) -> None:
        if self._transport is None or not self.peers:
            return
        sending = []
        for participant_id, pcm in frames.items():
            participant = local.get(participant_id)
            if participant is None:
                continue  # a remote talker: never sent back where it came from
            sending.append(
                CascadeFrame(
                    participant=participant_id,
                    tick=tick,
                    level_db=participant.level_db,
                    priority=participant.priority,
                    has_floor=participant_id == holder,
                    pcm=pcm,
                )
            )
        if not sending:
            return
        for packet in self.sender.packets(sending):
            for address, protected in self.peers.protect(packet):
                self._transport.sendto(protected, address)
