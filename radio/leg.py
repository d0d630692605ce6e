"""A radio leg: an RTP leg to a radio-over-IP gateway, half duplex, keyed only by the floor.

What the gateway sends us: audio while its receiver's squelch is open. An ED-137 gateway says
so in every packet's header extension (SQU) and sends R2S keep-alives between transmissions;
a plain gateway says nothing, so VOX listens to the level. An opening squelch requests the
floor, a closing one releases it after the room's hang time.

What we send the gateway: only the floor holder's audio, with PTT set, and never its own
(the mixer makes floor listeners hear the holder alone); with the floor free or its own, only
keep-alives with PTT off. A gateway silent for keep-alive period x multiplier is lost: it loses
the floor and a `radio.lost` event says so."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from mediacore.audio import level_dbfs
from mediacore.codecs.base import Pcm
from mediacore.endpoint import AudioInput
from mediacore.joinedroom import JoinedRoom, Member
from mediacore.offeranswer import AudioNegotiation
from mediacore.rtp import RtpPacket
from mediacore.rtpsession import RtpLeg
from radio.ed137 import (
    PROFILE,
    Ed137Error,
    PttType,
    RadioHeader,
    build_keepalive,
    build_radio_header,
    parse_radio_header,
)
from radio.sdp import RadioSession
from radio.vox import Vox, VoxSettings

log = logging.getLogger(__name__)

RadioMode = Literal["ed137", "vox"]
# More squelch changes than this within FLAP_WINDOW seconds is a fault, not speech: the leg
# drops the floor and ignores its squelch for FLAP_PENALTY seconds.
FLAP_LIMIT = 10
FLAP_WINDOW = 1.0
FLAP_PENALTY = 2.0
# Keep-alives beyond this many per keep-alive period are dropped unread (a flood).
KEEPALIVE_BURST = 20
# PTT type toward the radio by the holder's priority: emergency calls key as emergency.
PTT_BY_PRIORITY = {0: PttType.NORMAL, 1: PttType.NORMAL, 2: PttType.PRIORITY, 3: PttType.EMERGENCY}
# A gateway that marks a transmission as an emergency (PTT type 4 beside SQU: the radio user
# pressed the emergency key) asks the floor at emergency priority; other types at the leg's own.
EMERGENCY_PRIORITY = 3


@dataclass(frozen=True, slots=True)
class RadioOptions:
    mode: RadioMode = "ed137"
    session: RadioSession = field(default_factory=RadioSession)
    vox: VoxSettings = field(default_factory=VoxSettings)


class VoxInput:
    """The leg's audio input with a VOX listening to each frame the mixer reads."""

    def __init__(self, inner: AudioInput, vox: Vox, leg: RadioLeg) -> None:
        self.inner = inner
        self.vox = vox
        self.leg = leg
        self.native_rate = inner.native_rate

    def read(self, now: float) -> Pcm | None:
        pcm = self.inner.read(now)
        level = -127.0 if pcm is None else level_dbfs(pcm)
        opened = self.vox.update(level)
        if opened != self.leg.squelch_open:
            self.leg.squelch_changed(opened, "vox", now)
        return pcm

    def to_room_rate(self, pcm: Pcm, restart: bool) -> Pcm:
        return self.inner.to_room_rate(pcm, restart)


class RadioLeg(RtpLeg):
    kind = "radio"
    floor_listener = True

    def __init__(self, *args: Any, radio: RadioOptions | None = None, **kwargs: Any) -> None:
        self.radio = radio or RadioOptions()
        super().__init__(*args, **kwargs)
        session = self.radio.session
        self.room: JoinedRoom | None = None
        self.participant_id: str | None = None
        self.squelch_open = False
        self.holding = False  # this leg holds the room's floor
        self.keyed = False  # we send someone else's audio with PTT set
        self.lost = False
        self.ptt_type = PttType.NORMAL
        self.ptt_id = session.ptt_id or 1
        self.last_header: RadioHeader | None = None
        self.keepalives_received = 0
        self.keepalives_sent = 0
        self.squelch_changes = 0
        self._squelch_opens = 0  # transmissions heard so far (squelch openings)
        self._cut_off_in = -1  # the transmission the floor was taken from (time-out, revoke)
        self._period = session.keepalive_period_ms / 1000
        self._lost_after = self._period * session.keepalive_multiplier
        self._last_from_gateway = self.clock.now()
        self._last_audio_sent = 0.0
        self._keepalive_window = (0.0, 0)  # (window start, keep-alives in it)
        self._squelch_times: deque[float] = deque(maxlen=FLAP_LIMIT + 1)
        self._ignore_squelch_until = 0.0
        self._clock_start = self.clock.now()
        self._keepalive_task: asyncio.Task[None] | None = None

    # -- set-up ---------------------------------------------------------------------------

    def _use(self, negotiation: AudioNegotiation) -> None:
        """Offer/answer's directions, narrowed by the radio's type (an Rx-only radio is never
        keyed; a Tx-only one is never listened to), and VOX on the input of plain gateways."""
        super()._use(negotiation)
        session = self.radio.session
        if not session.sends_to_gateway:
            self.audio_output = None
        if not session.receives_from_gateway:
            self.audio_input = None
        if self.radio.mode == "vox" and self.audio_input is not None:
            vox = Vox(self.radio.vox, self._tick_ms)
            self.audio_input = VoxInput(self.audio_input, vox, self)

    def use_session(self, session: RadioSession) -> None:
        """Take the gateway's answer to our offer (its type and keep-alive timing)."""
        self.radio = RadioOptions(self.radio.mode, session, self.radio.vox)
        self._period = session.keepalive_period_ms / 1000
        self._lost_after = self._period * session.keepalive_multiplier
        self.ptt_id = session.ptt_id or self.ptt_id
        self._use(self.negotiation)

    def attach(self, *args: Any, **kwargs: Any) -> None:
        super().attach(*args, **kwargs)
        if self.radio.mode == "ed137":
            self._keepalive_task = asyncio.get_running_loop().create_task(self._keepalives())

    def joined(self, room: JoinedRoom, participant: Member) -> None:
        super().joined(room, participant)
        self.room = room
        self.participant_id = participant.id
        self.floor_changed(room.floor.holder, room.floor.holder_priority or 0)

    async def close(self, reason: str) -> None:
        if self._keepalive_task is not None:
            self._keepalive_task.cancel()
        if self.keyed:
            self.keyed = False
            self._send_keepalive(self.clock.now())  # unkey the radio before we go
        await super().close(reason)

    # -- from the gateway -----------------------------------------------------------------

    def _audio_received(self, packet: RtpPacket, now: float) -> None:
        self._heard_gateway(now)
        if self.radio.mode == "ed137":
            self._read_header(packet, now)

    def _receive_other(self, packet: RtpPacket, now: float) -> bool:
        if self.radio.mode != "ed137" or packet.payload_type != self.radio.session.keepalive_pt:
            return False
        start, count = self._keepalive_window
        if now - start >= self._period:
            start, count = now, 0
        self._keepalive_window = (start, count + 1)
        if count >= KEEPALIVE_BURST:
            self.dropped["keepalive-flood"] += 1
            return True
        self.keepalives_received += 1
        self._heard_gateway(now)
        self._read_header(packet, now)
        return True

    def _read_header(self, packet: RtpPacket, now: float) -> None:
        if packet.extension_profile != PROFILE:
            return  # audio without the extension keeps the last known squelch state
        try:
            header = parse_radio_header(packet.extension_profile, packet.extension_data)
        except Ed137Error:
            self.dropped["malformed-ed137"] += 1
            return
        was_emergency = self.emergency
        self.last_header = header
        if header.squelch != self.squelch_open:
            self.squelch_changed(header.squelch, "squelch", now)
        elif header.squelch and self.emergency and not was_emergency:
            self._request_floor("squelch")  # the emergency key pressed mid-transmission

    def _heard_gateway(self, now: float) -> None:
        self._last_from_gateway = now
        if self.lost:
            self.lost = False
            self._publish("radio.restored")

    def squelch_changed(self, opened: bool, source: str, now: float) -> None:
        """The gateway's receiver opened or closed (SQU bit, or VOX): ask for or free the floor."""
        if now < self._ignore_squelch_until:
            return
        self.squelch_changes += 1
        self._squelch_times.append(now)
        if len(self._squelch_times) > FLAP_LIMIT and now - self._squelch_times[0] < FLAP_WINDOW:
            self._ignore_squelch_until = now + FLAP_PENALTY
            self._squelch_times.clear()
            self.squelch_open = False
            self._publish("radio.flapping", ignored_seconds=FLAP_PENALTY)
            room, participant = self.room, self.participant_id
            if room is not None and participant in room.participants:
                assert participant is not None
                room.revoke_floor(participant, by=participant, reason="flapping")
            return
        self.squelch_open = opened
        if opened:
            self._squelch_opens += 1
            self._request_floor(source)
        else:
            self._release_floor(source, hang=True)

    @property
    def emergency(self) -> bool:
        """The gateway's last header marks its transmission as an emergency (PTT type 4)."""
        header = self.last_header
        return header is not None and header.ptt_type == PttType.EMERGENCY

    def _request_floor(self, source: str) -> None:
        room, participant = self.room, self.participant_id
        if room is not None and participant in room.participants:
            assert participant is not None
            room.request_floor(participant, source, EMERGENCY_PRIORITY if self.emergency else None)

    def _release_floor(self, source: str, hang: bool) -> None:
        room, participant = self.room, self.participant_id
        if room is not None and participant in room.participants:
            assert participant is not None
            room.release_floor(participant, source, hang=hang)

    def _publish(self, kind: str, **data: Any) -> None:
        room = self.room
        if room is not None:
            room.bus.publish(kind, room.name, participant=self.participant_id, **data)

    # -- the floor ------------------------------------------------------------------------

    def floor_changed(self, holder: str | None, priority: int) -> None:
        own = holder is not None and holder == self.participant_id
        was_holding, self.holding = self.holding, own
        was_keyed, self.keyed = self.keyed, holder is not None and not own
        if self.keyed:
            self.ptt_type = PTT_BY_PRIORITY.get(priority, PttType.NORMAL)
        elif was_keyed:
            self._send_keepalive(self.clock.now())  # PTT off now, not at the next keep-alive
        if was_holding and holder is None and self.squelch_open:
            # Timed out or revoked mid-transmission: a stuck squelch must not take the floor
            # straight back; the next transmission (squelch closed, then open) may.
            self._cut_off_in = self._squelch_opens
        cut_off = self._cut_off_in == self._squelch_opens
        if holder is None and self.squelch_open and not self.lost and not cut_off:
            # Late entry: a radio still transmitting when the floor comes free takes it.
            self._request_floor("squelch" if self.radio.mode == "ed137" else "vox")

    def check(self, now: float) -> str | None:
        self._check_lost(now)
        return super().check(now)

    def _check_lost(self, now: float) -> None:
        if self.radio.mode != "ed137" or self.lost:
            return
        if now - self._last_from_gateway > self._lost_after:
            self.lost = True
            self.squelch_open = False
            log.info("radio gateway lost", extra={"participant": self.participant_id})
            self._publish("radio.lost", silent_ms=int((now - self._last_from_gateway) * 1000))
            room, participant = self.room, self.participant_id
            if room is not None and participant is not None:
                room.revoke_floor(participant, by=participant, reason="lost")

    # -- to the gateway -------------------------------------------------------------------

    def _header(self, ptt: bool) -> RadioHeader:
        return RadioHeader(
            ptt_type=int(self.ptt_type) if ptt else int(PttType.OFF),
            squelch=False,
            ptt_id=self.ptt_id if ptt else 0,
        )

    def _audio_packet(self, sequence: int, timestamp: int, payload: bytes, marker: bool) -> bytes:
        self._last_audio_sent = self.clock.now()
        if self.radio.mode != "ed137":
            return super()._audio_packet(sequence, timestamp, payload, marker)
        profile, body = build_radio_header(self._header(ptt=True))
        packet = RtpPacket(
            payload_type=self.negotiation.payload_type,
            sequence_number=sequence,
            timestamp=timestamp,
            ssrc=self.ssrc,
            payload=payload,
            marker=marker,
            extension_profile=profile,
            extension_data=body,
        )
        return packet.serialize()

    def _send_keepalive(self, now: float) -> None:
        if self.radio.mode != "ed137":
            return  # a plain (VOX) gateway never negotiated R2S: it would get an unknown PT
        rate = self.negotiation.codec.clock_rate
        timestamp = (
            self.session.timestamp_base + int((now - self._clock_start) * rate)
        ) & 0xFFFFFFFF
        datagram = build_keepalive(
            self.next_sequence(),
            timestamp,
            self.ssrc,
            self._header(ptt=False),
            payload_type=self.radio.session.keepalive_pt,
        )
        if self.send_datagram(datagram):
            self.keepalives_sent += 1

    async def _keepalives(self) -> None:
        """R2S keep-alives whenever we are not sending audio, and the watch for a lost gateway."""
        while True:
            await asyncio.sleep(self._period)
            now = self.clock.now()
            if now - self._last_audio_sent >= self._period:
                self._send_keepalive(now)
            self._check_lost(now)

    # -- reporting ------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        session = self.radio.session
        header = self.last_header
        return {
            **super().describe(),
            "radio": self.radio.mode,
            "radio_type": session.radio_type,
            "squelch": self.squelch_open,
            "keyed": self.keyed,
            "lost": self.lost,
            "rssi": header.rssi if header is not None else None,
        }

    def statistics(self) -> dict[str, float]:
        return {
            **super().statistics(),
            "keepalives_received": self.keepalives_received,
            "keepalives_sent": self.keepalives_sent,
            "squelch_changes": self.squelch_changes,
        }
