"""The SRTP transform (libsrtp through pylibsrtp) inside the audio session: what one side
protects the other reads, and a forged or replayed packet is dropped, never heard or latched."""

from __future__ import annotations

import dataclasses

from mediacore.audiosession import AudioReceived, AudioSession, SourceLatched
from mediacore.clock import FakeClock
from mediacore.codecs import PCMU
from mediacore.offeranswer import AudioNegotiation
from mediacore.rtcp import ReceiverReport, serialize_compound
from mediacore.rtp import RtpPacket, build_rtp
from mediacore.sdes import SUITES, SrtpKeys, new_key
from mediacore.srtp import SrtpTransform

PEER = ("192.0.2.7", 40000)
NAT = ("198.51.100.9", 61000)
STRANGER = ("203.0.113.5", 5004)


def negotiation(keys: SrtpKeys | None) -> AudioNegotiation:
    return AudioNegotiation(
        codec=PCMU,
        payload_type=0,
        ptime=20,
        telephone_event_pt=None,
        remote_address=PEER[0],
        remote_port=PEER[1],
        remote_rtcp=None,
        rtcp_mux=True,
        direction="sendrecv",
        fmtp=None,
        extmaps=(),
        srtp=keys,
    )


def pair(suite: str = SUITES[0]) -> tuple[SrtpKeys, SrtpKeys]:
    """Our keys and the peer's: each side's local key is the other's remote one."""
    ours, theirs = new_key(), new_key()
    return SrtpKeys(suite, ours, theirs), SrtpKeys(suite, theirs, ours)


def session(keys: SrtpKeys, clock: FakeClock, nat: bool = False) -> AudioSession:
    return AudioSession(
        negotiation(keys), room_rate=48000, tick_ms=20, timeout=30, now=clock.now(), nat=nat
    )


def secured(clock: FakeClock, nat: bool = False) -> tuple[AudioSession, SrtpTransform]:
    """An SRTP session and the peer's transform (which speaks its keys)."""
    ours, theirs = pair()
    return session(ours, clock, nat), SrtpTransform(theirs)


def test_round_trip_for_both_suites_rtp_and_rtcp() -> None:
    for suite in SUITES:
        ours, theirs = pair(suite)
        sender, receiver = SrtpTransform(theirs), SrtpTransform(ours)
        packet = build_rtp(0, 7, 1120, 4321, b"\x55" * 160)
        protected = sender.protect(packet)
        assert protected != packet and len(protected) == len(packet) + (10 if "80" in suite else 4)
        assert receiver.unprotect(protected) == packet
        report = serialize_compound([ReceiverReport(4321, [])])
        assert receiver.unprotect_rtcp(sender.protect_rtcp(report)) == report


def test_the_session_hears_the_peers_srtp_and_sends_srtp_the_peer_reads() -> None:
    clock = FakeClock()
    rtp, peer = secured(clock)
    wire = peer.protect(build_rtp(0, 1, 160, 99, b"\xff" * 160))
    [received] = rtp.receive(wire, PEER, clock.now())
    assert isinstance(received, AudioReceived) and received.packet.payload == b"\xff" * 160
    sequence, timestamp, marker = rtp.stamp(1)
    sent = rtp.protect(build_rtp(0, sequence, timestamp, rtp.ssrc, b"\x01" * 160, marker))
    assert RtpPacket.parse(peer.unprotect(sent)).payload == b"\x01" * 160
    assert rtp.describe()["srtp"] is True


def test_plain_forged_and_replayed_packets_are_dropped_as_srtp_auth() -> None:
    clock = FakeClock()
    rtp, peer = secured(clock)
    wire = peer.protect(build_rtp(0, 1, 160, 99, b"\xff" * 160))
    assert rtp.receive(build_rtp(0, 2, 320, 99, b"\xff" * 160), PEER, clock.now()) == []
    forged = bytearray(wire)
    forged[20] ^= 1
    assert rtp.receive(bytes(forged), PEER, clock.now()) == []
    assert len(rtp.receive(wire, PEER, clock.now())) == 1
    assert rtp.receive(wire, PEER, clock.now()) == []  # a replay
    assert rtp.dropped["srtp-auth"] == 3 and rtp.packets_received == 1


def test_a_nat_leg_latches_only_to_an_authenticated_packet() -> None:
    clock = FakeClock()
    rtp, peer = secured(clock, nat=True)
    attacker = SrtpTransform(SrtpKeys(SUITES[0], new_key(), new_key()))  # wrong keys
    forged = attacker.protect(build_rtp(0, 1, 160, 99, b"\xff" * 160))
    assert rtp.receive(forged, STRANGER, clock.now()) == []
    assert rtp.remote == PEER
    genuine = peer.protect(build_rtp(0, 2, 320, 99, b"\xff" * 160))
    assert rtp.receive(genuine, NAT, clock.now())[0] == SourceLatched(NAT)


def test_the_same_keys_in_a_new_offer_answer_keep_the_stream_state() -> None:
    clock = FakeClock()
    ours, theirs = pair()
    rtp = session(ours, clock)
    peer = SrtpTransform(theirs)
    rtp.receive(peer.protect(build_rtp(0, 1, 160, 99, b"\xff" * 160)), PEER, clock.now())
    rtp.renegotiate(dataclasses.replace(negotiation(ours), direction="recvonly"), clock.now())
    replay = peer.protect(build_rtp(0, 2, 320, 99, b"\xff" * 160))
    assert len(rtp.receive(replay, PEER, clock.now())) == 1
    assert rtp.receive(replay, PEER, clock.now()) == []  # the replay window survived
