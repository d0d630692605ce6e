"""What the control API asks of rooms, wherever they run.

`LocalRooms` answers from rooms in this process (the single-process mode, and each media worker
for the shards it holds); `mediacore.server.shardedrooms.ShardedRooms` answers the same calls
for rooms placed on worker processes. Every answer is plain JSON, so the same calls cross the
control channel unchanged."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from mediacore.announcement import load_clip
from mediacore.holdmusic import LoopingClip
from mediacore.legpolicy import LegPolicy
from mediacore.mixing import Audiences
from mediacore.offeranswer import OfferAnswerError
from mediacore.participant import Duplex
from mediacore.ports import PortsExhausted
from mediacore.relays import Relays, relayed_rooms
from mediacore.room import RELAYED_CHANGES, Room, RoomClosed, RoomError, RoomFull, RoomSettings
from mediacore.sdes import SrtpMode
from mediacore.sdp import SessionDescription
from mediacore.server.directory import RoomDirectory, RoomExists
from mediacore.server.whisperbook import WhisperBook
from radio.leg import RadioOptions
from radio.sdp import RadioSession, radio_session_from_sdp
from radio.vox import VoxSettings

FloorAction = Literal["request", "release", "revoke"]


WORKER_LOST = "worker-lost"  # why the legs of a media worker that died left their rooms


class NoSuchRoom(LookupError):
    """No open room has this name."""


class NoSuchParticipant(LookupError):
    """The room has no participant with this id."""


class NoRunningShard(RoomError):
    """Every worker holding the room is restarting: try again in a moment."""


class MoveRefused(RoomError):
    """A participant that cannot move there: `code` says why (the API's 409 error code)."""

    code = "cannot-move"


class SameRoom(MoveRefused):
    code = "same-room"


class NotMovable(MoveRefused):
    code = "not-movable"


class OtherFormat(MoveRefused):
    code = "room-format"


class NotReachable(MoveRefused):
    """A relay cannot join the room from the leg's media worker (in a cluster: the room's
    shard on the leg's node is on another worker)."""

    code = "not-reachable"


class NodeDown(RoomError):
    """The room is on a node of the cluster that is down (its rooms are being re-placed)."""


# The failures a room call may raise; the channel carries their class names across.
ROOM_FAILURES: dict[str, type[Exception]] = {
    cls.__name__: cls
    for cls in (
        RoomError,
        RoomClosed,
        RoomFull,
        RoomExists,
        SameRoom,
        NotMovable,
        OtherFormat,
        NotReachable,
        NodeDown,
        NoSuchRoom,
        NoSuchParticipant,
        PortsExhausted,
    )
}


@dataclass(frozen=True, slots=True)
class LegRequest:
    """How an RTP leg asks to join: its name, duplex, priority, answer address, radio mode."""

    name: str
    local_address: str
    duplex: Duplex = "full"
    priority: int = 0
    radio: Literal["ed137", "vox"] | None = None
    vox: VoxSettings = field(default_factory=VoxSettings)
    srtp: SrtpMode = "off"  # SDES: off, optional or mandatory
    nat: bool = False  # the peer is behind NAT: latch onto its real address early

    @property
    def policy(self) -> LegPolicy:
        return LegPolicy(self.srtp, self.nat)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LegRequest:
        return cls(**{**data, "vox": VoxSettings(**data.get("vox", {}))})

    def radio_options(self, offer: SessionDescription) -> RadioOptions | None:
        """The radio leg's options, from this request and the offer's ED-137 attributes."""
        if self.radio is None:
            return None
        if self.radio == "vox":
            return RadioOptions(mode="vox", vox=self.vox.validate())
        audio = next((m for m in offer.media if m.kind == "audio"), None)
        session = radio_session_from_sdp(audio) if audio is not None else None
        return RadioOptions(mode="ed137", session=session or RadioSession())


class Rooms(Protocol):
    """The room calls of the control API. Lookups raise NoSuchRoom / NoSuchParticipant."""

    def names(self) -> list[str]: ...

    async def open(self, settings: RoomSettings) -> dict[str, Any]: ...

    async def close(self, room: str, reason: str) -> None: ...

    async def change(self, room: str, changes: dict[str, Any]) -> dict[str, Any]: ...

    async def summary(self, room: str) -> dict[str, Any]: ...

    async def summaries(self, names: list[str]) -> list[dict[str, Any]]:
        """The summaries of the open rooms among `names`, in one go."""
        ...

    async def roster(self, room: str) -> list[dict[str, Any]]: ...

    async def participant(self, room: str, participant: str) -> dict[str, Any]: ...

    async def update(
        self, room: str, participant: str, changes: dict[str, Any]
    ) -> dict[str, Any]: ...

    async def remove(self, room: str, participant: str, reason: str) -> None: ...

    async def hold(
        self, room: str, participant: str, by: str, music: str | None = None
    ) -> dict[str, Any]:
        """Put on hold: out of the mix, hearing `music` (a clip file of int16 samples at the
        room's rate; None: the default melody). Answers the roster entry."""
        ...

    async def resume(self, room: str, participant: str, by: str) -> dict[str, Any]: ...

    async def move(self, room: str, participant: str, to: str) -> dict[str, Any]:
        """Move a participant, its leg open (same call, same id), into room `to`; answers
        its roster entry there. Raises NoSuchRoom, NoSuchParticipant, RoomFull, RoomClosed,
        a MoveRefused, or in a cluster NodeDown (`to` is on a node that is down)."""
        ...

    async def add_rtp_leg(
        self, room: str, offer: str, leg: LegRequest
    ) -> tuple[dict[str, Any], str]: ...

    async def floor(self, room: str) -> dict[str, Any]: ...

    async def floor_action(
        self,
        room: str,
        participant: str,
        action: FloorAction,
        priority: int | None,
        by: str,
        source: str = "api",
    ) -> dict[str, Any]:
        """Request, release or revoke; `source` is how the request came ("api", "websocket")."""
        ...

    def locate(self, participant: str) -> str | None:
        """The room a participant is in, or None."""
        ...

    # The rooms' whispers: who is heard only by whom (mediacore/server/whisperbook.py).
    whisper_book: WhisperBook


class LocalRooms:
    """The room calls answered by rooms of this process."""

    def __init__(self, directory: RoomDirectory) -> None:
        self.directory = directory
        self.relays = Relays(directory.rooms.get, directory.bus)
        self.whisper_book = WhisperBook(directory.bus, self._require, self.set_whispers)

    def names(self) -> list[str]:
        return list(self.directory.rooms)

    def room(self, name: str) -> Room:
        room = self.directory.rooms.get(name)
        if room is None:
            raise NoSuchRoom(f"no room named {name!r}")
        return room

    async def open(self, settings: RoomSettings, phase: float | None = None) -> dict[str, Any]:
        """`phase`: where in the ptime its clock ticks (None: the directory spreads it)."""
        return self.directory.summary(self.directory.open(settings, phase))

    async def close(self, room: str, reason: str) -> None:
        self.room(room)
        await self.directory.close(room, reason)

    async def change(self, room: str, changes: dict[str, Any]) -> dict[str, Any]:
        found = self.room(room)
        found.change(**changes)
        return self.directory.summary(found)

    async def summary(self, room: str) -> dict[str, Any]:
        return self.directory.summary(self.room(room))

    async def summaries(self, names: list[str]) -> list[dict[str, Any]]:
        rooms = self.directory.rooms
        return [self.directory.summary(rooms[name]) for name in names if name in rooms]

    async def roster(self, room: str) -> list[dict[str, Any]]:
        return self.room(room).roster()

    async def participant(self, room: str, participant: str) -> dict[str, Any]:
        found = _participant(self.room(room), participant)
        return {**found.roster_entry(), "statistics": found.endpoint.statistics()}

    async def update(self, room: str, participant: str, changes: dict[str, Any]) -> dict[str, Any]:
        found = self.room(room)
        member = _participant(found, participant)
        relayed = {key: changes.pop(key) for key in RELAYED_CHANGES & set(changes)}
        if relayed:
            for name in relayed_rooms(relayed):
                self.room(name)
            await self.relays.apply(found, member, relayed)
        return found.update(participant, **changes).roster_entry()

    def locate(self, participant: str) -> str | None:
        rooms = self.directory.rooms.items()
        return next((name for name, room in rooms if participant in room.participants), None)

    async def set_whispers(self, room: str, audiences: Audiences) -> None:
        """Who may hear each whisperer of `room` (control's book says, for every shard)."""
        self.room(room).set_whispers(audiences)

    def _require(self, room: str, participants: Sequence[str]) -> None:
        found = self.room(room)
        for participant in participants:
            _participant(found, participant)

    async def remove(self, room: str, participant: str, reason: str) -> None:
        found = self.room(room)
        _participant(found, participant)
        await found.remove(participant, reason)

    async def hold(
        self, room: str, participant: str, by: str, music: str | None = None
    ) -> dict[str, Any]:
        found = self.room(room)
        _participant(found, participant)
        source = None
        if music is not None:
            settings = found.settings
            try:
                source = LoopingClip(load_clip(Path(music)), settings.rate, settings.ptime)
            except (OSError, ValueError) as error:
                raise RoomError(f"the hold music cannot be read: {error}") from None
        return found.hold(participant, by, source).roster_entry()

    async def resume(self, room: str, participant: str, by: str) -> dict[str, Any]:
        found = self.room(room)
        _participant(found, participant)
        return found.resume(participant, by).roster_entry()

    async def move(self, room: str, participant: str, to: str) -> dict[str, Any]:
        source, target = self.room(room), self.room(to)
        found = _participant(source, participant)
        check_move(source.settings, target.settings)
        if not found.endpoint.movable:
            raise NotMovable(f"a participant of kind {found.kind!r} cannot move")
        target.check_capacity()
        target.attach(source.detach(participant, to), room)
        for name in (room, to):
            source.bus.publish(
                "participant.moved",
                name,
                participant=participant,
                name=found.name,
                **{"from": room, "to": to},
            )
        return found.roster_entry()

    async def add_rtp_leg(
        self, room: str, offer: str, leg: LegRequest
    ) -> tuple[dict[str, Any], str]:
        parsed = SessionDescription.parse(offer)
        participant, answer = await self.directory.add_rtp_leg(
            self.room(room),
            parsed,
            name=leg.name,
            duplex=leg.duplex,
            priority=leg.priority,
            local_address=leg.local_address,
            radio=leg.radio_options(parsed),
            policy=leg.policy,
        )
        return participant.roster_entry(), answer

    async def floor(self, room: str) -> dict[str, Any]:
        return self.room(room).floor.to_json()

    async def floor_action(
        self,
        room: str,
        participant: str,
        action: FloorAction,
        priority: int | None,
        by: str,
        source: str = "api",
    ) -> dict[str, Any]:
        found = self.room(room)
        _participant(found, participant)
        if action == "revoke":
            revoked = found.revoke_floor(participant, by=by)
            return {"result": "revoked" if revoked else "not-holder", "holder": found.floor.holder}
        if action == "request":
            result = found.request_floor(participant, source, priority)
        else:
            result = found.release_floor(participant, source)
        return result.to_json()


def check_move(source: RoomSettings, target: RoomSettings) -> None:
    """Raise SameRoom, or OtherFormat when the rooms' rates or ticks differ (a leg decodes
    and paces for its room's)."""
    if source.name == target.name:
        raise SameRoom(f"the participant is in room {target.name!r} already")
    if (source.rate, source.ptime) != (target.rate, target.ptime):
        raise OtherFormat(
            f"room {target.name!r} runs at {target.rate} Hz / {target.ptime} ms, "
            f"room {source.name!r} at {source.rate} Hz / {source.ptime} ms"
        )


def _participant(room: Room, participant: str) -> Any:
    try:
        return room.get(participant)
    except KeyError:
        raise NoSuchParticipant(f"no participant {participant!r} in room {room.name!r}") from None


def offer_answer_kind(error: OfferAnswerError) -> str:
    """The channel's name for an offer/answer failure: its class and reason."""
    return f"OfferAnswerError:{error.reason}"
