"""A real server with plain RTP legs: tones in, and by measurement who hears whom.

Each leg is an RtpPeer on loopback that offers SDP over the HTTP API, then sends a tone of its
own frequency on absolute 20 ms deadlines and decodes what the server sends back."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import numpy as np
import pytest
import websockets

from bench.rtppeer import RtpPeer
from mediacore.audio import tone, tone_level_dbfs, tone_levels_by_block
from mediacore.codecs import G722, OPUS, PCMA, PCMU
from mediacore.codecs.base import CodecInfo
from tests.e2e.server import ServerProcess
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

SERVER_SHARED = True  # its own rooms only: the shared server (tests/e2e/conftest.py)
LEVEL = -20.0  # dBFS RMS of every test tone
SILENT = -50.0  # below this a tone is "not heard"


async def joined(
    server: ServerProcess, room: str, codec: CodecInfo, name: str, ptime: int = 20, **query: object
) -> tuple[RtpPeer, str]:
    peer = RtpPeer(codec, ptime)
    await peer.open()
    participant, answer = server.join(room, peer.make_offer(), name=name, **query)
    peer.accept(answer)
    return peer, participant


def tone_payloads(peer: RtpPeer, frequency: float, seconds: float) -> list[bytes]:
    return peer.packetize(tone(frequency, seconds, peer.codec.sample_rate, LEVEL))


def heard(peer: RtpPeer, frequency: float, since: float) -> float:
    return tone_level_dbfs(peer.decoded(since), frequency, peer.codec.sample_rate)


async def test_each_leg_hears_the_others_in_its_own_codec_and_never_itself(
    server: ServerProcess, room: str
) -> None:
    legs = [(PCMU, 500.0), (G722, 1100.0), (OPUS, 1700.0), (PCMA, 2300.0)]
    peers = [(await joined(server, room, codec, codec.name))[0] for codec, _ in legs]
    plays = [
        peer.play(tone_payloads(peer, f, 2.0)) for peer, (_, f) in zip(peers, legs, strict=True)
    ]
    steady = time.monotonic() + 0.6
    await asyncio.gather(*plays)
    for listener, (_, own) in zip(peers, legs, strict=True):
        assert heard(listener, own, steady) < SILENT, f"{listener.codec.name} hears itself"
        for _, other in legs:
            if other != own:
                level = heard(listener, other, steady)
                assert level == pytest.approx(LEVEL, abs=2.5), (listener.codec.name, other, level)
    roster = {p["name"]: p for p in server.roster(room)}
    assert {p["codec"] for p in roster.values()} == {
        "PCMU/8000",
        "G722/8000",
        "opus/48000",
        "PCMA/8000",
    }
    for peer in peers:
        peer.close()


async def test_muted_leg_is_not_heard_and_deaf_leg_hears_silence(
    server: ServerProcess, room: str
) -> None:
    talker, talker_id = await joined(server, room, PCMU, "talker")
    listener, listener_id = await joined(server, room, PCMU, "listener")
    keepalive = listener.packetize(np.zeros(8000 * 6, dtype=np.float32))
    background = asyncio.ensure_future(listener.play(keepalive))
    payloads = tone_payloads(talker, 600.0, 5.0)
    playing = asyncio.ensure_future(talker.play(payloads))

    await asyncio.sleep(1.0)
    assert heard(listener, 600.0, time.monotonic() - 0.5) == pytest.approx(LEVEL, abs=1.5)

    change = server.client.patch(
        f"/api/v1/rooms/{room}/participants/{talker_id}", json={"muted": True}
    )
    assert change.status_code == 200 and change.json()["muted"] is True
    await asyncio.sleep(0.3)
    muted_since = time.monotonic()
    await asyncio.sleep(1.0)
    assert heard(listener, 600.0, muted_since) < SILENT
    talking = {p["id"]: p for p in server.roster(room)}[talker_id]
    assert talking["talking"] is True and talking["muted"] is True  # still detected, not mixed

    server.client.patch(f"/api/v1/rooms/{room}/participants/{talker_id}", json={"muted": False})
    server.client.patch(f"/api/v1/rooms/{room}/participants/{listener_id}", json={"deaf": True})
    await asyncio.sleep(0.3)
    deaf_since = time.monotonic()
    await asyncio.sleep(1.0)
    assert heard(listener, 600.0, deaf_since) < SILENT
    assert len(listener.decoded(deaf_since)) > 0.9 * 8000  # silence still flows (NAT, RTCP)
    await asyncio.gather(playing, background)
    talker.close()
    listener.close()


@pytest.mark.parametrize("codec", [PCMU, OPUS], ids=lambda c: c.name)
async def test_loss_and_reordering_are_concealed_without_gaps(
    server: ServerProcess, room: str, codec: CodecInfo
) -> None:
    # Opus writes in-band FEC only for frames its voice detector calls active, and it ignores a
    # quiet pure tone; at -12 dBFS the tone counts as voice, as speech would.
    level = -12.0 if codec is OPUS else LEVEL
    talker, _ = await joined(server, room, codec, "lossy")
    listener, _ = await joined(server, room, PCMU, "ear")
    payloads = talker.packetize(tone(800.0, 3.0, codec.sample_rate, level))
    drop = set(range(20, len(payloads) - 10, 17))  # about 6 % loss, single packets
    swap = set(range(25, len(payloads) - 10, 23))  # neighbours sent in the wrong order
    start = time.monotonic()
    await talker.play(payloads, drop=drop, swap=swap - {i - 1 for i in drop} - drop)
    await asyncio.sleep(0.2)
    received = listener.decoded(start + 0.4)[: int(2.4 * 8000)]
    levels = tone_levels_by_block(received, 800.0, 8000)
    # Every 20 ms block carries the tone: concealment may dip it, never leave a hole.
    assert levels.min() > level - 12, levels.min()
    assert np.median(levels) == pytest.approx(level, abs=1.5)
    talker.close()
    listener.close()


async def test_sixty_ms_packets_from_the_leg_are_mixed_into_twenty_ms_ticks(
    server: ServerProcess, room: str
) -> None:
    talker, _ = await joined(server, room, PCMA, "dmr", ptime=60)
    listener, _ = await joined(server, room, PCMU, "ear")
    start = time.monotonic()
    await talker.play(tone_payloads(talker, 900.0, 2.4))
    assert heard(listener, 900.0, start + 0.5) == pytest.approx(LEVEL, abs=1.5)
    talker.close()
    listener.close()


async def test_garbage_floods_and_wrong_payload_types_are_dropped_while_the_room_keeps_mixing(
    server: ServerProcess, room: str
) -> None:
    talker, talker_id = await joined(server, room, PCMU, "talker")
    listener, _ = await joined(server, room, PCMU, "ear")
    stranger = RtpPeer(PCMU)
    await stranger.open()
    stranger.negotiation = talker.negotiation  # aims at the talker's server port
    playing = asyncio.ensure_future(talker.play(tone_payloads(talker, 700.0, 3.0)))
    await asyncio.sleep(0.5)
    rng = np.random.default_rng(5)
    for index in range(300):
        junk = [
            b"",
            b"\x80",
            rng.bytes(int(rng.integers(1, 200))),
            b"\x80" * 3000,
            bytes([0x80, 99]) + rng.bytes(160),
        ][index % 5]
        talker.send_raw(junk)  # from the latched address: malformed, oversized, wrong PT
        stranger.send_payload(b"\xff" * 160)  # a valid packet from an unknown address
        if index % 50 == 0:
            await asyncio.sleep(0.01)
    flooded = time.monotonic()
    await playing
    assert heard(listener, 700.0, flooded) == pytest.approx(LEVEL, abs=1.5)
    details = server.client.get(f"/api/v1/rooms/{room}/participants/{talker_id}").json()
    assert details["statistics"]["dropped_packets"] >= 500
    assert "mediacore_leg_dropped_packets_total" in server.metrics()
    for peer in (talker, listener, stranger):
        peer.close()


async def test_a_silent_leg_is_removed_after_the_rtp_timeout(
    server: ServerProcess, room: str
) -> None:
    began = time.monotonic()
    peer, participant = await joined(server, room, PCMU, "gone")
    assert [p["id"] for p in server.roster(room)] == [participant]
    await wait_for(lambda: server.roster(room) == [], 6.0)  # the server's RTP timeout: 3 s
    assert time.monotonic() - began >= 3.0  # not before it
    peer.close()


async def test_event_stream_reports_join_talking_and_timeout_with_reason(
    server: ServerProcess, room: str
) -> None:
    async with websockets.connect(server.events_url(room)) as events:
        peer, participant = await joined(server, room, PCMU, "spoken")
        await peer.play(tone_payloads(peer, 600.0, 0.5))  # then silence: the leg times out
        seen: list[dict[str, object]] = []
        while not any(e["type"] == "participant.left" for e in seen):
            seen.append(json.loads(await asyncio.wait_for(events.recv(), 10)))
        kinds = [e["type"] for e in seen]
        assert kinds[0] == "participant.joined"
        assert {"type": "talking", "talking": True}.items() <= next(
            e for e in seen if e["type"] == "talking"
        ).items()
        left = seen[-1]
        assert left["participant"] == participant and left["reason"] == "rtp-timeout"
        assert all(e["room"] == room and str(e["at"]).endswith("Z") for e in seen)
        peer.close()


async def test_event_stream_refuses_a_missing_token(server: ServerProcess) -> None:
    url = server.events_url().split("?")[0]  # no token at all
    async with websockets.connect(url) as events:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await events.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_ipv6_legs_hear_each_other_on_a_server_listening_on_every_address(
    tmp_path: Path,
) -> None:
    server = ServerProcess(tmp_path, host="::")
    try:
        talker = RtpPeer(PCMU, host="::1")
        listener = RtpPeer(G722, host="::1")
        for peer in (talker, listener):
            await peer.open()
            _, answer = server.join("command", peer.make_offer(), name="v6")
            assert "IN IP6 ::1" in answer
            peer.accept(answer)
        start = time.monotonic()
        await talker.play(tone_payloads(talker, 750.0, 1.5))
        assert heard(listener, 750.0, start + 0.5) == pytest.approx(LEVEL, abs=1.5)
        talker.close()
        listener.close()
    finally:
        assert server.stop() == 0


async def test_a_sender_that_restarts_with_a_new_ssrc_and_sequence_is_heard_again_at_once(
    server: ServerProcess, room: str
) -> None:
    talker, talker_id = await joined(server, room, PCMU, "restarting")
    listener, _ = await joined(server, room, PCMU, "ear")
    await talker.play(tone_payloads(talker, 650.0, 1.0))
    talker.ssrc ^= 0x5A5A5A5A  # a gateway reboot: new SSRC, sequence and timestamp base
    talker.sequence = (talker.sequence + 30000) & 0xFFFF
    talker.timestamp = (talker.timestamp + 123456789) & 0xFFFFFFFF
    restarted = time.monotonic()
    await talker.play(tone_payloads(talker, 650.0, 1.0))
    received = listener.decoded(restarted + 0.1)[: int(0.8 * 8000)]
    levels = tone_levels_by_block(received, 650.0, 8000)
    assert levels.min() > LEVEL - 12, levels.min()  # no hole after the restart
    details = server.client.get(f"/api/v1/rooms/{room}/participants/{talker_id}").json()
    assert details["statistics"]["packets_lost"] == 0  # statistics restarted with the stream
    talker.close()
    listener.close()


async def test_a_ten_millisecond_room_mixes_twenty_millisecond_legs(server: ServerProcess) -> None:
    created = server.client.post("/api/v1/rooms", json={"name": "fast-tick", "ptime": 10})
    assert created.status_code == 201, created.text
    try:
        talker, _ = await joined(server, "fast-tick", PCMU, "talker")
        listener, _ = await joined(server, "fast-tick", OPUS, "ear")
        start = time.monotonic()
        await talker.play(tone_payloads(talker, 850.0, 1.5))
        received = listener.decoded(start + 0.5)
        assert tone_level_dbfs(received, 850.0, 48000) == pytest.approx(LEVEL, abs=1.5)
        assert tone_levels_by_block(received[: 48000 // 2], 850.0, 48000).min() > LEVEL - 12
        talker.close()
        listener.close()
    finally:
        server.client.delete("/api/v1/rooms/fast-tick")


async def test_rfc4733_digits_become_dtmf_events_once_each(
    server: ServerProcess, room: str
) -> None:
    async with websockets.connect(server.events_url(room)) as events:
        peer, participant = await joined(server, room, PCMU, "keypad")
        await peer.send_digits("4*#", 120)
        digits = []
        while len(digits) < 3:
            event = json.loads(await asyncio.wait_for(events.recv(), 5))
            if event["type"] == "dtmf":
                assert event["participant"] == participant
                assert event["duration_ms"] == 120
                digits.append(event["digit"])
        assert digits == ["4", "*", "#"]
        peer.close()
