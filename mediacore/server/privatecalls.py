"""One-to-one calls (单呼): two parties in a private room of their own.

`POST /calls` opens a room `call-<id>` and brings both parties in: a dialled party is called
with the SIP dial-out (a registered user through the registrar, a number through a trunk); a
participant already in a room, or a radio gateway up in its room, is moved in (动态重组) and
moved back when the call ends, if its room is still open. In a cluster a participant of
another node's room is found by asking the other nodes (`elsewhere`) and moved in by that
room's owner; it goes back the same way. The call ends on `DELETE` (强拆:
dialled parties are hung up) or when either party leaves (hangs up, fails); its room closes
then. A dispatcher barges in (强插) by being moved into the room at priority 2.

Events, in the call's room (so its recording's timeline has them): `call.started`,
`call.party` for each party's state (dialling, ringing, answered, failed, left), `call.ended`.
The SIP dial-out's own events (`call.ringing`, `call.answered`, `call.failed`) and the room's
`participant.left` drive the parties' states."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from mediacore.clock import iso8601, utc_now
from mediacore.events import Event, EventBus
from mediacore.room import RoomSettings
from mediacore.server.callparties import CallRefused, Party, PartyState, Target, call_target
from mediacore.server.parties import PartyBook
from mediacore.server.rooms import NoSuchRoom, Rooms

log = logging.getLogger(__name__)

ROOM_PREFIX = "call-"
BARGE_PRIORITY = 2  # a dispatcher barging in is mixed before the parties when talkers are many
ENDED = "call-ended"  # the reason dialled parties are hung up with
KEEP_ENDED = 100  # ended calls `GET /calls/{id}` still shows

# (room, uri, name, trunk) → the new participant id; raises CallRefused.
Dial = Callable[[str, str, str, str | None], Awaitable[str]]
_DIAL_STATES: dict[str, PartyState] = {
    "call.ringing": "ringing",
    "call.answered": "answered",
    "call.failed": "failed",
}


class Gateways(Protocol):
    """The configured radio gateways that the server keeps in their rooms."""

    def up(self, name: str) -> tuple[str, str] | None:
        """Gateway `name`'s (participant, room) while its call is up; None when it is not.
        Raises KeyError for a gateway not configured."""
        ...

    def hold(self, name: str) -> None:
        """Lend the gateway to a call: it is not called again while away from its room."""
        ...

    def give_back(self, name: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Home:
    """The room a moved party comes from, with the format the call's room takes from it, and
    its owner when that is another node."""

    room: str
    rate: int
    ptime: int
    node: str | None = None


class Elsewhere(Protocol):
    """The cluster's other nodes, as a call with a party of theirs needs them
    (clusterparties.ClusterParties)."""

    async def find(self, participant: str) -> Home | None:
        """The room of another node that has `participant`, or None. Raises CallRefused:
        409 busy (in a call there), 503 node-down (a node that did not answer may have it)."""
        ...

    async def claimed(self, room: str) -> None:
        """Wait, briefly, until the cluster knows this node's new room `room` as its own."""
        ...


class CallNotFound(LookupError):
    """No call has this id."""


@dataclass(slots=True)
class PrivateCall:
    id: str
    room: str
    parties: list[Party]
    by: str
    started: datetime = field(default_factory=utc_now)
    state: Literal["active", "ended"] = "active"
    reason: str | None = None

    def party_of(self, participant: str) -> Party | None:
        return next((p for p in self.parties if p.participant == participant), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "room": self.room,
            "state": self.state,
            "reason": self.reason,
            "by": self.by,
            "started": iso8601(self.started),
            "parties": [party.to_json() for party in self.parties],
        }


class PrivateCalls:
    def __init__(
        self,
        rooms: Rooms,
        bus: EventBus,
        dial: Dial,
        gateways: Gateways,
        book: PartyBook,
        elsewhere: Elsewhere | None = None,
    ) -> None:
        """`dial` calls a SIP party into a room, `gateways` lends the radio gateways, `book`
        says how each party written as text is reached, `elsewhere` (in a cluster) where the
        other nodes' participants are."""
        self.rooms = rooms
        self.bus = bus
        self.dial = dial
        self.gateways = gateways
        self.book = book
        self.elsewhere = elsewhere
        self.calls: OrderedDict[str, PrivateCall] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        bus.listen(self._event)

    # -- what the API asks ----------------------------------------------------------------

    def get(self, call_id: str) -> PrivateCall:
        found = self.calls.get(call_id)
        if found is None:
            raise CallNotFound(f"no call {call_id!r}")
        return found

    def entries(self) -> list[dict[str, Any]]:
        return [call.to_json() for call in self.calls.values()]

    def room_fields(self, room: str) -> dict[str, Any]:
        """What a room's summary adds when it is a call's: `{"call": id}`."""
        call = self._by_room(room)
        return {"call": call.id} if call is not None else {}

    async def start(self, a: str, b: str, by: str) -> PrivateCall:
        """Open a call between parties `a` and `b`. Raises CallRefused (400 bad party, 404
        unknown one, 409 one that is busy or unavailable, 503 a node that did not answer),
        NoSuchRoom, RoomError, NodeDown."""
        targets = [self._target(a), self._target(b)]
        here = [await self._here(t) for t in targets]
        # Another node's participant joins a call of a node that has the other party; where
        # neither is, the answer is unknown-party, and in a cluster a node that has one serves.
        elsewhere = any(h is not None for h in here)
        homes = [
            h if h is not None or t.kind != "participant" else await self._found(t, elsewhere)
            for t, h in zip(targets, here, strict=True)
        ]
        ids = [t.value for t in targets if t.kind != "sip"]
        if len(set(ids)) < len(ids):
            raise CallRefused(400, "bad-party", "a call joins two different parties")
        short = secrets.token_hex(4)
        settings = RoomSettings(ROOM_PREFIX + short)
        for home in homes:  # moved parties keep their room's rate and tick
            if home is not None:
                settings = RoomSettings(settings.name, rate=home.rate, ptime=home.ptime)
                break
        await self.rooms.open(settings)
        # In a cluster, other nodes' APIs (`GET /calls/{id}`) and a party's node find the
        # call's room in the directory from the moment this answers.
        if self.elsewhere is not None:
            await self.elsewhere.claimed(settings.name)
        parties = [Party(spec, t.kind) for spec, t in zip((a, b), targets, strict=True)]
        call = PrivateCall("c-" + short, settings.name, parties, by)
        self.calls[call.id] = call
        self._forget_old()
        self.bus.publish("call.started", call.room, id=call.id, parties=[a, b], by=by)
        try:
            for party, target, home in zip(call.parties, targets, homes, strict=True):
                await self._bring(call, party, target, home)
        except Exception:
            await self.end(call.id, "failed")
            raise
        return call

    async def barge(self, call_id: str, participant: str) -> Party:
        """Move `participant` (a dispatcher's) into the call at BARGE_PRIORITY. Raises
        CallNotFound, CallRefused, NoSuchParticipant, RoomFull, MoveRefused."""
        call = self._active(call_id)
        if call.party_of(participant) is not None:
            raise CallRefused(409, "already-in-call", f"{participant} is in this call already")
        target = Target("participant", participant)
        home = await self._here(target) or await self._found(target, elsewhere=True)
        entry = await self.rooms.move(home.room, participant, call.room)
        party = Party(
            participant, "barge", participant, "answered", home.room, None, entry["priority"]
        )
        call.parties.append(party)
        await self.rooms.update(call.room, participant, {"priority": BARGE_PRIORITY})
        self._said(call, party)
        return party

    async def end(self, call_id: str, reason: str = "ended") -> PrivateCall:
        """Hang up the dialled parties, move the moved ones back, close the room (强拆).
        Raises CallNotFound; a call ended already is left as it is."""
        call = self.get(call_id)
        if call.state == "ended":
            return call
        call.state, call.reason = "ended", reason
        for party in call.parties:
            if party.participant is not None and not party.over:
                await self._release(call, party)
        self.bus.publish("call.ended", call.room, id=call.id, reason=reason)
        try:
            await self.rooms.close(call.room, ENDED)
        except LookupError:
            pass  # closed already (that may be why the call ends)
        return call

    async def stop(self) -> None:
        for call in list(self.calls.values()):
            if call.state == "active":
                await self.end(call.id, "server-stopping")

    # -- parties --------------------------------------------------------------------------

    def _target(self, text: str) -> Target:
        target = call_target(text, self.book)
        if target.kind == "participant" and self._busy(target.value):
            raise CallRefused(409, "busy", f"{text} is in a call already")
        return target

    async def whereabouts(self, participant: str) -> dict[str, Any] | None:
        """For another node's call: the room of this node's that has `participant`, with
        its format (`{"room", "rate", "ptime"}`), `{"busy": true}` while it is in a call
        here, None when no room here has it."""
        if self._busy(participant):
            return {"busy": True}
        home = await self._local_home(participant)
        return None if home is None else {"room": home.room, "rate": home.rate, "ptime": home.ptime}

    async def _here(self, target: Target) -> Home | None:
        """The room of this node a participant or radio gateway party is in now; None for a
        dialled party, or a participant no room here has."""
        if target.kind == "radio":
            return await self._format(self._gateway(target.value)[1])
        if target.kind != "participant":
            return None
        return await self._local_home(target.value)

    async def _found(self, target: Target, elsewhere: bool) -> Home:
        """The room of another node a participant is in, looked for there when `elsewhere`
        (in a cluster); 404 unknown-party when none has it."""
        found = None
        if elsewhere and self.elsewhere is not None:
            found = await self.elsewhere.find(target.value)
        if found is None:
            detail = f"no participant {target.value!r} in any room"
            raise CallRefused(404, "unknown-party", detail)
        return found

    async def _local_home(self, participant: str) -> Home | None:
        for room in self.rooms.names():
            if room.startswith(ROOM_PREFIX) and self._by_room(room) is not None:
                continue  # a call's: _busy said so
            if any(p["id"] == participant for p in await self.rooms.roster(room)):
                return await self._format(room)
        return None

    async def _format(self, room: str) -> Home:
        summary = await self.rooms.summary(room)
        return Home(room, summary["rate"], summary["ptime"])

    async def _bring(
        self, call: PrivateCall, party: Party, target: Target, home: Home | None
    ) -> None:
        """Dial the party, or move it in: from this node's room, or (a room of another node)
        by that room's owner, `rooms.move` asking it."""
        if target.kind == "sip":
            name = target.name or party.spec
            party.participant = await self.dial(call.room, target.value, name, target.trunk)
            self._said(call, party)
            return
        participant = target.value
        if target.kind == "radio":
            participant, room = self._gateway(target.value)
            self.gateways.hold(target.value)
        else:
            assert home is not None
            room = home.room
        party.participant, party.home = participant, room
        await self.rooms.move(room, participant, call.room)
        party.state = "answered"
        self._said(call, party)

    def _gateway(self, name: str) -> tuple[str, str]:
        try:
            found = self.gateways.up(name)
        except KeyError:
            raise CallRefused(404, "unknown-party", f"no radio gateway {name!r}") from None
        if found is None:
            raise CallRefused(409, "unavailable", f"radio gateway {name!r} is not up")
        return found

    async def _release(self, call: PrivateCall, party: Party) -> None:
        """At the call's end: a moved party goes back to its room if that is still open
        (here, or on another node: `rooms.move` asks there), a dialled one hangs up."""
        participant = party.participant
        assert participant is not None
        try:
            try:
                if party.home is None:
                    raise NoSuchRoom("a dialled party has no room to go back to")
                if party.priority is not None:
                    await self.rooms.update(call.room, participant, {"priority": party.priority})
                await self.rooms.move(call.room, participant, party.home)
                party.reason = "moved-back"
            except NoSuchRoom:  # its room closed meanwhile (or it had none)
                await self.rooms.remove(call.room, participant, ENDED)
                party.reason = ENDED
        except Exception as error:  # gone meanwhile: nothing to release
            log.info("call party not released", extra={"call": call.id, "error": str(error)})
        finally:
            if party.kind == "radio":
                self.gateways.give_back(party.spec[len("radio:") :])
        party.state = "left"
        self._said(call, party)

    def _said(self, call: PrivateCall, party: Party) -> None:
        self.bus.publish(
            "call.party",
            call.room,
            id=call.id,
            index=call.parties.index(party),
            **party.to_json(),
        )

    # -- what the rooms say ---------------------------------------------------------------

    def _event(self, event: Event) -> None:
        if event.room is None or not event.room.startswith(ROOM_PREFIX):
            return
        call = self._by_room(event.room)
        if call is None or call.state == "ended":
            return
        if event.type == "room.closed":
            call.state, call.reason = "ended", "room-closed"
            return
        party = call.party_of(str(event.data.get("participant")))
        if party is None or party.over:
            return
        if event.type in _DIAL_STATES:
            party.state = _DIAL_STATES[event.type]
            party.reason = event.data.get("reason")
        elif event.type == "participant.left":  # hung up, kicked, or moved elsewhere
            party.state, party.reason = "left", event.data.get("reason")
        else:
            return
        self._said(call, party)
        if party.over and party.kind != "barge":
            self._spawn(self.end(call.id, party.reason or party.state))

    # -- bookkeeping ----------------------------------------------------------------------

    def _active(self, call_id: str) -> PrivateCall:
        call = self.get(call_id)
        if call.state == "ended":
            raise CallRefused(409, "call-ended", f"call {call_id} has ended")
        return call

    def _by_room(self, room: str) -> PrivateCall | None:
        return next((c for c in self.calls.values() if c.room == room), None)

    def _busy(self, participant: str) -> bool:
        return any(
            c.state == "active" and (p := c.party_of(participant)) is not None and not p.over
            for c in self.calls.values()
        )

    def _forget_old(self) -> None:
        ended = [cid for cid, call in self.calls.items() if call.state == "ended"]
        for cid in ended[: max(0, len(ended) - KEEP_ENDED)]:
            del self.calls[cid]

    def _spawn(self, coroutine: Awaitable[Any]) -> None:
        async def run() -> None:
            try:
                await coroutine
            except Exception:
                log.exception("ending a call failed")

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
