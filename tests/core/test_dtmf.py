"""RFC 4733 telephone-event payload, receiver de-duplication and sender packet trains."""

from __future__ import annotations

import pytest

from mediacore.dtmf import (
    EVENT_NAMES,
    DtmfDigit,
    DtmfError,
    DtmfReceiver,
    DtmfSender,
    TelephoneEvent,
    dtmf_packets,
)


def ev(event: int, end: bool, duration: int, volume: int = 10) -> bytes:
    return TelephoneEvent(event, end, volume, duration).serialize()


def test_payload_format_section_2_3_field_layout() -> None:
    # Digit 5, E bit, volume 10 (-10 dBm0), duration 1600 (200 ms at 8 kHz).
    assert TelephoneEvent.parse(bytes.fromhex("058a0640")) == TelephoneEvent(5, True, 10, 1600)
    assert TelephoneEvent(5, True, 10, 1600).serialize() == bytes.fromhex("058a0640")
    assert TelephoneEvent.parse(bytes.fromhex("0b3f00a0")) == TelephoneEvent(11, False, 63, 160)


def test_reserved_r_bit_is_ignored_on_receipt() -> None:
    assert TelephoneEvent.parse(bytes.fromhex("05ca0640")) == TelephoneEvent(5, True, 10, 1600)


def test_multiple_event_blocks_section_2_5_1_5_yield_the_first() -> None:
    payload = bytes.fromhex("018a0320" + "028a0320")
    assert TelephoneEvent.parse(payload).event == 1


@pytest.mark.parametrize("payload", [b"", b"\x05\x8a\x06", b"\x05\x8a\x06\x40\x00"])
def test_payload_that_is_not_whole_events_raises(payload: bytes) -> None:
    with pytest.raises(DtmfError):
        TelephoneEvent.parse(payload)


@pytest.mark.parametrize(
    "event",
    [
        TelephoneEvent(256, False, 0, 0),
        TelephoneEvent(-1, False, 0, 0),
        TelephoneEvent(1, False, 64, 0),
        TelephoneEvent(1, False, 0, 0x10000),
    ],
)
def test_serialize_rejects_out_of_range_fields(event: TelephoneEvent) -> None:
    with pytest.raises(DtmfError):
        event.serialize()


def test_event_names_section_3_2() -> None:
    assert [EVENT_NAMES[i] for i in range(17)] == list("0123456789*#ABCD") + ["flash"]


def test_full_packet_train_reports_one_digit_on_first_end_packet() -> None:
    receiver = DtmfReceiver()
    train = dtmf_packets("7", 100, 8000, 20)
    results = [receiver.receive(48000, payload, marker) for payload, marker, _ in train]
    first_end = len(train) - 3
    assert results[:first_end] == [None] * first_end
    assert results[first_end] == DtmfDigit("7", 800, 10, 48000)
    assert results[first_end + 1 :] == [None, None]
    assert receiver.flush() == []


def test_same_digit_twice_with_new_timestamp_is_two_digits() -> None:
    receiver = DtmfReceiver()
    digits = []
    for timestamp in (1000, 3000):
        for payload, marker, _ in dtmf_packets("1", 60, 8000, 20):
            digit = receiver.receive(timestamp, payload, marker)
            if digit:
                digits.append(digit)
    assert [(d.digit, d.rtp_timestamp) for d in digits] == [("1", 1000), ("1", 3000)]


def test_lost_end_packets_reported_when_next_event_begins() -> None:
    receiver = DtmfReceiver()
    assert receiver.receive(1000, ev(3, False, 160), True) is None
    assert receiver.receive(1000, ev(3, False, 320), False) is None
    # All end packets of "3" lost; "4" starts with a new timestamp.
    assert receiver.receive(2000, ev(4, False, 160), True) == DtmfDigit("3", 320, 10, 1000)
    assert receiver.receive(2000, ev(4, True, 480), False) == DtmfDigit("4", 480, 10, 2000)


def test_lost_end_packets_reported_on_flush() -> None:
    receiver = DtmfReceiver()
    receiver.receive(1000, ev(10, False, 160), True)
    receiver.receive(1000, ev(10, False, 320), False)
    assert receiver.flush() == [DtmfDigit("*", 320, 10, 1000)]
    assert receiver.flush() == []


def test_two_digits_completed_by_one_packet_are_both_reported_once() -> None:
    receiver = DtmfReceiver()
    receiver.receive(1000, ev(1, False, 160), True)
    # Start and updates of "2" lost as well as the ends of "1": its first end packet arrives.
    assert receiver.receive(2000, ev(2, True, 800), False) == DtmfDigit("1", 160, 10, 1000)
    assert receiver.receive(2000, ev(2, True, 800), False) == DtmfDigit("2", 800, 10, 2000)
    assert receiver.receive(2000, ev(2, True, 800), False) is None
    assert receiver.flush() == []


def test_pending_second_digit_comes_out_of_flush() -> None:
    receiver = DtmfReceiver()
    receiver.receive(1000, ev(1, False, 160), True)
    receiver.receive(2000, ev(2, True, 800), False)
    assert receiver.flush() == [DtmfDigit("2", 800, 10, 2000)]


def test_late_packets_of_a_reported_event_are_ignored() -> None:
    receiver = DtmfReceiver()
    receiver.receive(1000, ev(9, False, 160), True)
    assert receiver.receive(1000, ev(9, True, 400), False) is not None
    receiver.receive(2000, ev(8, False, 160), True)
    assert receiver.receive(1000, ev(9, False, 320), False) is None  # reordered update of "9"
    assert receiver.receive(2000, ev(8, True, 320), False) == DtmfDigit("8", 320, 10, 2000)


def test_reordered_update_does_not_shorten_the_event() -> None:
    receiver = DtmfReceiver()
    receiver.receive(1000, ev(6, False, 160), True)
    receiver.receive(1000, ev(6, False, 480), False)
    receiver.receive(1000, ev(6, False, 320), False)
    assert receiver.flush() == [DtmfDigit("6", 480, 10, 1000)]


def test_long_event_segments_section_2_5_1_3_are_one_digit() -> None:
    receiver = DtmfReceiver()
    receiver.receive(0, ev(0, False, 32000), True)
    assert receiver.receive(0, ev(0, False, 0xFFFF), False) is None
    # Next segment starts where the previous ended, without the marker.
    assert receiver.receive(0xFFFF, ev(0, False, 800), False) is None
    digit = receiver.receive(0xFFFF, ev(0, True, 1600), False)
    assert digit == DtmfDigit("0", 0xFFFF + 1600, 10, 0)
    assert receiver.receive(0xFFFF, ev(0, True, 1600), False) is None


def test_events_beyond_dtmf_are_named_by_code() -> None:
    receiver = DtmfReceiver()
    assert receiver.receive(5, ev(36, True, 160), True) == DtmfDigit("event-36", 160, 10, 5)


def test_receiver_raises_dtmf_error_for_malformed_payload() -> None:
    with pytest.raises(DtmfError):
        DtmfReceiver().receive(0, b"\x01", True)


def test_sender_train_start_updates_and_three_end_packets() -> None:
    train = dtmf_packets("5", 100, 8000, 20)
    durations = [units for _, _, units in train]
    assert durations == [160, 320, 480, 640, 800, 800, 800]
    assert [marker for _, marker, _ in train] == [True] + [False] * 6
    assert train[0][0] == bytes.fromhex("050a00a0")
    end_payloads = {payload for payload, _, _ in train[-3:]}
    assert end_payloads == {bytes.fromhex("058a0320")}
    for payload, _, units in train:
        assert TelephoneEvent.parse(payload).duration == units


def test_sender_digit_shorter_than_ptime_is_only_end_packets() -> None:
    train = dtmf_packets("#", 10, 8000, 20)
    assert [(TelephoneEvent.parse(p), m) for p, m, _ in train] == [
        (TelephoneEvent(11, True, 10, 80), True),
        (TelephoneEvent(11, True, 10, 80), False),
        (TelephoneEvent(11, True, 10, 80), False),
    ]


@pytest.mark.parametrize(("digit", "code"), [("a", 12), ("D", 15), ("flash", 16), ("FLASH", 16)])
def test_sender_accepts_letters_in_either_case(digit: str, code: int) -> None:
    assert TelephoneEvent.parse(dtmf_packets(digit, 40, 8000, 20)[0][0]).event == code


@pytest.mark.parametrize(
    ("digit", "duration_ms", "ptime_ms"),
    [("E", 100, 20), ("12", 100, 20), ("", 100, 20), ("1", 0, 20), ("1", 100, 0), ("1", 9000, 20)],
)
def test_sender_rejects_bad_digits_and_durations(
    digit: str, duration_ms: int, ptime_ms: int
) -> None:
    with pytest.raises(DtmfError):
        dtmf_packets(digit, duration_ms, 8000, ptime_ms)


def test_dtmf_sender_fixes_stream_parameters() -> None:
    sender = DtmfSender(clock_rate=48000, ptime_ms=20, volume=7)
    train = sender.packets("9", 60)
    assert [units for _, _, units in train] == [960, 1920, 2880, 2880, 2880]
    assert TelephoneEvent.parse(train[-1][0]) == TelephoneEvent(9, True, 7, 2880)


def test_sender_output_round_trips_through_receiver_for_every_digit() -> None:
    receiver = DtmfReceiver()
    got = []
    for index, name in enumerate("0123456789*#ABCD"):
        for payload, marker, _ in dtmf_packets(name, 80, 8000, 20):
            digit = receiver.receive(index * 8000, payload, marker)
            if digit:
                got.append(digit.digit)
    assert "".join(got) == "0123456789*#ABCD"
