"""A participant's presence in rooms besides its own: monitoring (监听), transmitting, broadcast.

A participant that monitors or transmits into another room gets a relay there: a participant of
that room (kind "monitor") that holds no socket. The relay hears the room's mix like anyone
else, mix-minus included, and hands it to its owner, whose own room adds it to the owner's mix
at the monitor's gain; while the owner transmits into the room, the relay talks there with the
owner's voice. A monitored room never hears a relay that does not transmit. A broadcast
(广播) is transmitting at emergency priority: the relay also takes the room's floor, so radio
gateways there are keyed with the broadcaster's voice.

The owner and its relays live on one event loop: with media workers, control first gives every
room the owner reaches a shard on the owner's worker (mediacore/server/shardedrooms.py). The
room clocks meet in `FrameRelay`s. Rooms must share the owner's packet time; rates may differ.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mediacore.codecs.base import Pcm
from mediacore.endpoint import Endpoint
from mediacore.events import Event, EventBus
from mediacore.framerelay import FrameRelay
from mediacore.participant import Participant
from mediacore.resample import TickConverter
from mediacore.room import MOVED, Room, RoomError

log = logging.getLogger(__name__)

EMERGENCY = 3
MAX_RELAYED_ROOMS = 64
RELAY_ENDED = "monitor-ended"


@dataclass(frozen=True, slots=True)
class RelaySpec:
    """What one participant does in one other room."""

    gain_db: float | None  # hears the room at this gain; None: does not hear it
    transmit: bool  # talks into it
    emergency: bool = False  # a broadcast: priority 3 and the floor


RelayChanges = dict[str, Any]  # "monitor", "transmit", "broadcast" as PATCH gives them


def relayed_rooms(changes: RelayChanges) -> set[str]:
    """Every room a change reaches (checked to exist before relays are made)."""
    monitor, transmit, broadcast = _parse(changes, {})
    return set(monitor) | set(transmit) | set(broadcast)


def _parse(
    changes: RelayChanges, current: dict[str, Any]
) -> tuple[dict[str, float], list[str], list[str]]:
    monitor_list = changes.get("monitor", current.get("monitor", ()))
    transmit = changes.get("transmit", current.get("transmit", ()))
    broadcast = changes.get("broadcast", current.get("broadcast", ()))
    if not isinstance(monitor_list, (list, tuple)):
        raise RoomError("monitor must be a list of {room, gain_db}")
    monitor: dict[str, float] = {}
    for entry in monitor_list:
        if not isinstance(entry, dict) or not isinstance(entry.get("room"), str):
            raise RoomError("each monitor entry is {room, gain_db}")
        gain = entry.get("gain_db", 0.0)
        if isinstance(gain, bool) or not isinstance(gain, (int, float)) or not math.isfinite(gain):
            raise RoomError("gain_db must be a number")
        if not -40.0 <= gain <= 20.0:
            raise RoomError("gain_db must be between -40 and 20")
        monitor[entry["room"]] = float(gain)
    for key, rooms in (("transmit", transmit), ("broadcast", broadcast)):
        if not isinstance(rooms, (list, tuple)) or not all(isinstance(r, str) for r in rooms):
            raise RoomError(f"{key} must be a list of room names")
    if len(set(monitor) | set(transmit) | set(broadcast)) > MAX_RELAYED_ROOMS:
        raise RoomError(f"a participant reaches at most {MAX_RELAYED_ROOMS} other rooms")
    return monitor, sorted(set(transmit)), sorted(set(broadcast))


def plan(
    monitor: dict[str, float], transmit: list[str], broadcast: list[str]
) -> dict[str, RelaySpec]:
    return {
        room: RelaySpec(
            gain_db=monitor.get(room),
            transmit=room in transmit or room in broadcast,
            emergency=room in broadcast,
        )
        for room in set(monitor) | set(transmit) | set(broadcast)
    }


class _RelayInput:
    """The owner's voice in the relay's room, while it transmits there."""

    def __init__(self, relay: RelayEndpoint, native_rate: int, room_rate: int, ptime: int) -> None:
        self.native_rate = native_rate
        self._relay = relay
        self._converter = TickConverter(native_rate, room_rate, ptime)

    def read(self, now: float) -> Pcm | None:
        pcm = self._relay.uplink.pop(now)
        if not self._relay.spec.transmit or self._relay.owner.muted:
            pcm = None
        self._converter.remember(pcm)
        return pcm

    def to_room_rate(self, pcm: Pcm, restart: bool) -> Pcm:
        return self._converter.convert(pcm, restart)


class _Feed:
    """The relay's room as its owner hears it: at the owner's room rate, at the monitor gain."""

    def __init__(self, relay: RelayEndpoint, from_rate: int, to_rate: int, ptime: int) -> None:
        self._relay = relay
        self._converter = TickConverter(from_rate, to_rate, ptime)
        self._was_heard = False

    def read(self, now: float) -> Pcm | None:
        pcm = self._relay.heard.pop(now)
        heard, self._was_heard = self._was_heard, pcm is not None
        self._converter.remember(pcm)
        gain = self._relay.spec.gain_db
        if pcm is None or gain is None:
            return None
        pcm = self._converter.convert(pcm, restart=not heard)
        if gain:
            pcm = pcm * np.float32(10 ** (gain / 20))
        return pcm


class RelayEndpoint(Endpoint):
    kind = "monitor"

    def __init__(
        self,
        owner: Participant,
        home: str,
        spec: RelaySpec,
        on_closed: Callable[[RelayEndpoint], None],
        owner_ptime: int,
    ) -> None:
        self.owner = owner
        self.home = home
        self.spec = spec
        period = owner_ptime / 1000
        self.uplink = FrameRelay(period)  # the owner's frames, from its room's clock
        self.heard = FrameRelay(period)  # this room's mix for the relay, to the owner's clock
        self._on_closed = on_closed
        self.room: str | None = None

    def connect(self, owner_room: Room, room: Room) -> _Feed:
        """Wire the relay between the owner's room and its own; the owner's feed."""
        ptime = room.settings.ptime
        source = self.owner.endpoint.audio_input
        native = source.native_rate if source is not None else room.settings.rate
        self.audio_input = _RelayInput(self, native, room.settings.rate, ptime)
        self.room = room.name
        self.respec(self.spec)
        return _Feed(self, room.settings.rate, owner_room.settings.rate, ptime)

    def respec(self, spec: RelaySpec) -> None:
        self.spec = spec
        self.pcm_output = self if spec.gain_db is not None else None
        if spec.gain_db is None:
            self.heard.clear()

    def receive_pcm(self, pcm: Pcm, now: float) -> None:
        self.heard.push(pcm, now)

    async def close(self, reason: str) -> None:
        self._on_closed(self)

    def describe(self) -> dict[str, Any]:
        return {
            "monitor_of": self.owner.id,
            "monitor_from": self.home,
            "hearing": self.spec.gain_db is not None,
            "transmitting": self.spec.transmit,
            "broadcasting": self.spec.emergency,
        }

    def statistics(self) -> dict[str, float]:
        return {"frames_dropped": float(self.uplink.dropped + self.heard.dropped)}


def _priority(owner: Participant, spec: RelaySpec) -> int:
    return EMERGENCY if spec.emergency else owner.priority


def _follow_floor(room: Room, relay: _Relay, old: RelaySpec | None, new: RelaySpec) -> None:
    """A relay that talks into a room asks its floor (at emergency priority for a broadcast),
    so the radio gateways there, which hear only the floor holder, carry the owner's voice;
    it lets go when it stops talking there."""
    participant = relay.participant.id
    started = new.transmit and (old is None or not old.transmit or old.emergency != new.emergency)
    if started:
        source = "broadcast" if new.emergency else "transmit"
        room.request_floor(participant, source, _priority(relay.endpoint.owner, new))
    elif old is not None and old.transmit and not new.transmit:
        if room.floor.holder == participant:
            room.release_floor(participant, "transmit")


@dataclass(slots=True)
class _Relay:
    participant: Participant
    endpoint: RelayEndpoint
    feed: _Feed


class Relays:
    """Every relay of the participants of one process's rooms."""

    def __init__(self, room_named: Callable[[str], Room | None], bus: EventBus) -> None:
        self._room_named = room_named
        self._relays: dict[str, dict[str, _Relay]] = {}  # owner id → room → its relay there
        self._homes: dict[str, str] = {}  # owner id → the room it is in
        bus.listen(self._event)

    async def apply(self, home: Room, owner: Participant, changes: RelayChanges) -> None:
        """Make `owner` (in `home`) monitor, transmit and broadcast as `changes` say; what
        they leave out stays as it was. Raises RoomError for a change that cannot be."""
        current = {
            "monitor": owner.monitor,
            "transmit": owner.transmit,
            "broadcast": owner.broadcast,
        }
        monitor, transmit, broadcast = _parse(changes, current)
        specs = plan(monitor, transmit, broadcast)
        rooms = {name: self._target(home, owner, name) for name in specs}
        if monitor and owner.endpoint.floor_listener:
            raise RoomError("a radio leg hears only its floor holder: it cannot monitor rooms")
        if transmit and owner.endpoint.audio_input is None:
            raise RoomError("this participant sends no audio to transmit")
        relays = self._relays.setdefault(owner.id, {})
        for name, room in rooms.items():
            if name not in relays:
                room.check_capacity()  # before anything changes: all or nothing
        self._homes[owner.id] = home.name
        for name, spec in specs.items():
            relay = relays.get(name)
            if relay is None:
                relays[name] = self._open(home, rooms[name], owner, spec)
            elif relay.endpoint.spec != spec:
                self._respec(rooms[name], relay, spec)
        for name in [name for name in relays if name not in specs]:
            await self._close(relays.pop(name), name)
        if not relays:
            del self._relays[owner.id]
        self._wire(owner)
        home.update(
            owner.id,
            monitor=tuple({"room": r, "gain_db": g} for r, g in sorted(monitor.items())),
            transmit=tuple(transmit),
            broadcast=tuple(broadcast),
        )

    def _target(self, home: Room, owner: Participant, name: str) -> Room:
        if name == home.name:
            raise RoomError(f"{owner.id} is in room {name!r} already")
        room = self._room_named(name)
        if room is None:
            raise RoomError(f"no room {name!r} here")
        if room.settings.ptime != home.settings.ptime:
            raise RoomError(
                f"room {name!r} ticks every {room.settings.ptime} ms and {home.name!r} every "
                f"{home.settings.ptime} ms: only rooms of one packet time can be joined"
            )
        return room

    def _open(self, home: Room, room: Room, owner: Participant, spec: RelaySpec) -> _Relay:
        endpoint = RelayEndpoint(owner, home.name, spec, self._closed, home.settings.ptime)
        feed = endpoint.connect(home, room)
        participant = Participant(
            name=owner.name, endpoint=endpoint, priority=_priority(owner, spec)
        )
        room.add(participant)
        relay = _Relay(participant, endpoint, feed)
        _follow_floor(room, relay, None, spec)
        return relay

    def _respec(self, room: Room, relay: _Relay, spec: RelaySpec) -> None:
        old = relay.endpoint.spec
        relay.endpoint.respec(spec)
        room.update(relay.participant.id, priority=_priority(relay.endpoint.owner, spec))
        _follow_floor(room, relay, old, spec)

    async def _close(self, relay: _Relay, name: str) -> None:
        room = self._room_named(name)
        if room is not None and relay.participant.id in room.participants:
            await room.remove(relay.participant.id, RELAY_ENDED)

    def _wire(self, owner: Participant) -> None:
        relays = list(self._relays.get(owner.id, {}).values())
        owner.feeds = tuple(r.feed for r in relays if r.endpoint.spec.gain_db is not None)
        owner.uplinks = tuple(r.endpoint.uplink for r in relays if r.endpoint.spec.transmit)

    def _closed(self, endpoint: RelayEndpoint) -> None:
        """A relay left its room (closed, or the relay kicked): its owner stops using it."""
        owner = endpoint.owner
        relays = self._relays.get(owner.id)
        if relays is None or endpoint.room is None:
            return
        relay = relays.get(endpoint.room)
        if relay is None or relay.endpoint is not endpoint:
            return  # apply() took it out already
        del relays[endpoint.room]
        if not relays:
            del self._relays[owner.id]
        self._wire(owner)
        home = self._room_named(self._homes.get(owner.id, ""))
        if home is not None and owner.id in home.participants:
            gone = endpoint.room
            home.update(
                owner.id,
                monitor=tuple(m for m in owner.monitor if m["room"] != gone),
                transmit=tuple(r for r in owner.transmit if r != gone),
                broadcast=tuple(r for r in owner.broadcast if r != gone),
            )

    def _event(self, event: Event) -> None:
        if event.type != "participant.left":
            return
        owner = event.data.get("participant")
        if owner not in self._relays:
            return
        moved_to = event.data.get("to")
        if event.data.get("reason") == MOVED and isinstance(moved_to, str):
            self._homes[owner] = moved_to
            relay = self._relays[owner].get(moved_to)
            if relay is not None:  # it is in that room now: no relay there any more
                asyncio.get_running_loop().create_task(self._close(relay, moved_to))
            return
        relays = self._relays.pop(owner)
        self._homes.pop(owner, None)
        for name, relay in relays.items():
            asyncio.get_running_loop().create_task(self._close(relay, name))
