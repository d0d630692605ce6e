"""Kinds of SIP media session other than a phone call, plugged in by the server assembly.

An ED-137 radio gateway sets up its session with SIP like a phone, but its INVITE says what it
is (`Subject: radio`), its SDP carries more, and its media is a radio leg. The SIP stack knows
none of that: the server assembly implements these two small protocols with radio legs and
hands them to the user agent (calls coming in) and to the dialer (calls going out). A kind
makes the media leg; the SIP call that holds it is the user agent's or the dialer's."""

from __future__ import annotations

from typing import Protocol

from mediacore.legpolicy import LegPolicy
from mediacore.sdp import SessionDescription
from sip.message import Message, Request
from sip.roomport import CallLegs, CallRoom, MediaLeg


class IncomingSessionKind(Protocol):
    def matches(self, invite: Request) -> bool:
        """Whether this INVITE sets up a session of this kind."""
        ...

    async def answer(
        self,
        legs: CallLegs,
        offer: SessionDescription,
        room: CallRoom,
        local_address: str,
        policy: LegPolicy,
    ) -> tuple[MediaLeg, SessionDescription]:
        """The bound leg (SRTP and latching as `policy` says) and our SDP answer; raises
        ValueError (bad offer) or PortsExhausted."""
        ...

    def mark(self, message: Message) -> None:
        """Add this kind's headers to our answer (or request)."""
        ...


class OutgoingSessionKind(Protocol):
    async def offer(
        self, legs: CallLegs, room: CallRoom, local_address: str, policy: LegPolicy
    ) -> tuple[MediaLeg, SessionDescription]:
        """A bound leg that sends nothing yet (SRTP and latching as `policy` says), and our
        SDP offer."""
        ...

    def mark(self, message: Message) -> None:
        """Add this kind's headers to the INVITE."""
        ...

    def answered(self, leg: MediaLeg, answer: SessionDescription) -> None:
        """Take what the callee's answer says beyond offer/answer; raises ValueError."""
        ...
