"""SIP calls into rooms on media workers: the dialog here, the media leg in the worker.

The user agent and the dialer see a room through `sip.roomport.CallRoom` and make legs through
`CallLegs`; for a room on media workers these are `CallRoomView` and `RemoteLegs`. A leg is made
(offer/answer), renegotiated (re-INVITE), given its PIN prompt and joined to the room in the
worker that holds the room's shard; what the SIP call holds is a `RemoteLeg` that remembers the
agreed terms and forwards changes. When the worker's room lets the participant go (kick, RTP
time-out, room closed), the view closes the call, which says BYE."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import asdict
from typing import Any, Protocol

from mediacore.clock import MONOTONIC, Clock
from mediacore.codecs.base import CodecInfo
from mediacore.dtmf import DtmfDigit
from mediacore.endpoint import AudioInput, AudioOutput
from mediacore.joinedroom import JoinedRoom, Member
from mediacore.legpolicy import PLAIN_RTP, LegPolicy
from mediacore.legvideo import VideoLine, offer_line, video_line
from mediacore.negotiationwire import negotiation_from_json, negotiation_to_json
from mediacore.offeranswer import AudioNegotiation
from mediacore.participant import Participant
from mediacore.payloadadapter import PayloadAdapter
from mediacore.room import RoomClosed, RoomFull, RoomSettings
from mediacore.rtpsession import RtpLeg
from mediacore.sdp import MediaDescription, SessionDescription
from mediacore.server.workers import WorkerProcess
from radio.leg import RadioLeg, RadioOptions
from radio.sdp import RadioSession, add_radio_attributes
from sip.call import SipCall
from sip.roomport import CallRoom

log = logging.getLogger(__name__)


class LegPlacer(Protocol):
    """What calls into rooms on workers need of the placement (shardedrooms.ShardedRooms)."""

    @property
    def rooms(self) -> Mapping[str, object]:
        """The open rooms, by name."""
        ...

    def settings(self, room: str) -> RoomSettings:
        """The settings of an open room; raises NoSuchRoom."""
        ...

    def legs_in(self, room: str) -> int: ...

    async def worker_for_new_leg(self, room: str) -> WorkerProcess: ...

    def adopt(self, leg: RemoteLeg) -> RemoteLeg: ...

    async def ask(self, worker: WorkerProcess, method: str, **data: Any) -> Any: ...


class _Sender:
    """Requests whose answers nobody waits for, kept until they finish."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def send(self, coroutine: Coroutine[Any, Any, Any], what: str) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._done(t, what))

    def _done(self, task: asyncio.Task[Any], what: str) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.info(
                "worker request failed", extra={"request": what, "error": str(task.exception())}
            )


_SENDER = _Sender()


class RemoteLeg:
    """A SIP call's media leg running in a media worker."""

    audio_input: AudioInput | None = None  # the worker mixes it; nothing flows through here
    audio_output: AudioOutput | None = None

    def __init__(
        self, worker: WorkerProcess, room: str, info: dict[str, Any], kind: dict[str, Any]
    ) -> None:
        self.worker = worker
        self.made_as = kind  # how to make it again on a restarted worker
        self.room = room
        self.id: str = info["leg"]
        self.kind: str = info["kind"]
        self.floor_listener = self.kind == "radio"
        self.negotiation: AudioNegotiation = negotiation_from_json(info["negotiation"])
        self.session_id: int = info["session_id"]
        self.session_version: int = info["session_version"]
        self.local_port: int = info["local_port"]
        self.on_dtmf: Callable[[DtmfDigit], None] | None = None
        self.pin: RemotePinEntry | None = None
        self.closed = False
        self.video: VideoLine | None = None  # the m=video line of the worker's last answer

    def request(self, method: str, **data: Any) -> None:
        _SENDER.send(self.worker.request(method, leg=self.id, **data), method)

    def renegotiate(self, negotiation: AudioNegotiation) -> None:
        self.negotiation = negotiation
        self.request("leg.renegotiate", negotiation=negotiation_to_json(negotiation))

    async def update_video(self, offer: SessionDescription, answer: SessionDescription) -> None:
        """The worker's leg answers the video (it binds the port): its answer replaces ours."""
        reply = await self.worker.request(
            "leg.video", leg=self.id, offer=offer.serialize(), answer=answer.serialize()
        )
        answer.media[:] = _sdp(reply["answer"]).media
        self.video = video_line(answer)

    async def offer_video(self, offer: SessionDescription) -> None:
        """The worker's leg adds its video line (it binds the port) to our offer."""
        reply = await self.worker.request("leg.video_offer", leg=self.id, offer=offer.serialize())
        offer.media[:] = _sdp(reply["offer"]).media
        self.video = video_line(offer)

    async def video_answered(self, answer: SessionDescription) -> None:
        """The far end's answer to it: the worker's leg takes its terms; the line it answers
        is our next offers' (re-INVITEs keep it)."""
        reply = await self.worker.request(
            "leg.video_answered", leg=self.id, answer=answer.serialize()
        )
        self.video = video_line(_sdp(reply["sdp"])) if reply.get("sdp") else None

    def video_offer(self, direction: str) -> tuple[int, MediaDescription] | None:
        if self.video is None:
            return None
        return self.video[0], offer_line(self.video[1], direction)

    def use_session(self, session: RadioSession) -> None:
        """A radio gateway's answer changed the radio session (ED-137 attributes)."""
        self.request("leg.session", session=asdict(session))

    def joined(self, room: JoinedRoom, participant: Member) -> None:
        return None

    def floor_changed(self, holder: str | None, priority: int) -> None:
        return None

    async def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            await self.worker.request("leg.close", leg=self.id, reason=reason)
        except Exception:  # the worker or its room went first: the leg went with it
            pass

    def check(self, now: float) -> str | None:
        return None  # RTP time-outs are the worker room's: it lets the participant go

    def statistics(self) -> dict[str, float]:
        return {}

    def describe(self) -> dict[str, Any]:
        """The agreed terms; the worker's roster entry adds the latched address and counts."""
        negotiation = self.negotiation
        return {
            "codec": negotiation.codec.key,
            "ptime": negotiation.ptime,
            "direction": negotiation.direction,
            "local_port": self.local_port,
        }


class RemotePinEntry:
    """A room PIN collected by the worker that plays the prompt on the caller's leg."""

    def __init__(
        self,
        pin: str,
        leg: RemoteLeg,
        granted: Callable[[], None],
        refused: Callable[[], None],
        *,
        wrong: Callable[[], None] | None = None,
        clock: Clock = MONOTONIC,
    ) -> None:
        self.pin = pin
        self.leg = leg
        self.granted = granted
        self.refused = refused
        self.wrong = wrong
        self.done = False

    def start(self) -> None:
        self.leg.pin = self
        self.leg.request("leg.pin", pin=self.pin)

    def stop(self) -> None:
        if not self.done:
            self.done = True
            self.leg.request("leg.pin_stop")

    def digit(self, digit: DtmfDigit) -> None:
        """A digit from SIP INFO (RFC 4733 digits reach the worker's leg directly)."""
        if not self.done:
            self.leg.request("leg.pin_digit", digit=digit.digit, duration=digit.duration)

    def decided(self, result: str) -> None:
        """What the worker's PIN entry said: "wrong" (one wrong PIN), "granted" or "refused"."""
        if self.done:
            return
        if result == "wrong":
            if self.wrong is not None:
                self.wrong()
            return
        self.done = True
        (self.granted if result == "granted" else self.refused)()


class RemoteLegs:
    """Makes a SIP call's media leg on the worker holding (a shard of) its room."""

    def __init__(self, rooms: LegPlacer) -> None:
        self.rooms = rooms

    async def answer(
        self,
        offer: SessionDescription,
        room: CallRoom,
        local_address: str,
        make_leg: Callable[..., RtpLeg],
        policy: LegPolicy = PLAIN_RTP,
        **leg_options: Any,
    ) -> tuple[RemoteLeg, SessionDescription]:
        worker = await self.rooms.worker_for_new_leg(room.name)
        kind = _leg_kind(make_leg, leg_options, policy)
        info = await self.rooms.ask(
            worker,
            "leg.answer",
            room=room.name,
            offer=offer.serialize(),
            local_address=local_address,
            **kind,
        )
        leg, answer = RemoteLeg(worker, room.name, info, kind), _sdp(info["answer"])
        leg.video = video_line(answer)
        return self.rooms.adopt(leg), answer

    async def offer(
        self,
        room: CallRoom,
        local_address: str,
        make_leg: Callable[..., RtpLeg],
        codecs: list[CodecInfo] | None = None,
        policy: LegPolicy = PLAIN_RTP,
        **leg_options: Any,
    ) -> tuple[RemoteLeg, SessionDescription]:
        worker = await self.rooms.worker_for_new_leg(room.name)
        return await self.offer_on(
            worker, room.name, local_address, _leg_kind(make_leg, leg_options, policy)
        )

    async def offer_on(
        self, worker: WorkerProcess, room: str, local_address: str, kind: dict[str, Any]
    ) -> tuple[RemoteLeg, SessionDescription]:
        """A leg on `worker` (made `kind`-wise) that sends nothing yet, and our offer."""
        info = await self.rooms.ask(
            worker, "leg.offer", room=room, local_address=local_address, **kind
        )
        return self.rooms.adopt(RemoteLeg(worker, room, info, kind)), _sdp(info["offer"])


class CallRoomView:
    """A room on media workers, as SIP calls see it: their participants, joined remotely."""

    def __init__(self, rooms: LegPlacer, name: str) -> None:
        self.rooms = rooms
        self.legs = RemoteLegs(rooms)
        self.name = name
        self.participants: dict[str, Participant] = {}
        self.suspended: set[str] = set()  # calls whose worker died, waiting for it to return

    @property
    def settings(self) -> RoomSettings:
        return self.rooms.settings(self.name)

    def check_capacity(self) -> None:
        if self.name not in self.rooms.rooms:
            raise RoomClosed(f"room {self.name!r} is closed")
        limit = self.settings.max_participants
        if self.rooms.legs_in(self.name) >= limit:
            raise RoomFull(f"room {self.name!r} is full ({limit} participants)")

    def add(self, participant: Participant) -> Participant:
        self.check_capacity()
        leg = _remote_leg(participant)
        self.participants[participant.id] = participant
        _SENDER.send(self._join(participant, leg), "leg.join")
        return participant

    async def _join(self, participant: Participant, leg: RemoteLeg) -> None:
        try:
            await self.rooms.ask(
                leg.worker,
                "leg.join",
                room=self.name,
                leg=leg.id,
                participant=participant.id,
                name=participant.name,
                duplex=participant.duplex,
                priority=participant.priority,
                kind=participant.kind,
            )
        except Exception as error:  # room full or closed meanwhile: the call ends
            log.info("sip leg not joined", extra={"room": self.name, "error": str(error)})
            self.left(participant.id, "room-full")

    async def remove(self, participant_id: str, reason: str) -> None:
        participant = self.participants.get(participant_id)
        if participant is None:
            raise KeyError(participant_id)
        leg = _remote_leg(participant)
        try:
            await self.rooms.ask(
                leg.worker,
                "participant.remove",
                room=self.name,
                participant=participant_id,
                reason=reason,
            )
        except LookupError:  # it left the worker's room already
            self.left(participant_id, reason)

    def update(self, participant_id: str, **changes: Any) -> Participant:
        participant = self.participants[participant_id]
        for key, value in changes.items():
            setattr(participant, key, value)
        leg = _remote_leg(participant)
        _SENDER.send(
            self.rooms.ask(
                leg.worker,
                "participant.update",
                room=self.name,
                participant=participant_id,
                changes=changes,
            ),
            "participant.update",
        )
        return participant

    def dtmf_pressed(self, participant: Participant, digit: str) -> None:
        leg = _remote_leg(participant)
        _SENDER.send(
            self.rooms.ask(
                leg.worker,
                "participant.dtmf",
                room=self.name,
                participant=participant.id,
                digit=digit,
            ),
            "participant.dtmf",
        )

    def suspend(self, worker: WorkerProcess) -> None:
        """`worker` died: its calls keep their dialogs until `resume` moves their media."""
        for participant in self.participants.values():
            if _remote_leg(participant).worker is worker:
                self.suspended.add(participant.id)

    async def resume(self, worker: WorkerProcess) -> list[str]:
        """`worker` is back with this room: each suspended call gets a new leg there and is
        re-INVITEd to it (the same participant id joins again); a call that cannot ends.
        Answers the participants that carry on."""
        resumed: list[str] = []
        for participant_id in sorted(self.suspended):
            participant = self.participants.get(participant_id)
            if participant is None or _remote_leg(participant).worker is not worker:
                continue
            self.suspended.discard(participant_id)
            try:
                await self._move(participant, worker)
            except Exception as error:  # the call cannot carry on: it ends as a lost one
                log.info("sip call not resumed", extra={"room": self.name, "error": str(error)})
                self.left(participant_id, "worker-lost")
            else:
                resumed.append(participant_id)
        return resumed

    async def _move(self, participant: Participant, worker: WorkerProcess) -> None:
        call = participant.endpoint
        if not isinstance(call, SipCall):
            raise TypeError(f"participant {participant.id} is not a SIP call")
        old = _remote_leg(participant)
        leg, offer = await self.legs.offer_on(worker, self.name, call.local_address, old.made_as)
        if old.made_as["radio"] is not None:  # a radio gateway: our radio offer, as at first
            add_radio_attributes(offer, RadioSession(**old.made_as["radio"]["session"]))
        if not await call.move_media(leg, offer):
            await leg.close("refused")
            raise ConnectionError("the peer refused the re-INVITE")
        await self._join(participant, leg)

    def left(self, participant_id: str, reason: str) -> None:
        """The worker's room let the participant go: end its call (BYE)."""
        if participant_id in self.suspended:
            return  # its worker died; `resume` carries it on
        participant = self.participants.pop(participant_id, None)
        if participant is not None:
            _SENDER.send(participant.endpoint.close(reason), "call.close")

    def hand_over(self, participant_id: str) -> Participant | None:
        """The call of a participant that moved to another room, no longer this room's."""
        self.suspended.discard(participant_id)
        return self.participants.pop(participant_id, None)

    def take_over(self, participant: Participant) -> None:
        """A call moved in from another room: its hang-up and digits act on this room now."""
        self.participants[participant.id] = participant
        call = participant.endpoint
        if isinstance(call, SipCall):
            call.room_name = self.name
        leg = _remote_leg(participant)
        leg.room = self.name

    def check(self, now: float) -> None:
        """Once a second, as a room does: a call whose session timer ran out leaves."""
        for participant in list(self.participants.values()):
            reason = participant.endpoint.check(now)
            if reason is not None:
                _SENDER.send(self.remove(participant.id, reason), "participant.remove")

    def call_fields(self, participant_id: str) -> dict[str, Any]:
        """What the roster shows of a participant's call, beyond the worker's entry."""
        participant = self.participants.get(participant_id)
        if participant is None:
            return {}
        call = participant.endpoint.describe()
        call.pop("held", None)  # the room's own (the worker's entry) says whether it is held
        return {"kind": participant.kind, **call}


def _remote_leg(participant: Participant) -> RemoteLeg:
    leg = getattr(participant.endpoint, "leg", None)
    if not isinstance(leg, RemoteLeg):
        raise TypeError(f"participant {participant.id} has no leg in a media worker")
    return leg


def _leg_kind(
    make_leg: Callable[..., RtpLeg], options: dict[str, Any], policy: LegPolicy
) -> dict[str, Any]:
    """How the worker makes the leg (again, after a restart): kind, radio options, policy,
    and its payload adapter's settings when it has one (G.711 in a GB/T 28181 PS stream)."""
    radio: RadioOptions | None = options.get("radio")
    adapter: PayloadAdapter | None = options.get("adapter")
    carried = {"adapter": adapter.to_json()} if adapter is not None else {}
    if make_leg is not RadioLeg:
        return {"kind": "rtp", "radio": None, "policy": policy.to_json(), **carried}
    options_json = asdict(radio) if radio is not None else asdict(RadioOptions())
    return {"kind": "radio", "radio": options_json, "policy": policy.to_json(), **carried}


def _sdp(text: str) -> SessionDescription:
    return SessionDescription.parse(text)
