"""Voice broadcast and talkback with GB/T 28181 devices (语音广播 / 对讲): the assembly's glue
between the platform (ingest.gbplatform, which sends the Broadcast notify) and the SIP user
agent (which answers the device's INVITE into the room as it answers any caller).

The device's INVITE is a SIP call into the room: the same offer/answer, media leg (here or in
a media worker), dialog, BYE and roster entry as a phone's. A full-duplex talkback is a plain
RTP leg; a half-duplex one is a VOX radio leg: the device's voice asks for the room's floor,
and its speaker hears only the floor holder, as a radio gateway's would (radio/leg.py). Audio
offered as G.711 in PS (PS/90000) is answered in kind: the leg mixes plain G.711 and a payload
adapter (ingest.psaudio) carries it in and out of the program stream."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Any

from ingest.gbnotify import BroadcastNotify, BroadcastResponse, encode_event_message
from ingest.gbplatform import GbPlatform
from ingest.gbsettings import is_gb_id
from ingest.gbtalkback import Talkback, TalkbackDuplex, TalkbackError, TalkbackTable
from ingest.gbtalksdp import ps_audio_answer, ps_audio_offer
from mediacore.events import EventBus
from mediacore.legpolicy import LegPolicy
from mediacore.rtpsession import RtpLeg
from mediacore.sdp import SessionDescription
from radio.leg import RadioLeg, RadioOptions
from sip.address import SipSyntaxError
from sip.call import SipCall
from sip.message import Message, Request, make_response
from sip.roomport import CallLegs, CallRoom, MediaLeg
from sip.transaction import Peer, ServerTransaction
from sip.useragent import SipUserAgent

log = logging.getLogger(__name__)

INVITE_TIMEOUT = 10.0  # seconds from the Broadcast notify to the device's INVITE


class TalkbackSession:
    """How a device's talkback INVITE gets its media leg (sip.sessionkind.IncomingSessionKind)."""

    def __init__(self, duplex: TalkbackDuplex) -> None:
        self.duplex = duplex

    def matches(self, invite: Request) -> bool:
        return False  # chosen by GbTalkbacks, never by the INVITE's headers

    async def answer(
        self,
        legs: CallLegs,
        offer: SessionDescription,
        room: CallRoom,
        local_address: str,
        policy: LegPolicy,
    ) -> tuple[MediaLeg, SessionDescription]:
        ps = ps_audio_offer(offer)  # G.711 in PS: the leg answers plain G.711 through an adapter
        if ps is None:
            return await self._answer(legs, offer, room, local_address, policy)
        audio, plain = ps
        leg, answer = await self._answer(
            legs, plain, room, local_address, policy, adapter=audio.adapter()
        )
        return leg, ps_audio_answer(answer, audio)

    async def _answer(
        self,
        legs: CallLegs,
        offer: SessionDescription,
        room: CallRoom,
        local_address: str,
        policy: LegPolicy,
        **options: Any,
    ) -> tuple[MediaLeg, SessionDescription]:
        if self.duplex == "half":
            radio = RadioOptions(mode="vox")
            return await legs.answer(
                offer, room, local_address, RadioLeg, policy, radio=radio, **options
            )
        return await legs.answer(offer, room, local_address, RtpLeg, policy, **options)

    def mark(self, message: Message) -> None:
        pass


class GbTalkbacks:
    def __init__(self, platform: GbPlatform, agent: SipUserAgent, bus: EventBus) -> None:
        self.platform = platform
        self.agent = agent
        self.bus = bus
        self.table = TalkbackTable()
        self._waiting: dict[str, asyncio.Future[None]] = {}
        self._sn = itertools.count(1)
        platform.subscriber.on_broadcast = self._answered

    def describe(self) -> list[dict[str, Any]]:
        return [talkback.describe() for talkback in self.table.all()]

    async def start(
        self, device_id: str, channel_id: str, room: str, duplex: TalkbackDuplex | None = None
    ) -> Talkback:
        """Ask the device to talk with `room`: the Broadcast notify, then wait for its INVITE
        (answered into the room). Returns the connected talkback; raises TalkbackError."""
        device = self.platform.devices.get(device_id)
        if device is None:
            raise TalkbackError(404, "device-not-found", f"no GB/T 28181 device {device_id[:40]!r}")
        if device.state != "online":
            raise TalkbackError(409, "device-offline", f"device {device_id} is offline")
        if not is_gb_id(channel_id):
            raise TalkbackError(400, "bad-channel", "a channel id is 20 digits")
        if self.agent.rooms(room) is None:
            raise TalkbackError(404, "room-not-found", f"no room named {room[:64]!r}")
        duplex = duplex or self.platform.settings.talkback_duplex
        talkback = self.table.start(device_id, channel_id, room, duplex, time.time())
        answered = asyncio.get_running_loop().create_future()
        self._waiting[talkback.id] = answered
        notify = BroadcastNotify(next(self._sn), self.platform.server_id, channel_id)
        try:
            status = await self.platform.send_document(device_id, encode_event_message(notify))
            if status != 200:
                raise TalkbackError(502, "device-refused", f"the device answered {status}")
            try:
                await asyncio.wait_for(asyncio.shield(answered), INVITE_TIMEOUT)
            except TimeoutError:
                raise TalkbackError(
                    504, "no-invite", f"the device did not call back in {INVITE_TIMEOUT:g} s"
                ) from None
        except TalkbackError as error:
            self._waiting.pop(talkback.id, None)
            await self._end(talkback, error.code)
            raise
        self._waiting.pop(talkback.id, None)
        return talkback

    async def stop(self, talkback: Talkback, reason: str = "stopped") -> None:
        """End it: BYE to the device's call (which leaves the room), or stop waiting for it."""
        await self._end(talkback, reason)

    # -- the device's answers -------------------------------------------------------------

    def _answered(self, device_id: str, response: BroadcastResponse) -> None:
        """Response/Broadcast: an ERROR result ends the talkbacks still waiting on it."""
        if response.result.upper() == "OK":
            return
        for talkback in self.table.of_device(device_id):
            waiting = self._waiting.get(talkback.id)
            if waiting is not None and not waiting.done() and talkback.state == "inviting":
                detail = f"the device answered the broadcast with {response.result[:40]!r}"
                waiting.set_exception(TalkbackError(502, "device-refused", detail))

    def claims(self, request: Request, source: Peer) -> bool:
        """An INVITE (out of dialog) from a device asked to talk, from where it registered."""
        if request.method != "INVITE" or request.to.tag:
            return False
        try:
            caller = request.from_.uri.user or ""
        except SipSyntaxError:
            return False
        talkback = self.table.expecting(caller)
        if talkback is None:
            return False
        device = self.platform.devices.get(talkback.device_id)
        return device is not None and device.source.host == source.host

    def invite_received(
        self, request: Request, source: Peer, transaction: ServerTransaction
    ) -> None:
        self.agent.spawn(self._answer(request, source, transaction))

    async def _answer(self, request: Request, source: Peer, transaction: ServerTransaction) -> None:
        talkback = self.table.expecting(request.from_.uri.user or "")
        room = self.agent.rooms(talkback.room) if talkback is not None else None
        if talkback is None or room is None:
            self.agent.stack.respond(transaction, make_response(request, 404))
            return
        talkback.call_id = request.call_id  # taken: another INVITE does not match it
        call = await self.agent.admit(
            request,
            source,
            transaction,
            room,
            target=self.platform.server_id,
            kind=TalkbackSession(talkback.duplex),
            name=self._name(talkback),
        )
        waiting = self._waiting.get(talkback.id)
        if call is None or call.participant_id is None:
            if waiting is not None and not waiting.done():
                detail = "the device's INVITE could not be answered (see the server log)"
                waiting.set_exception(TalkbackError(502, "bad-invite", detail))
            return
        self.table.connected(talkback, request.call_id, call.participant_id)
        self._watch(call, talkback)
        log.info("gb28181 talkback started", extra={"device": talkback.device_id})
        self._publish("gb.talkback.started", talkback)
        if waiting is not None and not waiting.done():
            waiting.set_result(None)
        elif waiting is None:  # nobody waits any more (it timed out): hang up
            self.agent.spawn(call.hang_up("talkback-ended"))

    def _watch(self, call: SipCall, talkback: Talkback) -> None:
        """Publish the end when the call ends from either side (the room's hang-up chain
        first)."""
        previous = call.on_ended

        def ended(reason: str) -> None:
            if previous is not None:
                previous(reason)
            self._publish_end(talkback, reason)

        call.on_ended = ended

    async def _end(self, talkback: Talkback, reason: str) -> None:
        waiting = self._waiting.get(talkback.id)
        if waiting is not None and not waiting.done():
            waiting.set_exception(TalkbackError(409, "talkback-stopped", "it was ended meanwhile"))
        participant = talkback.participant
        call = self.agent.call_in(talkback.room, participant) if participant else None
        self._publish_end(talkback, reason)
        if call is not None:
            await call.hang_up("talkback-ended")

    def _publish_end(self, talkback: Talkback, reason: str) -> None:
        if self.table.ended(talkback, reason):
            log.info("gb28181 talkback ended", extra={"device": talkback.device_id})
            self._publish("gb.talkback.ended", talkback)

    def _publish(self, kind: str, talkback: Talkback) -> None:
        data = talkback.describe()
        self.bus.publish(kind, data.pop("room"), **data)

    def _name(self, talkback: Talkback) -> str:
        device = self.platform.devices.get(talkback.device_id)
        channel = device.channels.get(talkback.channel_id) if device is not None else None
        name = (channel.name if channel is not None else "") or (device.name if device else "")
        return name or f"GB {talkback.channel_id}"
