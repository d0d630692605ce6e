"""The radio leg without sockets: squelch to floor, keep-alives, loss, flapping and floods.

Datagrams go straight into `datagram_received`; what the leg sends lands in a list."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mediacore.codecs import PCMU
from mediacore.events import EventBus
from mediacore.offeranswer import AudioNegotiation
from mediacore.participant import Participant
from mediacore.room import Room, RoomSettings
from mediacore.rtp import RtpPacket
from mixer.audiomixer import AudioMixer
from radio.ed137 import (
    PROFILE,
    PttType,
    RadioHeader,
    build_keepalive,
    build_radio_header,
    parse_radio_header,
)
from radio.leg import FLAP_LIMIT, KEEPALIVE_BURST, RadioLeg, RadioOptions
from radio.sdp import RadioSession

GATEWAY = ("127.0.0.1", 40000)


class CapturingTransport(asyncio.DatagramTransport):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[bytes] = []

    def sendto(self, data: Any, addr: Any = None) -> None:
        self.sent.append(bytes(data))

    def close(self) -> None:
        pass

    def headers(self) -> list[tuple[int, RadioHeader]]:
        """(payload type, ED-137 header) of every packet sent."""
        result = []
        for data in self.sent:
            packet = RtpPacket.parse(data)
            assert packet.extension_profile == PROFILE
            result.append((packet.payload_type, parse_radio_header(PROFILE, packet.extension_data)))
        return result


def negotiation() -> AudioNegotiation:
    return AudioNegotiation(
        codec=PCMU, payload_type=0, ptime=20, telephone_event_pt=None,
        remote_address=GATEWAY[0], remote_port=GATEWAY[1], remote_rtcp=None, rtcp_mux=True,
        direction="sendrecv", fmtp=None, extmaps=(),
    )  # fmt: skip


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


def events(bus: EventBus) -> list[tuple[str, dict[str, Any]]]:
    seen: list[tuple[str, dict[str, Any]]] = []
    bus.listen(lambda event: seen.append((event.type, event.data)))
    return seen


async def radio_in_room(
    room: Room, name: str, session: RadioSession | None = None
) -> tuple[RadioLeg, CapturingTransport]:
    leg = RadioLeg(
        negotiation(), room_rate=48000, tick_ms=20, timeout=30,
        radio=RadioOptions(session=session or RadioSession()),
    )  # fmt: skip
    transport = CapturingTransport()
    leg.attach(40002, transport, None)
    room.add(Participant(name=name, endpoint=leg, duplex="half"))
    return leg, transport


def audio(sequence: int, squelch: bool, extension: bytes | None = None, ptt_type: int = 0) -> bytes:
    profile, body = build_radio_header(RadioHeader(ptt_type=ptt_type, squelch=squelch))
    return RtpPacket(
        payload_type=0, sequence_number=sequence, timestamp=sequence * 160, ssrc=7,
        payload=b"\xff" * 160, extension_profile=profile,
        extension_data=body if extension is None else extension,
    ).serialize()  # fmt: skip


def keepalive(sequence: int, squelch: bool = False) -> bytes:
    return build_keepalive(sequence, 0, 7, RadioHeader(squelch=squelch))


def make_room(bus: EventBus, **settings: Any) -> Room:
    return Room(RoomSettings("radio", **settings), bus, make_mixer=AudioMixer)


async def test_squelch_opens_the_floor_and_its_close_releases_after_the_hang(
    bus: EventBus,
) -> None:
    seen = events(bus)
    room = make_room(bus, floor_hang_ms=0)
    leg, _ = await radio_in_room(room, "a")
    leg.datagram_received(keepalive(1), GATEWAY)
    assert room.floor.holder is None  # keep-alives with SQU off ask for nothing
    leg.datagram_received(audio(2, squelch=True), GATEWAY)
    assert room.floor.holder == leg.participant_id and room.floor.holder_source == "squelch"
    leg.datagram_received(keepalive(3, squelch=False), GATEWAY)
    room.floor.tick(float("inf"))
    assert room.floor.holder is None
    kinds = [kind for kind, _ in seen if kind.startswith("floor.")]
    assert kinds == ["floor.granted", "floor.released"]
    assert seen[-1][1]["reason"] == "squelch"
    await leg.close("test")


async def test_an_emergency_ptt_type_asks_the_floor_at_emergency_priority(
    bus: EventBus,
) -> None:
    seen = events(bus)
    room = make_room(bus, floor_hang_ms=0)
    a, _ = await radio_in_room(room, "a")
    b, _ = await radio_in_room(room, "b")
    a.datagram_received(audio(1, squelch=True), GATEWAY)
    assert room.floor.holder == a.participant_id and room.floor.holder_priority == 0
    # B's user presses the emergency key: PTT type 4 beside SQU pre-empts A.
    b.datagram_received(audio(1, squelch=True, ptt_type=PttType.EMERGENCY), GATEWAY)
    assert room.floor.holder == b.participant_id and room.floor.holder_priority == 3
    granted = [data for kind, data in seen if kind == "floor.granted"]
    assert granted[-1]["priority"] == 3 and granted[-1]["source"] == "squelch"
    # A presses it mid-transmission too: its request is asked again, at emergency priority.
    a.datagram_received(audio(2, squelch=True, ptt_type=PttType.EMERGENCY), GATEWAY)
    denied = [data for kind, data in seen if kind == "floor.denied"]
    assert denied[-1]["participant"] == a.participant_id and denied[-1]["priority"] == 3
    # B's next packets keep the type: nothing is asked again.
    before = len(seen)
    b.datagram_received(audio(2, squelch=True, ptt_type=PttType.EMERGENCY), GATEWAY)
    assert len(seen) == before
    await a.close("test")
    await b.close("test")


async def test_a_keyed_radio_sends_ptt_by_priority_then_a_ptt_off_keepalive(
    bus: EventBus,
) -> None:
    room = make_room(bus)
    a, _ = await radio_in_room(room, "a")
    b, sent_to_b = await radio_in_room(room, "b")
    commander = Participant(name="c", endpoint=a, priority=3)  # any endpoint: only the id counts
    room.participants[commander.id] = commander
    room.request_floor(commander.id, "api")
    b.send_payload(b"\xff" * 160, tick=1)
    room.release_floor(commander.id, "api")
    (audio_pt, keyed), (keepalive_pt, unkeyed) = sent_to_b.headers()
    assert audio_pt == 0 and keyed.ptt_type == PttType.EMERGENCY and keyed.ptt_id == b.ptt_id
    assert keepalive_pt == 123 and unkeyed.ptt_type == PttType.OFF
    await a.close("test")
    await b.close("test")


async def test_a_lost_gateway_loses_the_floor_and_comes_back(bus: EventBus) -> None:
    seen = events(bus)
    room = make_room(bus)
    session = RadioSession(keepalive_period_ms=100, keepalive_multiplier=5)
    leg, _ = await radio_in_room(room, "a", session)
    leg.datagram_received(audio(1, squelch=True), GATEWAY)
    last = leg._last_from_gateway
    leg.check(last + 0.4)
    assert not leg.lost
    leg.check(last + 0.6)
    assert leg.lost and room.floor.holder is None
    leg.datagram_received(keepalive(2), GATEWAY)
    assert not leg.lost
    kinds = [kind for kind, _ in seen if kind.startswith(("floor.", "radio."))]
    assert kinds == ["floor.granted", "radio.lost", "floor.revoked", "radio.restored"]
    await leg.close("test")


async def test_flapping_squelch_drops_the_floor_and_is_ignored_for_a_while(
    bus: EventBus,
) -> None:
    seen = events(bus)
    room = make_room(bus, floor_hang_ms=0)
    leg, _ = await radio_in_room(room, "a")
    for sequence in range(FLAP_LIMIT * 3):
        leg.datagram_received(audio(sequence, squelch=sequence % 2 == 0), GATEWAY)
    room.floor.tick(float("inf"))
    assert room.floor.holder is None
    assert [kind for kind, _ in seen].count("radio.flapping") == 1


async def test_malformed_extensions_and_keepalive_floods_are_dropped_not_fatal(
    bus: EventBus,
) -> None:
    room = make_room(bus)
    leg, _ = await radio_in_room(room, "a")
    leg.datagram_received(audio(1, squelch=True, extension=b"\xff" * 8), GATEWAY)
    assert leg.dropped["malformed-ed137"] == 1
    assert leg.packets_received == 1  # the audio itself still plays
    for sequence in range(KEEPALIVE_BURST + 30):
        leg.datagram_received(keepalive(2 + sequence), GATEWAY)
    assert leg.keepalives_received == KEEPALIVE_BURST
    assert leg.dropped["keepalive-flood"] == 30
    await leg.close("test")


async def test_an_rx_only_radio_is_never_keyed(bus: EventBus) -> None:
    room = make_room(bus)
    leg, _ = await radio_in_room(room, "rx", RadioSession(radio_type="Radio-Rxonly", txrxmode="Rx"))
    assert leg.audio_output is None and leg.audio_input is not None
    await leg.close("test")
