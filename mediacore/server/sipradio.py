"""An ED-137B radio gateway over SIP: a SIP call whose media leg is a radio leg.

The gateway (or the server, calling a configured gateway) marks the session as radio with
`Subject: radio` and `WG67-Version: radio.01`; its SDP says the radio's type, direction and
keep-alive timing (radio/sdp.py). Everything else (dialog, BYE, session timer) is SipCall's.
The two session kinds here are what the assembly plugs into the SIP user agent (calls in) and
the dialer (calls out), see sip/sessionkind.py: this glue knows both edges, so it lives here
and neither edge imports the other."""

from __future__ import annotations

from mediacore.legpolicy import LegPolicy
from mediacore.sdp import SessionDescription
from radio.leg import RadioLeg, RadioOptions
from radio.sdp import (
    RADIO_SUBJECT,
    WG67_VERSION,
    RadioSession,
    add_radio_attributes,
    is_radio_session,
    radio_session_from_offer,
)
from sip.message import Message, Request
from sip.roomport import CallLegs, CallRoom, MediaLeg


def is_radio_message(message: Message) -> bool:
    """Whether an INVITE (or its answer) sets up an ED-137 radio session."""
    return is_radio_session(message.headers.get("Subject"), message.headers.get("WG67-Version"))


def mark_radio(message: Message) -> None:
    """Add the headers that make an INVITE or its 200 an ED-137 radio session."""
    if isinstance(message, Request) and message.headers.get("Subject") is None:
        message.headers.add("Subject", RADIO_SUBJECT)
    message.headers.add("WG67-Version", WG67_VERSION)


class IncomingRadio:
    """A gateway calling `sip:<room>@server` with `Subject: radio`."""

    def matches(self, invite: Request) -> bool:
        return is_radio_message(invite)

    async def answer(
        self,
        legs: CallLegs,
        offer: SessionDescription,
        room: CallRoom,
        local_address: str,
        policy: LegPolicy,
    ) -> tuple[MediaLeg, SessionDescription]:
        options = RadioOptions(session=radio_session_from_offer(offer))
        leg, answer = await legs.answer(offer, room, local_address, RadioLeg, policy, radio=options)
        add_radio_attributes(answer, options.session)
        return leg, answer

    def mark(self, message: Message) -> None:
        mark_radio(message)


class OutgoingRadio:
    """The server calling a gateway: our radio offer, and the gateway's answer taken in."""

    def __init__(self, session: RadioSession) -> None:
        self.session = session

    async def offer(
        self, legs: CallLegs, room: CallRoom, local_address: str, policy: LegPolicy
    ) -> tuple[MediaLeg, SessionDescription]:
        options = RadioOptions(session=self.session)
        leg, offer = await legs.offer(room, local_address, RadioLeg, None, policy, radio=options)
        add_radio_attributes(offer, self.session)
        return leg, offer

    def mark(self, message: Message) -> None:
        mark_radio(message)

    def answered(self, leg: MediaLeg, answer: SessionDescription) -> None:
        use_session = getattr(leg, "use_session", None)  # a radio leg, here or in a worker
        if use_session is not None:
            use_session(radio_session_from_offer(answer, fallback=self.session))
