"""Making RTP legs from offer/answer: the shared step of plain RTP legs, SIP calls and dial-out.

Negotiate first, then bind a port pair, so a bad offer never takes a port; the answer or offer
names the bound port. Any `RtpLeg` subclass can be made (a radio leg); a SIP call holds one."""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from mediacore.clock import MONOTONIC, Clock
from mediacore.codecs import registry
from mediacore.codecs.base import CodecInfo
from mediacore.dtmf import DtmfDigit
from mediacore.events import EventBus
from mediacore.joinedroom import RoomFormat
from mediacore.legpolicy import PLAIN_RTP, LegPolicy
from mediacore.offeranswer import (
    AudioNegotiation,
    OfferAnswerError,
    answer_audio,
    make_audio_offer,
)
from mediacore.participant import Participant
from mediacore.ports import PortPool
from mediacore.rtpsession import RtpLeg
from mediacore.sdes import new_key
from mediacore.sdp import SessionDescription

if TYPE_CHECKING:  # only for types: video (aiortc, PyAV) loads when the server gives it
    from mediacore.legvideo import LegVideo

Leg = TypeVar("Leg", bound=RtpLeg)


class RoomShape(Protocol):
    """What a leg factory reads of the room a leg is for: its rate and tick."""

    @property
    def settings(self) -> RoomFormat: ...


class DtmfRoom(Protocol):
    """Where a digit goes: the room's name for the event, and the room's PTT keys."""

    @property
    def name(self) -> str: ...

    def dtmf_pressed(self, participant: Participant, digit: str) -> None: ...


def new_session_id() -> int:
    return secrets.randbits(62)


class LegFactory:
    def __init__(
        self, ports: PortPool, listen_host: str, rtp_timeout: float, clock: Clock = MONOTONIC
    ) -> None:
        self.ports = ports
        self.clock = clock  # every leg made here reads it
        self.listen_host = listen_host or "0.0.0.0"
        self.rtp_timeout = rtp_timeout
        # Set by the server assembly: offers with m=video then get video legs (legvideo.py).
        self.video: LegVideo | None = None

    async def answer(
        self,
        offer: SessionDescription,
        room: RoomShape,
        local_address: str,
        make_leg: Callable[..., Leg],
        policy: LegPolicy = PLAIN_RTP,
        **leg_options: Any,
    ) -> tuple[Leg, SessionDescription]:
        """A bound leg and our SDP answer to `offer`, for `room`'s rate and tick, with SRTP
        and latching as `policy` says.

        Raises OfferAnswerError (offer unusable, SRTP refused or required, or wrong address
        family) or PortsExhausted."""
        bind_host = self.bind_host(local_address)
        session_id = new_session_id()
        key = new_key()  # the same in both answers: the leg encrypts with it
        _, negotiation = answer_audio(
            offer,
            registry.supported(),
            local_address,
            9,
            session_id=session_id,
            srtp=policy.srtp,
            srtp_key=key,
        )
        leg = await self._bound(
            make_leg(negotiation, **self._options(room, policy), **leg_options), bind_host
        )
        answer, _ = answer_audio(
            offer,
            registry.supported(),
            local_address,
            leg.local_port,
            session_id=session_id,
            srtp=policy.srtp,
            srtp_key=key,
        )
        leg.session_id = session_id
        if self.video is not None and leg.kind == "rtp":  # not radio gateways
            leg.video = self.video.slot(bind_host, policy.nat)
            await leg.video.answer(offer, answer)
        return leg, answer

    async def offer(
        self,
        room: RoomShape,
        local_address: str,
        make_leg: Callable[..., Leg],
        codecs: list[CodecInfo] | None = None,
        policy: LegPolicy = PLAIN_RTP,
        **leg_options: Any,
    ) -> tuple[Leg, SessionDescription]:
        """A bound leg that sends nothing yet, and our SDP offer (with SRTP as `policy`
        says); apply the answer with `leg.renegotiate(read_answer(...))`."""
        codecs = codecs or registry.supported()
        bind_host = self.bind_host(local_address)
        session_id = new_session_id()
        placeholder = AudioNegotiation(
            codec=codecs[0],
            payload_type=codecs[0].static_payload_type or 96,
            ptime=room.settings.ptime,
            telephone_event_pt=None,
            remote_address="0.0.0.0",
            remote_port=0,
            remote_rtcp=None,
            rtcp_mux=False,
            direction="inactive",
            fmtp=None,
            extmaps=(),
        )
        leg = await self._bound(
            make_leg(placeholder, **self._options(room, policy), **leg_options), bind_host
        )
        leg.session_id = session_id
        if self.video is not None and leg.kind == "rtp":  # the far end may add video later
            leg.video = self.video.slot(bind_host, policy.nat)
        offer = make_audio_offer(
            codecs, local_address, leg.local_port, session_id=session_id, srtp=policy.srtp
        )
        return leg, offer

    def _options(self, room: RoomShape, policy: LegPolicy) -> dict[str, Any]:
        return {
            "room_rate": room.settings.rate,
            "tick_ms": room.settings.ptime,
            "timeout": self.rtp_timeout,
            "clock": self.clock,
            "nat": policy.nat,
        }

    async def _bound(self, leg: Leg, bind_host: str) -> Leg:
        muxed = leg.negotiation.rtcp_mux
        port, rtp, rtcp = await self.ports.bind(
            bind_host, lambda: leg, None if muxed else (lambda: leg)
        )
        leg.attach(port, rtp, rtcp, release=lambda: self.ports.release(port))
        return leg

    def bind_host(self, local_address: str) -> str:
        """Where RTP sockets listen: the configured host, or every address of the answer's family.

        Raises OfferAnswerError when the server listens on one address of the other family."""
        host = self.listen_host
        wanted = 6 if ":" in local_address else 4
        if ipaddress.ip_address(host).is_unspecified:
            return "::" if wanted == 6 else "0.0.0.0"
        if ipaddress.ip_address(host).version != wanted:
            raise OfferAnswerError(
                "bad-address", f"the offer wants IPv{wanted} media but the server listens on {host}"
            )
        return host


def publish_dtmf(
    bus: EventBus, room: DtmfRoom, participant: Participant, digit: DtmfDigit, clock_rate: int
) -> None:
    """A `dtmf` event for a digit from RFC 4733 (duration in timestamp units) or SIP INFO."""
    bus.publish(
        "dtmf",
        room.name,
        participant=participant.id,
        digit=digit.digit,
        duration_ms=digit.duration * 1000 // clock_rate,
    )
    room.dtmf_pressed(participant, digit.digit)
