"""Moving participants between rooms (动态重组), measured with real RTP legs by tone, in both
modes: rooms on two different media workers, and rooms in the server process.

A moved leg keeps its participant id and its RTP socket: after the move it hears the new
room's talker and no longer the old room's, the new room hears it and the old one does not,
and the RTP it receives goes on without a timestamp jump backwards."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import websockets

from bench.rtppeer import RtpPeer
from mediacore.audio import tone_level_dbfs
from mediacore.codecs import PCMU, registry
from tests.e2e.server import ServerProcess
from tests.e2e.test_rtp_legs import LEVEL, SILENT, heard, joined, tone_payloads

pytestmark = pytest.mark.slow

log = logging.getLogger(__name__)

CONFIG = """
[[auth.tokens]]
token = "expert-token-for-move-tests"
role = "expert"
"""
EXPERT = "expert-token-for-move-tests"
TICK = 0.020


@pytest.fixture(scope="module", params=[2, 0], ids=["workers", "single-process"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    folder = Path(tmp_path_factory.mktemp(f"move-{request.param}"))
    process = ServerProcess(folder, config=CONFIG, workers=request.param, MEDIACORE_RTP_TIMEOUT="5")
    yield process
    assert process.stop() == 0, process.log_path.read_text()


def open_room(server: ServerProcess, name: str, **settings: Any) -> str:
    response = server.client.post("/api/v1/rooms", json={"name": name, **settings})
    assert response.status_code == 201, response.text
    return name


def move(server: ServerProcess, room: str, participant: str, to: str) -> httpx.Response:
    return server.client.post(
        f"/api/v1/rooms/{room}/participants/{participant}/move", json={"to": to}
    )


def silence(peer: RtpPeer, seconds: float) -> list[bytes]:
    return peer.packetize(np.zeros(int(8000 * seconds), dtype=np.float32))


def first_packet_with(peer: RtpPeer, frequency: float, since: float) -> float | None:
    """The arrival time of the first packet after `since` that carries `frequency` at the test
    tone's level (within 6 dB): one packet is one tick."""
    decoder = registry.new_decoder(peer.codec)
    for arrival in peer.arrivals:
        pcm = decoder.decode(arrival.payload)
        if arrival.time < since:
            continue
        if tone_level_dbfs(pcm, frequency, peer.codec.sample_rate) > LEVEL - 6.0:
            return arrival.time
    return None


def timestamps_go_forward(peer: RtpPeer) -> bool:
    steps = [
        (b.timestamp - a.timestamp) % 2**32
        for a, b in zip(peer.arrivals, peer.arrivals[1:], strict=False)
    ]
    return all(0 < step < 2**31 for step in steps)


async def test_a_moved_leg_hears_its_new_room_at_once_and_its_old_room_no_more(
    server: ServerProcess,
) -> None:
    alpha = open_room(server, f"alpha-{server.workers}")
    bravo = open_room(server, f"bravo-{server.workers}")
    if server.workers:  # placed on the least-loaded worker each: two different ones
        placed = [server.client.get(f"/api/v1/rooms/{r}").json() for r in (alpha, bravo)]
        assert placed[0]["shards"][0]["worker"] != placed[1]["shards"][0]["worker"]
    mover, mover_id = await joined(server, alpha, PCMU, "mover")
    talker_a, _ = await joined(server, alpha, PCMU, "talker-a")
    talker_b, _ = await joined(server, bravo, PCMU, "talker-b")
    ear_b, _ = await joined(server, bravo, PCMU, "ear-b")
    seen: list[dict[str, Any]] = []
    async with websockets.connect(server.events_url()) as events:
        start = time.monotonic()
        plays = asyncio.gather(
            mover.play(tone_payloads(mover, 1000.0, 4.0)),
            talker_a.play(tone_payloads(talker_a, 600.0, 4.0)),
            talker_b.play(tone_payloads(talker_b, 1400.0, 4.0)),
            ear_b.play(silence(ear_b, 4.0)),
        )
        await asyncio.sleep(2.0)
        sent = time.monotonic()
        moved = await asyncio.to_thread(move, server, alpha, mover_id, bravo)
        done = time.monotonic()
        await plays
        end = time.monotonic()
        while len([e for e in seen if e["type"] == "participant.moved"]) < 2:
            seen.append(json.loads(await asyncio.wait_for(events.recv(), 5)))
    assert moved.status_code == 200, moved.text
    entry = moved.json()
    assert (entry["id"], entry["room"], entry["name"]) == (mover_id, bravo, "mover")

    def window(peer: RtpPeer, frequency: float, since: float, until: float) -> float:
        decoder = registry.new_decoder(peer.codec)
        parts = [(a.time, decoder.decode(a.payload)) for a in peer.arrivals]
        kept = [pcm for at, pcm in parts if since <= at <= until]
        return tone_level_dbfs(np.concatenate(kept), frequency, peer.codec.sample_rate)

    before, after = (start + 0.6, sent - 0.1), (done + 0.3, end - 0.1)
    assert window(mover, 600.0, *before) == pytest.approx(LEVEL, abs=2.5)
    assert window(mover, 1400.0, *before) < SILENT
    assert window(talker_a, 1000.0, *before) == pytest.approx(LEVEL, abs=2.5)
    assert window(ear_b, 1000.0, *before) < SILENT
    assert window(mover, 1400.0, *after) == pytest.approx(LEVEL, abs=2.5)
    assert window(mover, 600.0, *after) < SILENT
    assert window(ear_b, 1000.0, *after) == pytest.approx(LEVEL, abs=2.5)
    assert window(talker_b, 1000.0, *after) == pytest.approx(LEVEL, abs=2.5)
    assert window(talker_a, 1000.0, *after) < SILENT
    # How fast: the first tick of the new room's mix reaching the leg, counted from the
    # request (HTTP and, in worker mode, the control channel included).
    first = first_packet_with(mover, 1400.0, sent)
    assert first is not None
    ticks = (first - sent) / TICK
    log.warning(
        "move took effect %.1f ticks after the request (%.1f ms the request took, %s)",
        ticks,
        (done - sent) * 1000,
        "workers" if server.workers else "single process",
    )
    assert first - done < 10 * TICK  # once answered, within a few ticks at most (noisy VM)
    assert timestamps_go_forward(mover)
    # Same participant, same leg: in the new roster, gone from the old one.
    assert [p["id"] for p in server.roster(bravo) if p["name"] == "mover"] == [mover_id]
    assert mover_id not in {p["id"] for p in server.roster(alpha)}
    if server.workers:  # the leg stays in its worker: bravo grew a shard there
        shards = server.client.get(f"/api/v1/rooms/{bravo}").json()["shards"]
        assert len(shards) == 2
        by_id = {p["id"]: p for p in server.roster(bravo)}
        assert by_id[mover_id]["worker"] == placed[0]["shards"][0]["worker"]
    left = next(e for e in seen if e["type"] == "participant.left")
    assert (left["room"], left["participant"], left["reason"], left["to"]) == (
        alpha,
        mover_id,
        "moved",
        bravo,
    )
    joined_event = next(
        e for e in seen if e["type"] == "participant.joined" and e["participant"]["id"] == mover_id
    )
    assert (joined_event["room"], joined_event["from"]) == (bravo, alpha)
    moves = [e for e in seen if e["type"] == "participant.moved"]
    assert {e["room"] for e in moves} == {alpha, bravo}
    assert all((e["from"], e["to"], e["participant"]) == (alpha, bravo, mover_id) for e in moves)
    # Moved back: the room it came from hears it again.
    back = move(server, bravo, mover_id, alpha)
    assert back.status_code == 200, back.text
    steady = time.monotonic() + 0.4
    await asyncio.gather(
        mover.play(tone_payloads(mover, 1000.0, 1.2)),
        talker_a.play(silence(talker_a, 1.2)),
    )
    assert heard(talker_a, 1000.0, steady) == pytest.approx(LEVEL, abs=2.5)
    for peer in (mover, talker_a, talker_b, ear_b):
        peer.close()
    for name in (alpha, bravo):
        server.client.delete(f"/api/v1/rooms/{name}")


async def test_a_radio_leg_moved_follows_the_floor_of_its_new_room(server: ServerProcess) -> None:
    """A VOX radio hears only its room's floor holder: after the move, the new room's."""
    alpha = open_room(server, f"radio-a-{server.workers}")
    bravo = open_room(server, f"radio-b-{server.workers}")
    radio, radio_id = await joined(server, alpha, PCMU, "radio", radio="vox")
    holder_a, holder_a_id = await joined(server, alpha, PCMU, "holder-a", duplex="half")
    holder_b, holder_b_id = await joined(server, bravo, PCMU, "holder-b", duplex="half")
    for room, holder in ((alpha, holder_a_id), (bravo, holder_b_id)):
        granted = server.client.post(
            f"/api/v1/rooms/{room}/floor", json={"participant": holder, "action": "request"}
        )
        assert granted.json()["result"] == "granted", granted.text
    start = time.monotonic()
    plays = asyncio.gather(
        radio.play(silence(radio, 3.0)),
        holder_a.play(tone_payloads(holder_a, 700.0, 3.0)),
        holder_b.play(tone_payloads(holder_b, 1300.0, 3.0)),
    )
    await asyncio.sleep(1.4)
    moved = await asyncio.to_thread(move, server, alpha, radio_id, bravo)
    done = time.monotonic()
    await plays
    assert moved.status_code == 200, moved.text
    assert moved.json()["duplex"] == "half"
    decoder = registry.new_decoder(radio.codec)
    parts = [(a.time, decoder.decode(a.payload)) for a in radio.arrivals]
    before = np.concatenate([pcm for at, pcm in parts if start + 0.5 <= at <= done - 0.5])
    after = np.concatenate([pcm for at, pcm in parts if at >= done + 0.3])
    assert tone_level_dbfs(before, 700.0, 8000) == pytest.approx(LEVEL, abs=2.5)
    assert tone_level_dbfs(before, 1300.0, 8000) < SILENT
    assert tone_level_dbfs(after, 1300.0, 8000) == pytest.approx(LEVEL, abs=2.5)
    assert tone_level_dbfs(after, 700.0, 8000) < SILENT
    for peer in (radio, holder_a, holder_b):
        peer.close()
    for name in (alpha, bravo):
        server.client.delete(f"/api/v1/rooms/{name}")


async def test_bad_moves_get_clear_errors(server: ServerProcess) -> None:
    alpha = open_room(server, f"bad-a-{server.workers}")
    full = open_room(server, f"bad-full-{server.workers}", max_participants=1)
    wide = open_room(server, f"bad-wide-{server.workers}", rate=16000)
    leg, leg_id = await joined(server, alpha, PCMU, "leg")
    occupant, _ = await joined(server, full, PCMU, "occupant")
    cases = [
        (alpha, leg_id, "nowhere", 404, "room-not-found"),
        ("nowhere", leg_id, alpha, 404, "room-not-found"),
        (alpha, "p-0000000000", full, 404, "participant-not-found"),
        (alpha, leg_id, alpha, 409, "same-room"),
        (alpha, leg_id, full, 409, "room-full"),
        (alpha, leg_id, wide, 409, "room-format"),
    ]
    for room, participant, to, status, code in cases:
        answer = move(server, room, participant, to)
        assert (answer.status_code, answer.json()["error"]) == (status, code), (to, answer.text)
        assert answer.json()["detail"]
    refused = server.client.post(
        f"/api/v1/rooms/{alpha}/participants/{leg_id}/move",
        json={"to": full},
        headers={"Authorization": f"Bearer {EXPERT}"},
    )
    assert refused.status_code == 403, refused.text
    malformed = server.client.post(
        f"/api/v1/rooms/{alpha}/participants/{leg_id}/move", json={"into": full}
    )
    assert malformed.status_code in (400, 422), malformed.text
    # An announcement plays into its one room: it may not move.
    played = server.client.post(
        f"/api/v1/rooms/{alpha}/announcements", json={"text": "one two three", "lang": "en"}
    )
    assert played.status_code in (201, 503), played.text  # 503: no espeak-ng here
    if played.status_code == 201:
        free = open_room(server, f"bad-free-{server.workers}")
        answer = move(server, alpha, played.json()["id"], free)
        server.client.delete(f"/api/v1/rooms/{free}")
        assert (answer.status_code, answer.json()["error"]) == (409, "not-movable"), answer.text
    # Nothing moved: the leg is where it was.
    assert leg_id in {p["id"] for p in server.roster(alpha)}
    for peer in (leg, occupant):
        peer.close()
    for name in (alpha, full, wide):
        server.client.delete(f"/api/v1/rooms/{name}")


async def test_both_rooms_recordings_show_the_move_in_their_timelines(
    server: ServerProcess,
) -> None:
    alpha = open_room(server, f"rec-a-{server.workers}", record=True)
    bravo = open_room(server, f"rec-b-{server.workers}", record=True)
    recordings = {}
    for name in (alpha, bravo):  # rooms that say record start their recording at once
        deadline = time.monotonic() + 5.0
        while not (found := server.client.get("/api/v1/recordings", params={"room": name}).json()):
            assert time.monotonic() < deadline, f"{name} is not recording"
            await asyncio.sleep(0.05)
        recordings[name] = found[0]["id"]
    leg, leg_id = await joined(server, alpha, PCMU, "mover")
    await leg.play(tone_payloads(leg, 800.0, 0.6))
    assert move(server, alpha, leg_id, bravo).status_code == 200
    await leg.play(tone_payloads(leg, 800.0, 0.6))
    leg.close()
    for name in (alpha, bravo):
        assert server.client.delete(f"/api/v1/rooms/{name}").status_code == 204
    for name, other in ((alpha, bravo), (bravo, alpha)):
        manifest: dict[str, Any] = {}
        deadline = time.monotonic() + 10.0
        while manifest.get("state") != "stopped" and time.monotonic() < deadline:
            manifest = server.client.get(f"/api/v1/recordings/{recordings[name]}").json()
            await asyncio.sleep(0.1)
        assert manifest.get("state") == "stopped", manifest
        moves = [e for e in manifest["timeline"] if e["type"] == "participant.moved"]
        assert [(e["participant"], e["from"], e["to"]) for e in moves] == [
            (leg_id, alpha, bravo)
        ], (name, other)
        assert leg_id in {p["id"] for p in manifest["participants"]}
