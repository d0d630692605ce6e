"""One-to-one calls (单呼): two parties in a private room of their own.

`POST /calls` opens a room `call-<id>` and brings both parties in: a dialled party is called
with the SIP dial-out (a registered user through the registrar, a number through a trunk); a
participant already in a room, or a radio gateway up in its room, is moved in (动态重组) and
moved back when the call ends, if its room is still open. The call ends on `DELETE` (强拆:
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
from mediacore.server.rooms import Rooms

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
    ) -> None:
        """`dial` calls a SIP party into a room, `gateways` lends the radio gateways, `book`
        says how each party written as text is reached."""
        self.rooms = rooms
        self.bus = bus
        self.dial = dial
        self.gateways = gateways
        self.book = book
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
        unknown one, 409 one that is busy or unavailable), NoSuchRoom, RoomError."""
        targets = [self._target(a), self._target(b)]
        homes = [await self._home(t) for t in targets]
        ids = [t.value for t in targets if t.kind != "sip"]
        if len(set(ids)) < len(ids):
            raise CallRefused(400, "bad-party", "a call joins two different parties")
        short = secrets.token_hex(4)
        settings = RoomSettings(ROOM_PREFIX + short)
        for home in homes:  # moved parties keep their room's rate and tick
            if home is not None:
                summary = await self.rooms.summary(home)
                settings = RoomSettings(settings.name, rate=summary["rate"], ptime=summary["ptime"])
                break
        await self.rooms.open(settings)
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
        home = await self._home(Target("participant", participant))
        assert home is not None
        entry = await self.rooms.move(home, participant, call.room)
        party = Party(participant, "barge", participant, "answered", home, None, entry["priority"])
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

    async def _home(self, target: Target) -> str | None:
        """The room a participant or radio gateway party is in now (None for dialled ones)."""
        if target.kind == "radio":
            return self._gateway(target.value)[1]
        if target.kind != "participant":
            return None
        for room in self.rooms.names():
            if room.startswith(ROOM_PREFIX) and self._by_room(room) is not None:
                continue  # a call's: _busy said so
            if any(p["id"] == target.value for p in await self.rooms.roster(room)):
                return room
        raise CallRefused(404, "unknown-party", f"no participant {target.value!r} in any room")

    async def _bring(
        self, call: PrivateCall, party: Party, target: Target, home: str | None
    ) -> None:
        if target.kind == "sip":
            name = target.name or party.spec
            party.participant = await self.dial(call.room, target.value, name, target.trunk)
            self._said(call, party)
            return
        participant = target.value
        if target.kind == "radio":
            participant, home = self._gateway(target.value)
            self.gateways.hold(target.value)
        assert home is not None
        party.participant, party.home = participant, home
        await self.rooms.move(home, participant, call.room)
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
        """At the call's end: a moved party goes back to its room, a dialled one hangs up."""
        participant = party.participant
        assert participant is not None
        try:
            if party.home is not None and party.home in self.rooms.names():
                if party.priority is not None:
                    await self.rooms.update(call.room, participant, {"priority": party.priority})
                await self.rooms.move(call.room, participant, party.home)
                party.reason = "moved-back"
            else:
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
