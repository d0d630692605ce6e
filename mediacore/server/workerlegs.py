"""The media side of SIP calls in a media worker: legs made by offer/answer for the control
process's dialogs, their PIN prompts, and their joining the room.

A leg lives here from "leg.answer" or "leg.offer" until it closes; "leg.join" puts it in the room
as the participant control named. Digits it receives (RFC 4733) go to its PIN prompt while one
runs, then to the room (`dtmf` events, PTT keys)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mediacore.channelio import Channel
from mediacore.dtmf import DtmfDigit
from mediacore.legpolicy import LegPolicy
from mediacore.legs import publish_dtmf
from mediacore.negotiationwire import negotiation_from_json, negotiation_to_json
from mediacore.participant import Participant
from mediacore.rtpsession import RtpLeg
from mediacore.sdp import SessionDescription
from mediacore.server.payloadadapters import payload_adapter
from mediacore.server.rooms import LocalRooms
from radio.leg import RadioLeg, RadioOptions
from radio.sdp import RadioSession
from radio.vox import VoxSettings
from sip.pinentry import PinEntry
from sip.useragent import PIN_HASH_GRACE


@dataclass(slots=True)
class _Leg:
    leg: RtpLeg
    room: str
    participant: Participant | None = None
    pin: PinEntry | None = None
    pin_granted_at: float | None = None


class WorkerLegs:
    """SIP calls' media legs in this worker, by leg id."""

    def __init__(self, rooms: LocalRooms, channel: Channel) -> None:
        self.rooms = rooms
        self.channel = channel
        self.legs: dict[str, _Leg] = {}
        handlers: dict[str, Callable[[dict[str, Any]], Any]] = {
            "leg.answer": self.answer,
            "leg.offer": self.offer,
            "leg.renegotiate": self.renegotiate,
            "leg.video": self.update_video,
            "leg.video_offer": self.offer_video,
            "leg.video_answered": self.video_answered,
            "leg.session": self.use_session,
            "leg.join": self.join,
            "leg.close": self.close,
            "leg.pin": self.start_pin,
            "leg.pin_digit": self.pin_digit,
            "leg.pin_stop": self.stop_pin,
            "participant.dtmf": self.dtmf,
        }
        channel.handlers.update(handlers)

    async def answer(self, data: dict[str, Any]) -> dict[str, Any]:
        room = self.rooms.room(data["room"])
        leg_id = _new_leg_id()
        make_leg, options = self._make(data, leg_id)
        leg, answer = await self.rooms.directory.legs.answer(
            SessionDescription.parse(data["offer"]),
            room,
            data["local_address"],
            make_leg,
            LegPolicy.from_json(data.get("policy")),
            **options,
        )
        return self._adopt(leg_id, leg, room.name, answer=answer.serialize())

    async def offer(self, data: dict[str, Any]) -> dict[str, Any]:
        room = self.rooms.room(data["room"])
        leg_id = _new_leg_id()
        make_leg, options = self._make(data, leg_id)
        leg, offer = await self.rooms.directory.legs.offer(
            room,
            data["local_address"],
            make_leg,
            None,
            LegPolicy.from_json(data.get("policy")),
            **options,
        )
        return self._adopt(leg_id, leg, room.name, offer=offer.serialize())

    def _make(self, data: dict[str, Any], leg_id: str) -> Any:
        options: dict[str, Any] = {"on_dtmf": lambda digit: self._digit(leg_id, digit)}
        if data.get("adapter") is not None:
            options["adapter"] = payload_adapter(data["adapter"])
        if data["kind"] != "radio":
            return RtpLeg, options
        radio = data["radio"] or {}
        options["radio"] = RadioOptions(
            mode=radio.get("mode", "ed137"),
            session=RadioSession(**radio.get("session", {})),
            vox=VoxSettings(**radio.get("vox", {})),
        )
        return RadioLeg, options

    def _adopt(self, leg_id: str, leg: RtpLeg, room: str, **sdp: str) -> dict[str, Any]:
        self.legs[leg_id] = _Leg(leg, room)
        return {
            "leg": leg_id,
            "kind": leg.kind,
            "negotiation": negotiation_to_json(leg.negotiation),
            "session_id": leg.session_id,
            "session_version": leg.session_version,
            "local_port": leg.local_port,
            **sdp,
        }

    async def renegotiate(self, data: dict[str, Any]) -> None:
        self._leg(data).leg.renegotiate(negotiation_from_json(data["negotiation"]))

    async def update_video(self, data: dict[str, Any]) -> dict[str, Any]:
        """A re-INVITE's video: the leg answers it inside control's audio answer."""
        answer = SessionDescription.parse(data["answer"])
        await self._leg(data).leg.update_video(SessionDescription.parse(data["offer"]), answer)
        return {"answer": answer.serialize()}

    async def offer_video(self, data: dict[str, Any]) -> dict[str, Any]:
        """A dial-out with video: the leg adds its video line to control's offer."""
        offer = SessionDescription.parse(data["offer"])
        await self._leg(data).leg.offer_video(offer)
        return {"offer": offer.serialize()}

    async def video_answered(self, data: dict[str, Any]) -> dict[str, Any]:
        """The far end's answer to that offer. Answers it with the leg's video line in place
        of the far end's (the line control's next offers carry: re-INVITEs keep it)."""
        leg = self._leg(data).leg
        answer = SessionDescription.parse(data["answer"])
        await leg.video_answered(answer)
        slot = leg.video
        if slot is None or slot.line is None:
            return {"sdp": None}
        index, line = slot.line
        answer.media[index] = line
        return {"sdp": answer.serialize()}

    async def use_session(self, data: dict[str, Any]) -> None:
        leg = self._leg(data).leg
        if isinstance(leg, RadioLeg):
            leg.use_session(RadioSession(**data["session"]))

    async def join(self, data: dict[str, Any]) -> dict[str, Any]:
        held = self._leg(data)
        room = self.rooms.room(held.room)
        held.leg.kind = data["kind"]  # "sip" or "radio" in the roster, as the call says
        participant = Participant(
            name=data["name"],
            endpoint=held.leg,
            id=data["participant"],
            duplex=data["duplex"],
            priority=data["priority"],
        )
        held.participant = participant
        room.add(participant)
        return participant.roster_entry()

    async def close(self, data: dict[str, Any]) -> None:
        held = self.legs.pop(data["leg"], None)
        if held is None:
            return
        self.channel.notify("leg.closed", leg=data["leg"])  # control forgets its RemoteLeg
        if held.pin is not None:
            held.pin.stop()
        room = self.rooms.directory.rooms.get(held.room)
        participant = held.participant
        if room is not None and participant is not None and participant.id in room.participants:
            await room.remove(participant.id, data["reason"])
        else:
            await held.leg.close(data["reason"])

    async def room_closed(self, room: str) -> None:
        """Legs made for `room` that never joined it (a call still in its PIN prompt or
        before its ACK): the room is gone, so are they, with their ports."""
        for leg_id, held in list(self.legs.items()):
            if held.room == room and held.participant is None:
                await self.close({"leg": leg_id, "reason": "room-closed"})

    def left(self, participant_id: str) -> None:
        """The room let a participant go: forget its leg (closed by the room)."""
        for leg_id, held in list(self.legs.items()):
            if held.participant is not None and held.participant.id == participant_id:
                del self.legs[leg_id]
                self.channel.notify("leg.closed", leg=leg_id)

    def moved(self, participant_id: str, room: str) -> None:
        """A participant moved to `room`: its leg's digits go there now."""
        for held in self.legs.values():
            if held.participant is not None and held.participant.id == participant_id:
                held.room = room

    # -- PIN entry and digits -------------------------------------------------------------

    async def start_pin(self, data: dict[str, Any]) -> None:
        held = self._leg(data)
        leg_id = data["leg"]
        room = self.rooms.room(held.room)

        def decided(result: str) -> None:
            if result == "granted":
                held.pin_granted_at = room.media_clock.now()
            held.pin = None
            self.channel.notify("leg.pin", leg=leg_id, result=result)

        held.pin = PinEntry(
            data["pin"],
            held.leg,
            lambda: decided("granted"),
            lambda: decided("refused"),
            wrong=lambda: self.channel.notify("leg.pin", leg=leg_id, result="wrong"),
            clock=room.media_clock,
        )
        held.pin.start()

    async def pin_digit(self, data: dict[str, Any]) -> None:
        held = self._leg(data)
        if held.pin is not None:
            held.pin.digit(DtmfDigit(data["digit"], data["duration"], 10, 0))

    async def stop_pin(self, data: dict[str, Any]) -> None:
        held = self._leg(data)
        if held.pin is not None:
            held.pin.stop()
            held.pin = None

    async def dtmf(self, data: dict[str, Any]) -> None:
        room = self.rooms.room(data["room"])
        participant = room.participants.get(data["participant"])
        if participant is not None:
            room.dtmf_pressed(participant, data["digit"])

    def _digit(self, leg_id: str, digit: DtmfDigit) -> None:
        held = self.legs.get(leg_id)
        if held is None:
            return
        if held.pin is not None:
            held.pin.digit(digit)
            return
        room = self.rooms.directory.rooms.get(held.room)
        participant = held.participant
        if room is None or participant is None or participant.id not in room.participants:
            return
        granted = held.pin_granted_at
        if digit.digit == "#" and granted and room.media_clock.now() - granted < PIN_HASH_GRACE:
            return  # the end of the PIN typed after it was already accepted: not for the room
        rate = held.leg.negotiation.codec.clock_rate
        publish_dtmf(room.bus, room, participant, digit, rate)

    def _leg(self, data: dict[str, Any]) -> _Leg:
        held = self.legs.get(data["leg"])
        if held is None:
            raise LookupError(f"no leg {data['leg']!r} in this worker")
        return held


def _new_leg_id() -> str:
    return "l-" + secrets.token_hex(6)
