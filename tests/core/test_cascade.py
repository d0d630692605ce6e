"""The cascade link between room shards: packets, talkers, and what never goes back."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mediacore.audio import level_dbfs, tone
from mediacore.cascade import (
    CascadeError,
    CascadeFrame,
    CascadeReceiver,
    CascadeSender,
    build_packet,
    parse_packet,
)
from mediacore.rtp import RtpPacket

SAMPLES = 960  # 20 ms at 48 kHz


def frame(participant: str = "p-0123456789", tick: int = 5, **changes: object) -> CascadeFrame:
    values: dict[str, object] = {
        "participant": participant,
        "tick": tick,
        "level_db": -20.4,
        "priority": 2,
        "has_floor": True,
        "pcm": tone(1000.0, 0.02, 48000, -20.0),
    }
    values.update(changes)
    return CascadeFrame(**values)  # type: ignore[arg-type]


def test_a_frame_crosses_the_link_with_its_id_level_priority_floor_and_audio() -> None:
    sent = frame()
    received = parse_packet(build_packet(sent, 9, SAMPLES), SAMPLES)
    assert (received.participant, received.tick, received.priority, received.has_floor) == (
        "p-0123456789",
        5,
        2,
        True,
    )
    assert received.level_db == -20.0  # RFC 6464 carries whole dB
    assert np.max(np.abs(received.pcm - sent.pcm)) < 1 / 16384  # L16: quantisation only
    assert abs(level_dbfs(received.pcm) - level_dbfs(sent.pcm)) < 0.01


def test_the_packet_is_rtp_with_a_one_byte_header_extension() -> None:
    packet = RtpPacket.parse(build_packet(frame(), 9, SAMPLES))
    assert (packet.payload_type, packet.sequence_number, packet.timestamp) == (96, 9, 5 * SAMPLES)
    assert packet.extension_profile == 0xBEDE
    assert len(packet.payload) == 2 * SAMPLES


def test_each_talker_has_its_own_ssrc_and_sequence() -> None:
    sender = CascadeSender(SAMPLES)
    first = [RtpPacket.parse(p) for p in sender.packets([frame("p-a"), frame("p-b")])]
    second = [RtpPacket.parse(p) for p in sender.packets([frame("p-a", 6), frame("p-b", 6)])]
    assert first[0].ssrc != first[1].ssrc
    assert [p.sequence_number for p in first + second] == [0, 0, 1, 1]


def test_a_receiver_queues_a_few_ticks_and_forgets_a_silent_talker() -> None:
    receiver = CascadeReceiver(SAMPLES)
    sender = CascadeSender(SAMPLES)
    for tick in range(5):
        receiver.receive(sender.packets([frame(tick=tick)])[0], now=10.0)
    talker = receiver.talkers["p-0123456789"]
    assert len(talker.frames) == 4  # the oldest were dropped
    assert talker.read(now=10.01) is not None
    assert receiver.expire(10.5) == []
    assert receiver.expire(11.1) == ["p-0123456789"]


@pytest.mark.parametrize(
    "bad",
    [frame(participant="p-" + "x" * 20), frame(participant="")],
)
def test_ids_that_cannot_be_carried_are_refused(bad: CascadeFrame) -> None:
    with pytest.raises(CascadeError):
        build_packet(bad, 0, SAMPLES)


def test_a_packet_of_another_size_or_kind_is_dropped_and_counted() -> None:
    receiver = CascadeReceiver(SAMPLES)
    assert receiver.receive(build_packet(frame(), 0, SAMPLES)[:-2], 0.0) is None
    assert receiver.receive(b"\x80\x00" + bytes(10), 0.0) is None
    assert receiver.packets_dropped == 2


@given(st.binary(max_size=300))
def test_any_datagram_only_parses_or_raises_the_links_own_error(data: bytes) -> None:
    try:
        parse_packet(data, 80)
    except CascadeError:
        pass
