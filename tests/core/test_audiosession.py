"""The RTP audio session without sockets: every datagram and every `now` comes from the test."""

from __future__ import annotations

import dataclasses

from mediacore.audiosession import (
    LATCH_WINDOW,
    AudioReceived,
    AudioSession,
    DtmfReceived,
    OtherPayload,
    SourceLatched,
)
from mediacore.clock import FakeClock
from mediacore.codecs import PCMA, PCMU
from mediacore.dtmf import TelephoneEvent
from mediacore.offeranswer import AudioNegotiation
from mediacore.rtcp import (
    Bye,
    ReceiverReport,
    ReportBlock,
    SenderReport,
    middle_32,
    ntp_from_unix,
    parse_compound,
    serialize_compound,
)
from mediacore.rtp import RtpPacket, build_rtp

PEER = ("192.0.2.7", 40000)  # what the SDP says
NAT = ("198.51.100.9", 61000)  # where the peer's packets really come from
STRANGER = ("203.0.113.5", 5004)
PCMU_PAYLOAD = b"\xff" * 160


def negotiation(**changes: object) -> AudioNegotiation:
    base = AudioNegotiation(
        codec=PCMU,
        payload_type=0,
        ptime=20,
        telephone_event_pt=101,
        remote_address=PEER[0],
        remote_port=PEER[1],
        remote_rtcp=(PEER[0], PEER[1] + 1),
        rtcp_mux=False,
        direction="sendrecv",
        fmtp=None,
        extmaps=(),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def session(clock: FakeClock, nat: bool = True, **changes: object) -> AudioSession:
    """A leg marked as behind NAT (its packets come from NAT, not PEER) unless `nat` is False."""
    return AudioSession(
        negotiation(**changes), room_rate=48000, tick_ms=20, timeout=30.0, now=clock.now(), nat=nat
    )


def audio(sequence: int, ssrc: int = 1234) -> bytes:
    return build_rtp(0, sequence, sequence * 160, ssrc, PCMU_PAYLOAD)


def test_a_nat_leg_sends_to_the_sdp_address_until_a_packet_latches_the_real_one() -> None:
    clock = FakeClock()
    rtp = session(clock)
    assert rtp.remote == PEER
    events = rtp.receive(audio(1), NAT, clock.now())
    assert events[0] == SourceLatched(NAT)
    assert isinstance(events[1], AudioReceived)
    assert rtp.remote == NAT
    assert rtp.packets_received == 1


def test_a_leg_not_behind_nat_hears_and_sends_to_the_sdp_address_only() -> None:
    clock = FakeClock()
    rtp = session(clock, nat=False)
    assert rtp.receive(audio(1), NAT, clock.now()) == []
    assert rtp.receive(audio(2, ssrc=999), STRANGER, clock.now()) == []
    assert rtp.remote == PEER
    assert dict(rtp.dropped) == {"unknown-source": 2}
    assert rtp.statistics()["foreign_packets"] == 2
    assert isinstance(rtp.receive(audio(3), PEER, clock.now())[0], AudioReceived)
    assert rtp.remote == PEER


def test_a_stranger_is_dropped_once_the_nat_leg_latched() -> None:
    clock = FakeClock()
    rtp = session(clock)
    rtp.receive(audio(1), NAT, clock.now())
    assert rtp.receive(audio(9, ssrc=999), STRANGER, clock.now()) == []
    clock.advance(LATCH_WINDOW + 30)  # the peer falls silent: still nobody takes over
    assert rtp.receive(audio(10, ssrc=999), STRANGER, clock.now()) == []
    assert rtp.remote == NAT
    assert dict(rtp.dropped) == {"unknown-source": 2}


def test_a_nat_leg_latches_only_within_its_window() -> None:
    clock = FakeClock()
    rtp = session(clock)
    clock.advance(LATCH_WINDOW + 0.1)
    assert rtp.receive(audio(1), NAT, clock.now()) == []
    assert rtp.remote == PEER
    rtp.renegotiate(negotiation(), clock.now())  # a new offer/answer opens it again
    assert rtp.receive(audio(2), NAT, clock.now())[0] == SourceLatched(NAT)


def test_a_nat_leg_latches_only_to_the_negotiated_payload_type_and_the_peers_ssrc() -> None:
    clock = FakeClock()
    rtp = session(clock)
    assert rtp.receive(build_rtp(8, 1, 160, 1234, PCMU_PAYLOAD), STRANGER, clock.now()) == []
    assert rtp.receive(build_rtp(101, 2, 160, 1234, b"\x05\x0a\x00\xa0"), STRANGER, 0) == []
    assert rtp.remote == PEER
    rtp.receive(audio(3), NAT, clock.now())
    rebound = ("198.51.100.9", 61002)  # the NAT moved the peer early in the call: same SSRC
    assert rtp.receive(audio(4, ssrc=999), STRANGER, clock.now()) == []
    assert rtp.receive(audio(5), rebound, clock.now())[0] == SourceLatched(rebound)
    assert dict(rtp.dropped) == {"unknown-source": 3}


def test_rtcp_from_the_peers_next_port_is_read_and_answered_where_it_came_from() -> None:
    clock = FakeClock()
    rtp = session(clock)
    rtp.receive(audio(1), NAT, clock.now())
    rtcp_port = (NAT[0], NAT[1] + 1)
    assert rtp.rtcp_destination(separate_socket=True) == (True, rtcp_port)
    report = serialize_compound([ReceiverReport(1234, [])])
    assert rtp.receive(report, (NAT[0], 7000), clock.now()) == []
    assert rtp.rtcp_received == 1
    assert rtp.rtcp_destination(separate_socket=True) == (True, (NAT[0], 7000))
    assert rtp.receive(report, STRANGER, clock.now()) == []
    assert dict(rtp.dropped) == {"unknown-source": 1}


def test_with_rtcp_mux_reports_share_the_media_address() -> None:
    clock = FakeClock()
    rtp = session(clock, rtcp_mux=True)
    rtp.receive(audio(1), NAT, clock.now())
    assert rtp.rtcp_destination(separate_socket=True) == (False, NAT)


def test_datagrams_too_short_or_too_long_are_dropped_by_size() -> None:
    clock = FakeClock()
    rtp = session(clock)
    assert rtp.receive(b"\x80\x00\x00", NAT, clock.now()) == []
    assert rtp.receive(b"\x80" * 2000, NAT, clock.now()) == []
    assert dict(rtp.dropped) == {"size": 2}
    assert rtp.remote == PEER  # nothing latched


def test_a_telephone_event_gives_one_digit_per_key_press() -> None:
    clock = FakeClock()
    rtp = session(clock)
    digits = []
    for sequence, (end, duration) in enumerate([(False, 160), (True, 800), (True, 800)]):
        payload = TelephoneEvent(5, end, 10, duration).serialize()
        datagram = build_rtp(101, sequence, 16000, 1234, payload, marker=sequence == 0)
        events = rtp.receive(datagram, PEER, clock.advance(0.02))
        digits += [e.digit for e in events if isinstance(e, DtmfReceived)]
    assert [(d.digit, d.duration) for d in digits] == [("5", 800)]


def test_an_unknown_payload_type_is_offered_to_the_owner_and_counted_if_refused() -> None:
    clock = FakeClock()
    rtp = session(clock)
    [event] = rtp.receive(build_rtp(123, 1, 0, 1234, b"keep"), PEER, clock.now())
    assert isinstance(event, OtherPayload) and event.source == PEER
    rtp.drop("payload-type")
    assert rtp.remote == PEER and dict(rtp.dropped) == {"payload-type": 1}
    assert rtp.accept_source(PEER, clock.now()) is None  # latched where the SDP said
    assert rtp.remote == PEER


def test_a_silent_peer_times_out_but_a_listen_only_one_never_does() -> None:
    clock = FakeClock()
    talking, listening = session(clock), session(clock, direction="sendonly")
    clock.advance(29.0)
    talking.receive(audio(1), PEER, clock.now())
    clock.advance(29.0)
    assert not talking.timed_out(clock.now())
    clock.advance(2.0)
    assert talking.timed_out(clock.now())
    assert not listening.timed_out(clock.now())


def test_rtcp_alone_keeps_a_held_peer_from_timing_out() -> None:
    clock = FakeClock()
    rtp = session(clock)
    clock.advance(25.0)
    rtp.receive(serialize_compound([ReceiverReport(1234, [])]), PEER, clock.now())
    clock.advance(25.0)
    assert not rtp.timed_out(clock.now())


def test_timestamps_follow_the_mixer_ticks_and_a_skipped_tick_is_a_gap() -> None:
    rtp = session(FakeClock())
    first = rtp.stamp(100)
    second = rtp.stamp(101)
    after_skip = rtp.stamp(103)
    assert first[2] and not second[2] and not after_skip[2]  # marker on the first only
    assert (second[0] - first[0]) % 65536 == 1 and (after_skip[0] - second[0]) % 65536 == 1
    assert (second[1] - first[1]) % 2**32 == 160
    assert (after_skip[1] - second[1]) % 2**32 == 320


def test_a_new_codec_starts_a_new_timestamp_line() -> None:
    rtp = session(FakeClock())
    rtp.stamp(1)
    rtp.use(negotiation(codec=PCMA, payload_type=8))
    assert rtp.stamp(2)[2]


def test_reports_are_receiver_reports_until_we_send_then_sender_reports() -> None:
    clock = FakeClock()
    rtp = session(clock)
    rtp.receive(audio(1), NAT, clock.now())
    [before, _] = parse_compound(rtp.report(clock.now()))
    assert isinstance(before, ReceiverReport)
    assert [block.ssrc for block in before.reports] == [1234]
    rtp.stamp(1)
    rtp.sent(160)
    [after, _] = parse_compound(rtp.report(clock.now()))
    assert isinstance(after, SenderReport)
    assert (after.packet_count, after.octet_count) == (1, 160)


def test_bye_ends_with_the_reason() -> None:
    rtp = session(FakeClock())
    packets = parse_compound(rtp.bye("kicked", 1000.0))
    assert isinstance(packets[-1], Bye) and packets[-1].reason == b"kicked"


def test_round_trip_time_comes_from_a_block_that_echoes_our_sender_report() -> None:
    clock = FakeClock()
    rtp = session(clock)
    rtp.stamp(1)
    rtp.sent(160)
    [ours, _] = parse_compound(rtp.report(clock.now()))
    assert isinstance(ours, SenderReport)
    clock.advance(0.3)  # the peer holds our SR 0.1 s before answering: 0.2 s on the wire
    block = ReportBlock(rtp.ssrc, 0, 0, 0, 0, middle_32(ours.ntp_timestamp), int(0.1 * 65536))
    rtp.receive(serialize_compound([ReceiverReport(1234, [block])]), PEER, clock.now())
    assert rtp.round_trip is not None and abs(rtp.round_trip - 0.2) < 0.001


def test_a_peer_sender_report_is_echoed_with_the_delay_since_it_arrived() -> None:
    clock = FakeClock()
    rtp = session(clock)
    rtp.receive(audio(1), NAT, clock.now())
    sr = SenderReport(1234, ntp_from_unix(5000.0), 0, 1, 160, [])
    rtp.receive(serialize_compound([sr]), NAT, clock.now())
    clock.advance(0.5)
    [report, _] = parse_compound(rtp.report(clock.now()))
    assert isinstance(report, ReceiverReport)
    [block] = report.reports
    assert block.lsr == middle_32(sr.ntp_timestamp)
    assert block.dlsr == int(0.5 * 65536)


def test_a_new_peer_ssrc_is_counted_and_restarts_the_reception_statistics() -> None:
    clock = FakeClock()
    rtp = session(clock)
    rtp.receive(audio(1), NAT, clock.now())
    rtp.receive(audio(2), NAT, clock.advance(0.02))
    rtp.receive(audio(50, ssrc=777), NAT, clock.advance(0.02))
    assert rtp.dropped["ssrc-change"] == 1
    assert rtp.reception.packets_received == 1
    assert rtp.packets_received == 3


def test_a_received_audio_packet_reaches_the_jitter_buffer() -> None:
    clock = FakeClock()
    rtp = session(clock)
    [_, received] = rtp.receive(audio(1), NAT, clock.now())
    assert isinstance(received, AudioReceived)
    assert received.packet == RtpPacket.parse(audio(1))
    assert rtp.playout.jitter.stats is not None
    assert rtp.statistics()["packets_received"] == 1


def test_a_listen_only_peer_that_never_sends_cannot_be_taken_over() -> None:
    clock = FakeClock()
    rtp = session(clock, nat=False, direction="sendonly")  # we only send; the peer listens
    for second in range(0, 120, 10):
        clock.advance(10.0)
        assert rtp.receive(audio(second, ssrc=999), STRANGER, clock.now()) == []
    assert rtp.remote == PEER and rtp.dropped["unknown-source"] == 12
