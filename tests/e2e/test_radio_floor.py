"""Radio legs and the floor, end to end: who hears what, measured, with the PTT bit of every
packet the server sends a radio gateway checked.

Each room holds simulated ED-137B gateways (bench/radiogateway.py: SQU in the header
extension, R2S keep-alives), VOX gateways (plain RTP legs joined with radio=vox) and a
full-duplex RTP "phone". Tones of a distinct frequency per sender say who was heard; the
floor's events come from the event WebSocket. The last tests run ED-137 over SIP with sipp."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import websockets

from bench.radiogateway import Ed137Gateway, RadioArrival
from bench.rtppeer import RtpPeer
from bench.sipprun import SippResult, run_sipp, sipp_available, start_sipp
from mediacore.audio import tone, tone_level_dbfs, tone_levels_by_block
from mediacore.codecs import PCMA, PCMU
from mediacore.codecs.base import CodecInfo, Pcm
from radio.ed137 import FeatureBlock, PttType
from tests.e2e.server import SIPP_PASSWORD, SIPP_USER, ServerProcess, sipp_config

pytestmark = pytest.mark.slow

LEVEL = -20.0  # dBFS RMS of every test tone
SILENT = -50.0  # below this a tone is "not heard"
HANG_MS = 200  # the rooms' floor hang time
RATE = 8000  # every leg here is G.711

SERVER_CONFIG = sipp_config()
SERVER_ENV: dict[str, str] = {}
ROOM_SETTINGS = {"floor_hang_ms": HANG_MS}


# -- the event stream ------------------------------------------------------------------------


class EventLog:
    """Every event of one room, with the monotonic time it arrived here, read in the
    background so that a test can look back at what happened and when."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.events: list[dict[str, Any]] = []
        self._task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for message in self.stream:
            event = json.loads(message)
            event["_arrived"] = time.monotonic()
            self.events.append(event)

    def of(self, kind: str, since: float = 0.0, **fields: Any) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events
            if e["type"] == kind
            and e["_arrived"] >= since
            and all(e.get(k) == v for k, v in fields.items())
        ]

    async def wait(
        self, kind: str, timeout: float = 5.0, since: float = 0.0, **fields: Any
    ) -> dict[str, Any]:
        """The first `kind` event with these fields that arrived after `since`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.of(kind, since, **fields)
            if found:
                return found[0]
            await asyncio.sleep(0.01)
        seen = [(e["type"], e.get("participant")) for e in self.events]
        raise AssertionError(f"no {kind} {fields} within {timeout} s; saw {seen}")

    def floor(self) -> list[tuple[str, str | None]]:
        """The floor's story: (event type, participant) in order."""
        return [(e["type"], e.get("participant")) for e in self.events if "floor." in e["type"]]

    def close(self) -> None:
        self._task.cancel()


@pytest.fixture
async def events(server: ServerProcess, room: str) -> AsyncIterator[EventLog]:
    async with websockets.connect(server.events_url(room)) as stream:
        log = EventLog(stream)
        yield log
        log.close()


# -- legs --------------------------------------------------------------------------------------


async def gateway(
    server: ServerProcess, room: str, name: str, codec: CodecInfo = PCMA, **options: Any
) -> tuple[Ed137Gateway, str]:
    """An ED-137B gateway joined to `room`, sending keep-alives."""
    radio = Ed137Gateway(codec, **options)
    await radio.open()
    participant, answer = server.join(room, radio.make_offer(), name=name, radio="ed137")
    radio.accept(answer)
    radio.start_keepalives()
    return radio, participant


async def plain(
    server: ServerProcess, room: str, name: str, ptime: int = 20, **query: Any
) -> tuple[RtpPeer, str]:
    """A plain RTP leg: a phone, or (with radio="vox") a gateway without ED-137."""
    peer = RtpPeer(PCMU, ptime)
    await peer.open()
    participant, answer = server.join(room, peer.make_offer(), name=name, **query)
    peer.accept(answer)
    return peer, participant


def tone_payloads(peer: RtpPeer, frequency: float, seconds: float) -> list[bytes]:
    return peer.packetize(tone(frequency, seconds, peer.codec.sample_rate, LEVEL))


def silence_payloads(peer: RtpPeer, seconds: float) -> list[bytes]:
    return peer.packetize(np.zeros(int(peer.codec.sample_rate * seconds), dtype=np.float32))


def received(peer: RtpPeer, since: float, until: float = float("inf")) -> Pcm:
    """What `peer` received between `since` and `until`, decoded through one decoder from
    its first packet on, as the peer would hear it."""
    kept = RtpPeer(peer.codec, peer.ptime)
    kept.arrivals = [a for a in peer.arrivals if a.time < until]
    return kept.decoded(since)


def level(peer: RtpPeer, frequency: float, since: float, until: float = float("inf")) -> float:
    """The level of `frequency` in what `peer` received between `since` and `until`."""
    return tone_level_dbfs(received(peer, since, until), frequency, RATE)


def steady_blocks(
    peer: RtpPeer, frequency: float, since: float, until: float
) -> npt.NDArray[np.float64]:
    """Per-20 ms levels of `frequency` received between `since` and `until`."""
    return tone_levels_by_block(received(peer, since, until), frequency, RATE)


def audio_between(radio: Ed137Gateway, start: float, end: float) -> list[RadioArrival]:
    return [a for a in radio.audio_arrivals() if start <= a.time < end]


def assert_keyed(radio: Ed137Gateway, arrivals: list[RadioArrival], ptt_type: int) -> None:
    """Every one of these audio packets keys the radio with `ptt_type` and no SQU."""
    assert arrivals, "no audio reached the gateway"
    wrong = [
        (round(a.time, 3), a.header)
        for a in arrivals
        if a.header is None or a.header.ptt_type != ptt_type or a.header.squelch
    ]
    assert not wrong, (
        f"{len(wrong)} of {len(arrivals)} packets not keyed as {ptt_type}: {wrong[:3]}"
    )


def assert_unkeyed(radio: Ed137Gateway, start: float, end: float = float("inf")) -> None:
    """Between start and end the gateway got no audio, and every keep-alive had PTT off."""
    arrivals = [a for a in radio.radio_arrivals if start <= a.time < end]
    audio = [a for a in arrivals if a.payload_type != radio.session.keepalive_pt]
    assert not audio, f"{len(audio)} audio packets reached an unkeyed gateway"
    assert all(a.header is not None and not a.ptt for a in arrivals), "a keep-alive had PTT on"


def floor_holder(server: ServerProcess, room: str) -> str | None:
    response = server.client.get(f"/api/v1/rooms/{room}/floor")
    assert response.status_code == 200, response.text
    holder: str | None = response.json()["holder"]
    return holder


def press(
    server: ServerProcess, room: str, participant: str, action: str, **extra: Any
) -> dict[str, Any]:
    response = server.client.post(
        f"/api/v1/rooms/{room}/floor", json={"participant": participant, "action": action, **extra}
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def report(what: str, **values: float) -> None:
    """Measured values, shown with pytest -s."""
    print(what, ", ".join(f"{k}={v:.1f}" for k, v in values.items()))


def close_all(*peers: RtpPeer) -> None:
    for peer in peers:
        peer.close()


# -- who hears what ----------------------------------------------------------------------------


async def test_idle_floor_radios_get_only_keepalives_and_nobody_keys_them(
    server: ServerProcess, room: str, events: EventLog
) -> None:
    a, _ = await gateway(server, room, "A")
    b, _ = await gateway(server, room, "B")
    v, _ = await plain(server, room, "V", radio="vox")
    p, _ = await plain(server, room, "P")
    start = time.monotonic()
    await p.play(tone_payloads(p, 440.0, 1.5))  # a full-duplex phone talking is no floor
    end = time.monotonic()
    for radio in (a, b):
        assert_unkeyed(radio, start)
        keepalives = [k for k in radio.keepalive_arrivals() if k.time >= start]
        assert 5 <= len(keepalives) <= 10  # one per 200 ms period
    assert v.arrivals == []  # a VOX gateway gets nothing at all while the floor is free
    assert floor_holder(server, room) is None
    assert events.floor() == []  # A's idle keep-alives (SQU off) asked for nothing
    roster = {e["name"]: e for e in server.roster(room)}
    for name in ("A", "B", "V"):
        assert roster[name]["kind"] == "radio" and roster[name]["duplex"] == "half"
        assert roster[name]["keyed"] is False and roster[name]["squelch"] is False
    assert roster["A"]["radio"] == "ed137" and roster["V"]["radio"] == "vox"
    assert roster["A"]["radio_type"] == "Radio-TxRx"
    assert roster["P"]["duplex"] == "full"
    assert end - start < 2.0
    close_all(a, b, v, p)


async def test_radio_a_is_patched_to_radio_b_vox_and_the_phone_and_not_back_to_itself(
    server: ServerProcess, room: str, events: EventLog
) -> None:
    a, a_id = await gateway(server, room, "A")
    b, _ = await gateway(server, room, "B")
    v, _ = await plain(server, room, "V", radio="vox")
    p, _ = await plain(server, room, "P")
    phone = asyncio.ensure_future(p.play(silence_payloads(p, 3.0)))
    start = time.monotonic()
    sent = await a.transmit(tone_payloads(a, 1000.0, 1.5))
    closed = time.monotonic()  # the SQU-off keep-alive went out
    granted = await events.wait("floor.granted", participant=a_id)
    assert granted["source"] == "squelch" and granted["priority"] == 0
    assert granted["_arrived"] - sent[0] < 0.15
    released = await events.wait("floor.released", participant=a_id)
    assert released["reason"] == "squelch" and released["source"] == "squelch"
    await asyncio.sleep(0.3)

    # B: A's tone, keyed (normal PTT) on every packet, from first to last.
    audio = audio_between(b, start, float("inf"))
    assert_keyed(b, audio, PttType.NORMAL)
    assert len(audio) >= len(sent)  # the whole talk, plus the hang time
    steady = (sent[0] + 0.3, closed)
    assert level(b, 1000.0, *steady) == pytest.approx(LEVEL, abs=1.5)
    assert np.median(steady_blocks(b, 1000.0, *steady)) == pytest.approx(LEVEL, abs=1.5)
    # ... then, once the hang is over, PTT off at once and no more audio.
    unkey = next(k for k in b.keepalive_arrivals() if k.time > audio[-1].time)
    assert not unkey.ptt
    assert unkey.time - closed == pytest.approx(HANG_MS / 1000, abs=0.08)
    assert unkey.time - released["_arrived"] < 0.05
    assert_unkeyed(b, unkey.time)
    # VOX gateway and phone hear it; A hears nothing of itself, only keep-alives, PTT off.
    assert level(v, 1000.0, *steady) == pytest.approx(LEVEL, abs=1.5)
    assert level(p, 1000.0, *steady) == pytest.approx(LEVEL, abs=1.5)
    assert all(len(x.payload) == 160 for x in v.arrivals)  # plain PCMU, never an R2S packet
    assert_unkeyed(a, start)
    assert floor_holder(server, room) is None
    await phone
    close_all(a, b, v, p)
    report(
        "patch A->B",
        level_dbfs=level(b, 1000.0, *steady),
        grant_ms=(granted["_arrived"] - sent[0]) * 1000,
        unkey_after_squelch_close_ms=(unkey.time - closed) * 1000,
    )


async def test_api_ptt_keys_every_radio_with_the_phone_until_released(
    server: ServerProcess, room: str, events: EventLog
) -> None:
    a, _ = await gateway(server, room, "A")
    b, _ = await gateway(server, room, "B")
    v, _ = await plain(server, room, "V", radio="vox")
    p, p_id = await plain(server, room, "P")
    talking = asyncio.ensure_future(p.play(tone_payloads(p, 440.0, 2.4)))
    await asyncio.sleep(0.4)
    pressed = time.monotonic()
    assert press(server, room, p_id, "request") == {"result": "granted", "holder": p_id}
    granted = await events.wait("floor.granted", participant=p_id)
    assert granted["source"] == "api"
    await asyncio.sleep(1.2)
    let_go = time.monotonic()
    answer = press(server, room, p_id, "release")
    assert answer["result"] == "released" and answer["holder"] is None
    released = await events.wait("floor.released", participant=p_id)
    assert released["reason"] == "ptt-up"
    await talking
    await asyncio.sleep(0.2)

    for radio in (a, b):
        assert_unkeyed(radio, 0.0, pressed)
        keyed = audio_between(radio, pressed, let_go + 0.05)
        assert_keyed(radio, keyed, PttType.NORMAL)
        assert keyed[0].time - pressed < 0.1  # keyed within a tick or two of the press
        assert 1.1 <= keyed[-1].time - keyed[0].time <= 1.35
        assert level(radio, 440.0, pressed + 0.2, let_go) == pytest.approx(LEVEL, abs=1.5)
        unkey = next(k for k in radio.keepalive_arrivals() if k.time > keyed[-1].time)
        assert not unkey.ptt and unkey.time - let_go < 0.1
        assert_unkeyed(radio, unkey.time)
    assert level(v, 440.0, pressed + 0.2, let_go) == pytest.approx(LEVEL, abs=1.5)
    assert all(pressed < arrival.time < let_go + 0.1 for arrival in v.arrivals)
    report(
        "API PTT",
        level_dbfs=level(a, 440.0, pressed + 0.2, let_go),
        key_after_press_ms=(audio_between(a, pressed, let_go)[0].time - pressed) * 1000,
    )
    close_all(a, b, v, p)


async def test_busy_floor_denies_an_equal_radio_and_an_emergency_call_preempts(
    server: ServerProcess, room: str, events: EventLog
) -> None:
    a, a_id = await gateway(server, room, "A")
    b, b_id = await gateway(server, room, "B")
    v, _ = await plain(server, room, "V", radio="vox")
    p, p_id = await plain(server, room, "P")
    phone = asyncio.ensure_future(p.play(tone_payloads(p, 440.0, 3.0)))
    start = time.monotonic()
    talk_a = asyncio.ensure_future(a.transmit(tone_payloads(a, 1000.0, 2.8)))
    await events.wait("floor.granted", participant=a_id)

    await asyncio.sleep(0.3)
    b_keyed = time.monotonic()
    await b.transmit(tone_payloads(b, 1500.0, 0.6))  # B's receiver opens too: same priority
    b_done = time.monotonic()
    denied = await events.wait("floor.denied", participant=b_id)
    assert denied["holder"] == a_id and denied["reason"] == "busy"
    assert denied["source"] == "squelch"
    assert floor_holder(server, room) == a_id

    preempt_at = time.monotonic()
    answer = press(server, room, p_id, "request", priority=3)
    assert answer == {"result": "granted", "holder": p_id}
    revoked = await events.wait("floor.revoked", participant=a_id)
    assert revoked["reason"] == "preempted" and revoked["by"] == p_id
    granted = await events.wait("floor.granted", participant=p_id)
    assert granted["priority"] == 3 and granted["previous"] == a_id
    await asyncio.sleep(0.8)
    release_at = time.monotonic()
    press(server, room, p_id, "release")
    # A is still transmitting: late entry gives it the floor back as soon as it is free.
    back = await events.wait("floor.granted", since=release_at - 0.01, participant=a_id)
    assert back["source"] == "squelch"
    await talk_a
    final = await events.wait("floor.released", since=release_at, participant=a_id)
    await phone
    await asyncio.sleep(0.1)

    # B was denied: nobody heard it; A (the holder) heard nothing at all.
    for listener in (v, p):
        assert level(listener, 1500.0, b_keyed, b_done) < SILENT
        assert level(listener, 1000.0, b_keyed + 0.1, b_done) == pytest.approx(LEVEL, abs=1.5)
    assert_unkeyed(a, start, preempt_at)
    # B heard A, normal PTT, until the pre-emption.
    assert_keyed(b, audio_between(b, start, preempt_at), PttType.NORMAL)
    # The emergency call keys A and B as emergency on every packet, with the phone's voice.
    for radio in (a, b):
        emergency = audio_between(radio, preempt_at + 0.05, release_at)
        assert_keyed(radio, emergency, PttType.EMERGENCY)
        assert level(radio, 440.0, preempt_at + 0.2, release_at) == pytest.approx(LEVEL, abs=1.5)
        assert level(radio, 1000.0, preempt_at + 0.2, release_at) < SILENT
    # After P let go, A had the floor back: B hears A again with normal PTT, A nothing.
    assert_keyed(b, audio_between(b, release_at + 0.1, back["_arrived"] + 0.5), PttType.NORMAL)
    # The hand-over P -> A keys B throughout (no PTT-off blip); A's own release unkeys B at once.
    ends = final["_arrived"] - 0.05  # the unkey keep-alive may arrive before the event
    hand_over = [k for k in b.keepalive_arrivals() if release_at < k.time < ends]
    assert hand_over == []
    unkey = next(k for k in b.keepalive_arrivals() if k.time > final["_arrived"] - 0.01)
    assert not unkey.ptt and unkey.time - final["_arrived"] < 0.05
    after = [k for k in a.radio_arrivals if k.time > release_at + 0.1]
    assert after and all(k.payload_type == a.session.keepalive_pt and not k.ptt for k in after)
    assert events.floor() == [
        ("floor.granted", a_id),
        ("floor.denied", b_id),
        ("floor.revoked", a_id),
        ("floor.granted", p_id),
        ("floor.released", p_id),
        ("floor.granted", a_id),
        ("floor.released", a_id),
    ]
    close_all(a, b, v, p)


VOX = {"radio": "vox", "vox_threshold_dbfs": -40, "vox_attack_ms": 40, "vox_hang_ms": 300}


async def test_vox_gateway_takes_the_floor_after_the_attack_and_frees_it_after_the_hang(
    server: ServerProcess, room: str, events: EventLog
) -> None:
    a, _ = await gateway(server, room, "A")
    b, _ = await gateway(server, room, "B")
    v, v_id = await plain(server, room, "V", **VOX)
    quiet = v.packetize(tone(700.0, 0.6, RATE, -55.0))  # below the threshold: no floor
    loud = tone_payloads(v, 700.0, 1.5)
    sent = await v.play(quiet + loud)
    stopped = time.monotonic()
    onset = sent[len(quiet)]
    granted = await events.wait("floor.granted", participant=v_id)
    assert granted["source"] == "vox"
    grant_delay = granted["_arrived"] - onset
    # 40 ms attack: two 20 ms frames above the threshold, the second one sent 20 ms after the
    # first (each packet leaves once its 20 ms are captured), plus the jitter buffer.
    assert 0.02 <= grant_delay < 0.25
    released = await events.wait("floor.released", participant=v_id, timeout=3.0)
    assert released["reason"] == "vox" and released["source"] == "vox"
    release_delay = released["_arrived"] - stopped
    assert 0.3 + HANG_MS / 1000 - 0.05 < release_delay < 0.3 + HANG_MS / 1000 + 0.25
    await asyncio.sleep(0.1)
    for radio in (a, b):
        assert_unkeyed(radio, 0.0, granted["_arrived"] - 0.03)
        keyed = audio_between(radio, granted["_arrived"] - 0.03, released["_arrived"] + 0.03)
        assert_keyed(radio, keyed, PttType.NORMAL)
        assert level(radio, 700.0, onset + 0.3, stopped) == pytest.approx(LEVEL, abs=1.5)
        assert_unkeyed(radio, released["_arrived"] + 0.03)
    assert v.arrivals == []  # never its own audio
    report(
        "VOX 20 ms",
        grant_after_onset_ms=grant_delay * 1000,
        release_after_stop_ms=release_delay * 1000,
        level_dbfs=level(a, 700.0, onset + 0.3, stopped),
    )
    close_all(a, b, v)


async def test_vox_gateway_sending_60_ms_packets_is_heard_whole(
    server: ServerProcess, room: str, events: EventLog
) -> None:
    a, _ = await gateway(server, room, "A")
    dmr, dmr_id = await plain(server, room, "DMR", ptime=60, **VOX)
    sent = await dmr.play(tone_payloads(dmr, 900.0, 1.8))
    stopped = time.monotonic()
    granted = await events.wait("floor.granted", participant=dmr_id)
    assert granted["source"] == "vox" and granted["_arrived"] - sent[0] < 0.3
    await events.wait("floor.released", participant=dmr_id, timeout=3.0)
    keyed = a.audio_arrivals()
    assert_keyed(a, keyed, PttType.NORMAL)
    blocks = steady_blocks(a, 900.0, sent[0] + 0.3, stopped)
    assert len(blocks) > 50
    # Every 20 ms of the steady part carries the tone: no gaps between the 60 ms packets.
    assert np.median(blocks) == pytest.approx(LEVEL, abs=1.5)
    assert np.mean(np.abs(blocks - LEVEL) < 3.0) > 0.95
    assert len(dmr.arrivals) == 0
    report(
        "VOX 60 ms",
        level_dbfs=float(np.median(blocks)),
        blocks_within_3db_pct=100 * float(np.mean(np.abs(blocks - LEVEL) < 3.0)),
    )
    close_all(a, dmr)


async def test_gateway_silent_for_period_times_multiplier_is_lost_and_loses_the_floor(
    server: ServerProcess, room: str, events: EventLog
) -> None:
    a, a_id = await gateway(server, room, "A", keepalive_period_ms=100, keepalive_multiplier=5)
    b, _ = await gateway(server, room, "B")
    await asyncio.sleep(0.3)
    a.squelch = True
    a.send_keepalive()  # SQU opens (a carrier without audio yet), and then A goes silent
    a.stop_keepalives()
    silent_since = time.monotonic()
    await events.wait("floor.granted", participant=a_id)
    lost = await events.wait("radio.lost", participant=a_id, timeout=3.0)
    lost_after = lost["_arrived"] - silent_since
    assert 0.5 <= lost_after < 0.5 + 1.5
    revoked = await events.wait("floor.revoked", participant=a_id)
    assert revoked["reason"] == "lost"
    assert floor_holder(server, room) is None
    entry = {e["id"]: e for e in server.roster(room)}[a_id]
    assert entry["lost"] is True and entry["squelch"] is False
    # B was keyed by A's (silent) carrier and is unkeyed as soon as A is lost.
    assert_keyed(b, audio_between(b, silent_since, revoked["_arrived"] - 0.03), PttType.NORMAL)
    unkey = next(k for k in b.keepalive_arrivals() if k.time > revoked["_arrived"] - 0.05)
    assert not unkey.ptt
    assert_unkeyed(b, unkey.time)

    a.squelch = False
    a.start_keepalives()
    back = time.monotonic()
    restored = await events.wait("radio.restored", participant=a_id)
    assert restored["_arrived"] - back < 0.3
    assert {e["id"]: e for e in server.roster(room)}[a_id]["lost"] is False
    assert floor_holder(server, room) is None  # SQU off in the keep-alives: no new talk
    report(
        "keep-alive loss",
        lost_after_ms=lost_after * 1000,
        restored_after_ms=(restored["_arrived"] - back) * 1000,
    )
    close_all(a, b)


# -- bad input ---------------------------------------------------------------------------------


# Extension bodies that cannot be read as ED-137B; the first three claim SQU open.
MALFORMED_BODIES = (
    b"\x10\x01\xff\x00",  # SQU, X: a vendor block of 15 bytes in a 4-byte body
    b"\x10\x01\x1f\x00\x00\x00\x00\x00",  # an SQI block running past the end
    b"\x10\x01" + b"\xb1\x00" * 17,  # 17 feature blocks, 16 allowed
    b"",  # the extension header says 0 words: no ED-137 word at all
)
NOT_RTP = (
    # X set, and an extension of 200 words in a packet that holds one
    b"\x90\x08\x00\x01" + bytes(8) + b"\x01\x67\x00\xc8" + b"\x10\x00\x00\x00",
    b"\x90\x08\x00",  # truncated RTP
    bytes(range(256)) * 2,  # not RTP at all
)


def send_garbage(radio: Ed137Gateway) -> int:
    """One of each malformed packet, as keep-alive and as audio; returns how many."""
    assert radio.negotiation is not None
    for body in MALFORMED_BODIES:
        radio.send_extension(body)
        radio.send_extension(body, b"\xd5" * 160, radio.negotiation.payload_type)
    for datagram in NOT_RTP:
        radio.send_raw(datagram)
    return 2 * len(MALFORMED_BODIES) + len(NOT_RTP)


async def test_malformed_extensions_are_dropped_and_unknown_feature_blocks_accepted(
    server: ServerProcess, room: str, events: EventLog
) -> None:
    a, a_id = await gateway(server, room, "A")
    b, _ = await gateway(server, room, "B")
    start = time.monotonic()
    garbage = 0
    for _ in range(25):
        garbage += send_garbage(a)
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)
    assert server.client.get("/api/v1/health").status_code == 200
    assert server.process.poll() is None
    assert floor_holder(server, room) is None  # an unreadable SQU bit keys nothing
    assert_unkeyed(b, start)
    stats = server.client.get(f"/api/v1/rooms/{room}/participants/{a_id}").json()["statistics"]
    assert stats["dropped_packets"] >= 0.9 * garbage

    # Reserved (7) and vendor (12, 15) feature blocks beside an SQI block: read past, kept.
    a.features = (
        FeatureBlock(1, bytes([9 << 3])),  # SQI: RSSI index 9
        FeatureBlock(7, b"\x01\x02\x03"),
        FeatureBlock(12, b"vendor-data"),
        FeatureBlock(15, b""),
    )
    talk = asyncio.ensure_future(a.transmit(tone_payloads(a, 1000.0, 1.0)))
    granted = await events.wait("floor.granted", participant=a_id)
    await asyncio.sleep(0.5)
    assert {e["id"]: e for e in server.roster(room)}[a_id]["rssi"] == 9
    sent = await talk
    await events.wait("floor.released", participant=a_id)
    assert granted["_arrived"] - sent[0] < 0.1
    assert_keyed(b, audio_between(b, start, float("inf")), PttType.NORMAL)
    assert level(b, 1000.0, sent[0] + 0.2, sent[-1]) == pytest.approx(LEVEL, abs=1.5)
    close_all(a, b)


async def test_flapping_squelch_is_reported_and_holds_no_floor(
    server: ServerProcess, room: str, events: EventLog
) -> None:
    a, a_id = await gateway(server, room, "A")
    b, _ = await gateway(server, room, "B")
    payloads = tone_payloads(a, 1000.0, 1.0)
    start = time.monotonic()
    for index, payload in enumerate(payloads):  # SQU toggles on every 20 ms packet
        await asyncio.sleep(max(0.0, start + index * 0.02 - time.monotonic()))
        a.squelch = index % 2 == 0
        a.send_payload(payload)
    a.squelch = False
    a.send_keepalive()
    flapping = await events.wait("radio.flapping", participant=a_id)
    assert flapping["_arrived"] - start < 0.4  # 11 changes within a second: after ~220 ms
    assert flapping["ignored_seconds"] == 2.0
    dropped = await events.wait("floor.revoked", participant=a_id)
    assert dropped["reason"] == "flapping"
    assert dropped["_arrived"] - flapping["_arrived"] < 0.05
    await asyncio.sleep(0.3)
    assert floor_holder(server, room) is None
    # B was keyed only until the flapping was found, then never again.
    assert_unkeyed(b, dropped["_arrived"] + 0.03)
    assert [kind for kind, _ in events.floor()] == ["floor.granted", "floor.revoked"]
    report("flapping", detected_after_ms=(flapping["_arrived"] - start) * 1000)
    close_all(a, b)


async def test_keepalive_flood_is_dropped_and_the_leg_still_works(
    server: ServerProcess, room: str, events: EventLog
) -> None:
    a, a_id = await gateway(server, room, "A")
    b, _ = await gateway(server, room, "B")
    for burst in range(20):  # 2000 keep-alives in 200 ms
        for _ in range(100):
            a.send_keepalive()
        await asyncio.sleep(0.01 if burst % 2 else 0)
    assert server.client.get("/api/v1/health").status_code == 200
    sent = await a.transmit(tone_payloads(a, 1000.0, 0.8))
    granted = await events.wait("floor.granted", participant=a_id)
    assert granted["_arrived"] - sent[0] < 0.1
    await events.wait("floor.released", participant=a_id)
    assert level(b, 1000.0, sent[0] + 0.2, sent[-1]) == pytest.approx(LEVEL, abs=1.5)
    assert_keyed(b, b.audio_arrivals(), PttType.NORMAL)
    entry = server.client.get(f"/api/v1/rooms/{room}/participants/{a_id}").json()
    assert entry["lost"] is False
    assert entry["statistics"]["keepalives_received"] < 500  # most of the flood went unread
    assert entry["statistics"]["dropped_packets"] > 1000
    close_all(a, b)


async def test_stuck_squelch_times_out_and_does_not_take_the_floor_back(
    server: ServerProcess, room: str, events: EventLog
) -> None:
    change = server.client.patch(f"/api/v1/rooms/{room}", json={"floor_timeout_s": 1})
    assert change.status_code == 200, change.text
    a, a_id = await gateway(server, room, "A")
    b, b_id = await gateway(server, room, "B")
    stuck = asyncio.ensure_future(a.transmit(tone_payloads(a, 1000.0, 3.0)))
    granted = await events.wait("floor.granted", participant=a_id)
    timeout = await events.wait("floor.timeout", participant=a_id, timeout=2.0)
    talk_ms = (timeout["_arrived"] - granted["_arrived"]) * 1000
    assert talk_ms == pytest.approx(1000, abs=60)
    assert timeout["held_ms"] == pytest.approx(1000, abs=30)
    # B: keyed until the time-out, then PTT off at once and no more of A.
    keyed = audio_between(b, 0.0, timeout["_arrived"] - 0.03)
    assert_keyed(b, keyed, PttType.NORMAL)
    unkey = next(k for k in b.keepalive_arrivals() if k.time > keyed[-1].time)
    assert not unkey.ptt and unkey.time - timeout["_arrived"] < 0.05
    await asyncio.sleep(0.8)  # A's squelch is still open
    assert floor_holder(server, room) is None
    assert events.of("floor.granted", participant=a_id) == [granted]
    assert_unkeyed(b, unkey.time)
    # The floor is free for others meanwhile ...
    sent = await b.transmit(tone_payloads(b, 1500.0, 0.4))
    await events.wait("floor.granted", participant=b_id)
    await events.wait("floor.released", participant=b_id)
    assert level(a, 1500.0, sent[0] + 0.1, sent[-1]) == pytest.approx(LEVEL, abs=1.5)
    await stuck
    # ... and A, once its squelch has closed, may talk again.
    again = time.monotonic()
    await a.transmit(tone_payloads(a, 1000.0, 0.4))
    await events.wait("floor.granted", since=again, participant=a_id)
    report(
        "talk time-out",
        timeout_after_grant_ms=talk_ms,
        unkey_after_timeout_ms=(unkey.time - timeout["_arrived"]) * 1000,
    )
    close_all(a, b)


async def test_two_gateways_keying_at_once_get_one_grant_and_one_denial(
    server: ServerProcess, room: str, events: EventLog
) -> None:
    a, a_id = await gateway(server, room, "A")
    b, b_id = await gateway(server, room, "B")
    v, _ = await plain(server, room, "V", radio="vox")
    tones = {a_id: 1000.0, b_id: 1500.0}
    await asyncio.gather(
        a.transmit(tone_payloads(a, tones[a_id], 1.0)),
        b.transmit(tone_payloads(b, tones[b_id], 1.0)),
    )
    granted = await events.wait("floor.granted")
    denied = await events.wait("floor.denied")
    await events.wait("floor.released")
    await asyncio.sleep(0.2)
    winner, loser = granted["participant"], denied["participant"]
    assert {winner, loser} == {a_id, b_id}
    assert denied["holder"] == winner and denied["reason"] == "busy"
    assert len(events.of("floor.granted")) == 1 and len(events.of("floor.denied")) == 1
    assert [kind for kind, _ in events.floor()] == [
        "floor.granted",
        "floor.denied",
        "floor.released",
    ]
    heard = v.decoded()
    assert tone_level_dbfs(heard, tones[winner], RATE) == pytest.approx(LEVEL, abs=2.0)
    assert tone_level_dbfs(heard, tones[loser], RATE) < SILENT
    radios = {a_id: a, b_id: b}
    assert radios[winner].audio_arrivals() == []
    assert_keyed(radios[loser], radios[loser].audio_arrivals(), PttType.NORMAL)
    close_all(a, b, v)


# -- ED-137 over SIP ---------------------------------------------------------------------------

needs_sipp = pytest.mark.skipif(
    not sipp_available(), reason="sipp (Debian sip-tester) is not installed"
)


def in_background(run: Any) -> tuple[threading.Thread, list[SippResult]]:
    results: list[SippResult] = []
    thread = threading.Thread(target=lambda: results.append(run()))
    thread.start()
    return thread, results


def wait_for_roster(server: ServerProcess, room: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        roster = server.roster(room)
        if roster:
            return roster[0]
        time.sleep(0.05)
    raise AssertionError(f"nobody joined {room}")


@needs_sipp
def test_radio_gateway_calls_in_over_sip_and_is_answered_as_a_radio(
    server: ServerProcess, room: str, tmp_path: Path
) -> None:
    thread, results = in_background(
        lambda: run_sipp(
            "uac_radio_call",
            f"127.0.0.1:{server.sip_port}",
            service=room,
            user=SIPP_USER,
            password=SIPP_PASSWORD,
            duration_ms=2000,
            trace_messages=True,
            workdir=tmp_path,
            timeout=20.0,
        )
    )
    entry = wait_for_roster(server, room)
    thread.join(30)
    assert results and results[0].ok, results[0].describe() if results else "no result"
    result = results[0]
    assert entry["kind"] == "radio" and entry["duplex"] == "half"
    assert entry["radio"] == "ed137" and entry["radio_type"] == "Radio-TxRx"
    assert entry["codec"] == "PCMA/8000"
    # The scenario already failed the call unless the 200 was a radio answer; the log shows it.
    logged = "\n".join(result.log_lines)
    for line in ("WG67-Version: radio.01", "type: a=type:Radio-TxRx", "R2S/8000"):
        assert line in logged, logged
    assert result.messages_log is not None
    ok = _message(result.messages_log.read_text(), "SIP/2.0 200", "INVITE")
    assert re.search(r"^WG67-Version: radio\.01", ok, re.M | re.I), ok
    assert "a=R2S-KeepAlivePeriod:200" in ok and "a=R2S-KeepAliveMultiplier:10" in ok
    assert server.roster(room) == []  # the BYE took it out


def _message(log: str, start: str, cseq_method: str) -> str:
    """The first message in a sipp -trace_msg log that starts with `start` and is about
    `cseq_method` (its CSeq line)."""
    for block in re.split(r"\n-{5,}[^\n]*\n", log):
        text = block.strip()
        first = next((i for i, line in enumerate(text.splitlines()) if line.startswith(start)), -1)
        if first < 0:
            continue
        message = "\n".join(text.splitlines()[first:])
        if re.search(rf"^CSeq:\s*\d+ {cseq_method}", message, re.M | re.I):
            return message
    raise AssertionError(f"no {start} for {cseq_method} in the sipp message log")


INVITE_CHECKS = (
    "INVITE Subject: radio",
    "INVITE WG67-Version: radio.01",
    "INVITE type: a=type:Radio-TxRx",
    "INVITE txrxmode: a=txrxmode:TxRx",
    "INVITE rtpmap: a=rtpmap:123 R2S/8000",
)


@needs_sipp
async def test_server_dials_a_radio_gateway_with_radio_headers_and_sdp(
    server: ServerProcess, room: str, events: EventLog, tmp_path: Path
) -> None:
    radio = start_sipp(
        "uas_radio_answer", workdir=tmp_path, calls=1, timeout=20.0, trace_messages=True
    )
    response = server.client.post(
        f"/api/v1/rooms/{room}/dial",
        json={"uri": f"sip:radio@127.0.0.1:{radio.local_port}", "name": "GRS", "radio": "txrx"},
    )
    assert response.status_code == 201, response.text
    participant = response.json()["id"]
    await events.wait("call.answered", timeout=10)
    entry = {e["id"]: e for e in server.roster(room)}[participant]
    assert entry["kind"] == "radio" and entry["duplex"] == "half"
    assert entry["radio"] == "ed137" and entry["radio_type"] == "Radio-TxRx"
    assert entry["call_state"] == "confirmed"
    kick = server.client.delete(f"/api/v1/rooms/{room}/participants/{participant}")
    assert kick.status_code == 204
    result = await asyncio.to_thread(radio.wait, 15)
    assert result.ok, result.describe()
    for line in INVITE_CHECKS:
        assert line in result.log_lines, result.log_lines
    assert result.messages_log is not None
    invite = _message(result.messages_log.read_text(), "INVITE sip:", "INVITE")
    assert re.search(r"^Subject:\s*radio\s*$", invite, re.M | re.I), invite
    assert re.search(r"^WG67-Version:\s*radio\.01", invite, re.M | re.I), invite
    assert "a=R2S-KeepAlivePeriod:" in invite and "a=R2S-KeepAliveMultiplier:" in invite


@needs_sipp
def test_configured_radio_gateway_is_called_at_start_and_again_after_it_hangs_up(
    tmp_path: Path,
) -> None:
    radio = start_sipp(
        "uas_radio_hangup", workdir=tmp_path / "sipp", calls=2, duration_ms=1000, timeout=25.0
    )
    config = f"""
[[rooms]]
name = "tower"

[[radio.gateways]]
name = "grs-1"
uri = "sip:radio@127.0.0.1:{radio.local_port}"
room = "tower"
mode = "txrx"
priority = 2
"""
    started = time.monotonic()
    (tmp_path / "server").mkdir()
    server = ServerProcess(tmp_path / "server", config=config)
    try:
        entry = wait_for_roster(server, "tower")
        assert entry["kind"] == "radio" and entry["name"] == "grs-1"
        assert entry["priority"] == 2 and entry["duplex"] == "half"
        result = radio.wait(25)
        took = time.monotonic() - started
        assert result.ok and result.successful == 2, result.describe()
        assert result.log_lines.count("INVITE Subject: radio") == 2
        status = server.client.get("/api/v1/registrations").json()["radio_gateways"]
        assert status[0]["gateway"] == "grs-1" and status[0]["attempts"] >= 2
        report("gateway redial", two_calls_s=took)
    finally:
        radio.stop()
        server.stop()
