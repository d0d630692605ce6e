"""Plain RTP legs against a real server in worker mode: SRTP (SDES) legs hear each other, a
plain offer is refused where SRTP is required, and a stranger who sends RTP to a leg's port
from another address is never latched: the leg keeps sending to its SDP address, the stranger
hears nothing and is not heard, and the leg counts what it dropped."""

from __future__ import annotations

import asyncio
import time

import pytest

from bench.rtppeer import RtpPeer
from mediacore.audio import tone, tone_level_dbfs
from mediacore.codecs import PCMU
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.slow

SERVER_SHARED = True  # its own rooms only: the shared server (tests/e2e/conftest.py)
LEVEL = -20.0
SILENT = -50.0


async def joined(
    server: ServerProcess, room: str, name: str, srtp: str = "off", **query: object
) -> tuple[RtpPeer, str, str]:
    peer = RtpPeer(PCMU, srtp=srtp)  # type: ignore[arg-type]
    await peer.open()
    participant, answer = server.join(room, peer.make_offer(), name=name, **query)
    peer.accept(answer)
    return peer, participant, answer


def heard(peer: RtpPeer, frequency: float, since: float) -> float:
    return tone_level_dbfs(peer.decoded(since), frequency, 8000)


async def play_tones(seconds: float, *tones: tuple[RtpPeer, float]) -> float:
    """Each peer plays its tone for `seconds` at once; returns when they started."""
    start = time.monotonic()
    await asyncio.gather(
        *(peer.play(peer.packetize(tone(f, seconds, 8000, LEVEL))) for peer, f in tones)
    )
    return start


def participant(server: ServerProcess, room: str, participant_id: str) -> dict[str, object]:
    return dict(server.client.get(f"/api/v1/rooms/{room}/participants/{participant_id}").json())


async def test_srtp_legs_hear_each_other_and_plain_rtp_is_refused_where_srtp_is_required(
    server: ServerProcess, room: str
) -> None:
    alice, alice_id, answer = await joined(server, room, "alice", srtp="mandatory")
    assert "m=audio" in answer and "RTP/SAVP" in answer and "a=crypto:1 " in answer
    bob, _, _ = await joined(server, room, "bob", srtp="optional")  # RTP/AVP with a=crypto
    start = await play_tones(2.0, (alice, 500.0), (bob, 900.0))
    assert heard(bob, 500.0, start + 0.6) == pytest.approx(LEVEL, abs=2.0)
    assert heard(alice, 900.0, start + 0.6) == pytest.approx(LEVEL, abs=2.0)
    assert alice.srtp_failures == bob.srtp_failures == 0
    entries = {entry["name"]: entry for entry in server.roster(room)}
    assert entries["alice"]["srtp"] is True and entries["bob"]["srtp"] is True
    plain = RtpPeer(PCMU)
    await plain.open()
    refused = server.client.post(
        f"/api/v1/rooms/{room}/rtp",
        params={"srtp": "mandatory"},
        content=plain.make_offer(),
        headers={"Content-Type": "application/sdp"},
    )
    assert refused.status_code == 400 and refused.json()["error"] == "no-srtp", refused.text
    for peer in (alice, bob, plain):
        peer.close()


async def test_a_stranger_sending_to_a_legs_port_is_never_latched(
    server: ServerProcess, room: str
) -> None:
    talker, _, _ = await joined(server, room, "talker")
    victim, victim_id, _ = await joined(server, room, "victim")
    # Another address on this machine: today's first packet would have latched the leg.
    stranger = RtpPeer(PCMU, host="127.0.0.2")
    await stranger.open()
    stranger.negotiation = victim.negotiation  # aims at the victim's port on the server

    async def victim_speaks_late() -> None:
        await asyncio.sleep(1.0)  # the stranger's packets come first
        await victim.play(victim.packetize(tone(0.0, 3.0, 8000, -90.0)))

    late = asyncio.ensure_future(victim_speaks_late())
    start = await play_tones(4.0, (talker, 500.0), (stranger, 1300.0))
    await late
    assert stranger.received_count == 0, "the stranger got the room's audio"
    assert heard(victim, 500.0, start + 0.6) == pytest.approx(LEVEL, abs=2.0)
    assert heard(talker, 1300.0, start + 0.6) < SILENT, "the stranger was heard in the room"
    details = participant(server, room, victim_id)
    assert details["remote"] == f"127.0.0.1:{victim.port}"
    statistics = details["statistics"]
    assert isinstance(statistics, dict) and statistics["foreign_packets"] >= 150
    assert details["foreign_packets"] == statistics["foreign_packets"]
    assert "mediacore_leg_foreign_packets_total" in server.metrics()
    for peer in (talker, victim, stranger):
        peer.close()


async def test_a_leg_marked_nat_latches_to_its_real_address_in_its_first_seconds(
    server: ServerProcess, room: str
) -> None:
    # The offer names 127.0.0.3 (the phone's address behind its NAT); packets come from
    # 127.0.0.1. Only a leg marked nat=true follows them.
    talker, _, _ = await joined(server, room, "talker")
    natted = RtpPeer(PCMU)
    await natted.open()
    offer = natted.make_offer().replace("IN IP4 127.0.0.1", "IN IP4 127.0.0.3")
    natted_id, answer = server.join(room, offer, name="natted", nat="true")
    natted.accept(answer)
    start = await play_tones(2.5, (talker, 500.0), (natted, 1300.0))
    assert heard(natted, 500.0, start + 0.8) == pytest.approx(LEVEL, abs=2.0)
    assert heard(talker, 1300.0, start + 0.8) == pytest.approx(LEVEL, abs=2.0)
    details = participant(server, room, natted_id)
    assert details["remote"] == f"127.0.0.1:{natted.port}" and details["nat"] is True
    for peer in (talker, natted):
        peer.close()
