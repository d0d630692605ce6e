"""An ED-137B radio gateway over SIP: a SIP call whose media is a radio leg.

The gateway (or the server, calling a configured gateway) marks the session as radio with
`Subject: radio` and `WG67-Version: radio.01`; its SDP says the radio's type, direction and
keep-alive timing (radio/sdp.py). Everything else (dialog, BYE, session timer) is SipCall's."""

from __future__ import annotations

from radio.leg import RadioLeg
from radio.sdp import RADIO_SUBJECT, WG67_VERSION, is_radio_session
from sip.call import SipCall
from sip.message import Message, Request


class SipRadioCall(RadioLeg, SipCall):
    kind = "radio"


def is_radio_message(message: Message) -> bool:
    """Whether an INVITE (or its answer) sets up an ED-137 radio session."""
    return is_radio_session(message.headers.get("Subject"), message.headers.get("WG67-Version"))


def mark_radio(message: Message) -> None:
    """Add the headers that make an INVITE or its 200 an ED-137 radio session."""
    if isinstance(message, Request) and message.headers.get("Subject") is None:
        message.headers.add("Subject", RADIO_SUBJECT)
    message.headers.add("WG67-Version", WG67_VERSION)
