"""SRTP on cascade links: keys from bind to connect, and what a link refuses.

Pure tests drive two `LinkPeers` tables (one per link socket) with packets from a real
`CascadeSender`; the last test sends real datagrams between two `RoomLinks` over loopback and
from a stranger's socket."""

from __future__ import annotations

import asyncio
import base64
import socket
from types import SimpleNamespace
from typing import cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.fuzztargets import targets
from mediacore.audio import tone
from mediacore.cascade import CascadeFrame, CascadeSender, build_packet, parse_packet
from mediacore.cascadeio import RoomLinks
from mediacore.cascadesec import LinkPeers, LinkRejected, decode_key
from mediacore.clock import MONOTONIC
from mediacore.participant import Participant
from mediacore.rtp import RtpPacket

SAMPLES = 960
A = ("127.0.0.1", 4000)  # where link socket a listens
B = ("127.0.0.1", 4002)


def frame(participant: str = "p-1", tick: int = 0) -> CascadeFrame:
    return CascadeFrame(participant, tick, -20.0, 1, False, tone(700.0, 0.02, 48000, -20.0))


def pair() -> tuple[LinkPeers, LinkPeers]:
    """Two sockets' tables connected both ways, each with the other's bind key."""
    a, b = LinkPeers(), LinkPeers()
    a.connect("to-b", B, b.key)
    b.connect("to-a", A, a.key)
    return a, b


def sent(peers: LinkPeers, packet: bytes) -> bytes:
    [(_, protected)] = list(peers.protect(packet))
    return protected


def test_a_frame_crosses_a_protected_link_and_is_no_longer_plain_on_the_wire() -> None:
    a, b = pair()
    packet = CascadeSender(SAMPLES).packets([frame()])[0]
    protected = sent(a, packet)
    assert protected != packet and packet[12:] not in protected  # encrypted, authenticated
    assert len(protected) == len(packet) + 10  # the HMAC-SHA1-80 tag
    assert parse_packet(b.unprotect(protected, A), SAMPLES).participant == "p-1"


def test_each_socket_hands_out_a_fresh_30_byte_key() -> None:
    keys = {LinkPeers().key for _ in range(5)}
    assert len(keys) == 5
    assert all(len(base64.b64decode(key)) == 30 for key in keys)


def test_a_packet_protected_with_another_key_is_refused_and_counted() -> None:
    a, b = pair()
    a.connect("to-b", B, LinkPeers().key)  # someone else's key
    with pytest.raises(LinkRejected) as refused:
        b.unprotect(sent(a, CascadeSender(SAMPLES).packets([frame()])[0]), A)
    assert refused.value.reason == "unauthenticated"
    assert b.rejected == {"stranger": 0, "unauthenticated": 1}


def test_a_plain_or_tampered_packet_is_refused() -> None:
    a, b = pair()
    packet = CascadeSender(SAMPLES).packets([frame()])[0]
    tampered = bytearray(sent(a, packet))
    tampered[40] ^= 1
    for data in (packet, bytes(tampered), b"", b"\x80"):
        with pytest.raises(LinkRejected):
            b.unprotect(data, A)
    assert b.rejected["unauthenticated"] == 4


def test_a_replayed_packet_is_refused() -> None:
    a, b = pair()
    protected = sent(a, CascadeSender(SAMPLES).packets([frame()])[0])
    b.unprotect(protected, A)
    with pytest.raises(LinkRejected):
        b.unprotect(protected, A)
    assert b.rejected["unauthenticated"] == 1


def test_a_strangers_packet_is_refused_even_with_the_right_key() -> None:
    a, b = pair()
    protected = sent(a, CascadeSender(SAMPLES).packets([frame()])[0])
    with pytest.raises(LinkRejected) as refused:
        b.unprotect(protected, ("127.0.0.1", 9999))
    assert refused.value.reason == "stranger"
    b.disconnect("to-a")
    with pytest.raises(LinkRejected):
        b.unprotect(protected, A)
    assert b.rejected == {"stranger": 2, "unauthenticated": 0}


def test_a_talker_quiet_for_a_while_is_heard_again() -> None:
    """Talkers come and go from the mix every tick: their sequence numbers go on, since SRTP
    refuses to protect, or to take, an index twice."""
    a, b = pair()
    sender = CascadeSender(SAMPLES)
    script = [["p-1", "p-2"], ["p-2"], [], ["p-1"], ["p-1", "p-2"]]
    for tick, talkers in enumerate(script):
        for packet in sender.packets([frame(p, tick) for p in talkers]):
            b.unprotect(sent(a, packet), A)
    assert b.rejected == {"stranger": 0, "unauthenticated": 0}
    sequences = [RtpPacket.parse(p).sequence_number for p in sender.packets([frame("p-1", 9)])]
    assert sequences == [3]


def test_two_senders_give_one_talker_different_ssrcs() -> None:
    one, other = CascadeSender(SAMPLES), CascadeSender(SAMPLES)
    ssrcs = {RtpPacket.parse(s.packets([frame()])[0]).ssrc for s in (one, other)}
    assert len(ssrcs) == 2


def test_a_link_joined_late_starts_mid_sequence_and_wraps() -> None:
    """A link connected while a talker's numbers are past half the space: SRTP's index guess
    must agree on both ends, and across the wrap."""
    a, b = pair()
    for sequence in (40000, 40001, 65535, 0, 1):
        b.unprotect(sent(a, build_packet(frame(), sequence, SAMPLES)), A)
    assert b.rejected["unauthenticated"] == 0


def test_reconnecting_with_the_same_key_keeps_the_replay_window() -> None:
    a, b = pair()
    protected = sent(a, CascadeSender(SAMPLES).packets([frame()])[0])
    b.unprotect(protected, A)
    b.connect("to-a", A, a.key)
    with pytest.raises(LinkRejected):
        b.unprotect(protected, A)


@pytest.mark.parametrize("key", ["", "not base64!", base64.b64encode(bytes(16)).decode(), 42, None])
def test_a_bad_key_is_refused_at_connect(key: object) -> None:
    with pytest.raises(ValueError):
        decode_key(key)
    with pytest.raises(ValueError):
        LinkPeers().connect("x", A, key)  # type: ignore[arg-type]


@given(st.binary(max_size=300))
def test_any_datagram_from_a_peer_is_taken_or_refused(data: bytes) -> None:
    a, b = pair()
    try:
        b.unprotect(data, A)
    except LinkRejected:
        pass


async def test_two_shards_links_talk_srtp_over_loopback_and_refuse_a_stranger() -> None:
    a = RoomLinks(48000, 20, MONOTONIC, "r")
    b = RoomLinks(48000, 20, MONOTONIC, "r")
    await a.bind("127.0.0.1")
    await b.bind("127.0.0.1")
    a.connect("to-b", "127.0.0.1", b.port, b.key)
    b.connect("to-a", "127.0.0.1", a.port, a.key)
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        pcm = tone(700.0, 0.02, 48000, -20.0)
        participant = _local("p-7")
        for tick in range(3):
            a.after_tick(tick, {"p-7": pcm}, {"p-7": participant}, None)
        stranger.sendto(CascadeSender(SAMPLES).packets([frame()])[0], ("127.0.0.1", b.port))
        for _ in range(100):
            if b.statistics()["packets_received"] == 3 and b.rejected == 1:
                break
            await asyncio.sleep(0.01)
        assert [s.id for s in b.sources(MONOTONIC.now())] == ["p-7"]
        assert b.statistics()["packets_from_strangers"] == 1
        assert b.statistics()["packets_unauthenticated"] == 0
        assert len(b.receiver.talkers["p-7"].frames) > 0
    finally:
        stranger.close()
        a.close()
        b.close()


def _local(participant: str) -> Participant:
    """What a link reads of a local talker: its level and priority."""
    return cast(Participant, SimpleNamespace(id=participant, level_db=-20.0, priority=1))


def test_the_fuzz_bench_checks_its_seeds_protected_and_plain() -> None:
    check, seeds = targets()["cascade"].make()
    for seed in seeds:
        check(seed)
