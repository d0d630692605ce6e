"""Recording rooms that run in media workers, end to end: RTP legs send distinct tones into a
room spanning two workers, the recording written by the home shard's worker is measured track
by track and verified; a room that says `record` records from its start; a worker killed with
-9 leaves a recording that the server recovers and continues once the room is back; SIGTERM
seals what the workers still record.

The server runs two workers and grows a shard once a room holds two legs on one, so the third
leg of a room lands on the other worker and reaches the recording over the cascade link."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import websockets

from bench.rtppeer import RtpPeer
from mediacore.audio import tone_level_dbfs
from mediacore.codecs import G722, PCMA, PCMU
from mediacore.codecs.base import CodecInfo
from recorder.verify import verify_recording
from tests.e2e.server import ServerProcess
from tests.e2e.test_recording import tone

pytestmark = pytest.mark.slow

SERVER_ENV = {
    "MEDIACORE_RTP_TIMEOUT": "5",
    "MEDIACORE_SERVER_WORKERS": "2",
    "MEDIACORE_SERVER_MAX_LEGS_PER_SHARD": "2",
}
CONFIG = """
[[rooms]]
name = "watch"
record = true
"""
# Two legs on the home shard, the third on the other worker's shard.
TONES: list[tuple[CodecInfo, float]] = [(PCMU, 440.0), (G722, 1000.0), (PCMA, 1700.0)]
SECONDS = 3.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = Path(tmp_path_factory.mktemp("recording-in-workers"))
    process = ServerProcess(folder, config=CONFIG, **SERVER_ENV)
    yield process
    assert process.stop() == 0, process.log_path.read_text()


def read_track(directory: Path, manifest: dict[str, Any], track_id: str) -> tuple[np.ndarray, int]:
    entry = next(t for t in manifest["tracks"] if t["id"] == track_id)
    with wave.open(str(directory / entry["file"])) as wav:
        frames = wav.readframes(wav.getnframes())
        return np.frombuffer(frames, "<i2").astype(np.float32) / 32768.0, wav.getframerate()


async def join(server: ServerProcess, room: str, codec: CodecInfo, name: str) -> RtpPeer:
    peer = RtpPeer(codec)
    await peer.open()
    _, answer = server.join(room, peer.make_offer(), name=name)
    peer.accept(answer)
    return peer


async def collect(url: str, into: list[dict[str, Any]], ready: asyncio.Event) -> None:
    async with websockets.connect(url) as events:
        ready.set()
        async for message in events:
            into.append(json.loads(message))


@pytest.fixture(scope="module")
def recorded(server: ServerProcess) -> dict[str, Any]:
    """Room "tones" spanning both workers, three tone legs, recorded for SECONDS."""
    assert server.client.post("/api/v1/rooms", json={"name": "tones"}).status_code == 201
    events: list[dict[str, Any]] = []

    async def record() -> str:
        ready = asyncio.Event()
        listening = asyncio.ensure_future(collect(server.events_url("tones"), events, ready))
        await asyncio.wait_for(ready.wait(), 5)
        peers = [await join(server, "tones", c, f"tone-{int(f)}") for c, f in TONES]
        response = server.client.post("/api/v1/rooms/tones/recordings")
        assert response.status_code == 201, response.text
        recording = str(response.json()["id"])
        await asyncio.gather(
            *(
                p.play(p.packetize(tone(p.codec, f, SECONDS)))
                for p, (_, f) in zip(peers, TONES, strict=True)
            )
        )
        await asyncio.sleep(0.2)
        stopped = server.client.post(f"/api/v1/recordings/{recording}/stop")
        assert stopped.status_code == 200, stopped.text
        await asyncio.sleep(0.5)  # an event sent twice would be here by now
        listening.cancel()
        for peer in peers:
            peer.close()
        return recording

    recording = asyncio.run(record())
    roster = server.roster("tones")
    manifest = server.client.get(f"/api/v1/recordings/{recording}").json()
    server.client.delete("/api/v1/rooms/tones")
    return {
        "id": recording,
        "manifest": manifest,
        "roster": roster,
        "events": events,
        "dir": server.data_dir / "recordings" / recording,
    }


def test_the_room_spans_two_workers_and_each_leg_has_its_own_track(
    recorded: dict[str, Any],
) -> None:
    manifest, directory, roster = recorded["manifest"], recorded["dir"], recorded["roster"]
    assert len({entry["worker"] for entry in roster}) == 2, roster
    assert manifest["state"] == "stopped"
    names = {p["id"]: p["name"] for p in manifest["participants"]}
    assert sorted(names.values()) == ["tone-1000", "tone-1700", "tone-440"]
    native = [
        t for t in manifest["tracks"] if t["kind"] == "participant" and "derived_from" not in t
    ]
    assert sorted(names[t["participant"]] for t in native) == sorted(names.values())
    for entry in native:
        frequency = float(names[entry["participant"]].split("-")[1])
        pcm, rate = read_track(directory, manifest, entry["id"])
        # The remote talker's track starts with its first word: measure the steady middle.
        steady = pcm[int(0.6 * rate) : int(len(pcm) - 0.6 * rate)]
        assert len(steady) > rate, (entry["id"], len(pcm) / rate)
        assert tone_level_dbfs(steady, frequency, rate) > -16.0, entry["id"]
        for other in {440.0, 1000.0, 1700.0} - {frequency}:
            assert tone_level_dbfs(steady, other, rate) < -45.0, (entry["id"], other)


def test_the_home_shards_mix_holds_every_talker_of_the_room(recorded: dict[str, Any]) -> None:
    manifest, directory = recorded["manifest"], recorded["dir"]
    mix, rate = read_track(directory, manifest, "mix")
    assert rate == 48000
    steady = mix[int(0.8 * rate) : int((SECONDS - 0.5) * rate)]
    for frequency in (440.0, 1000.0, 1700.0):
        assert tone_level_dbfs(steady, frequency, rate) > -20.0, frequency


def test_a_recording_written_in_a_worker_verifies(
    server: ServerProcess, recorded: dict[str, Any]
) -> None:
    report = server.client.get(f"/api/v1/recordings/{recorded['id']}/verify").json()
    assert report == {"ok": True, "problems": []}
    assert verify_recording(recorded["dir"]).ok
    found = server.client.get("/api/v1/recordings", params={"participant": "tone-1700"}).json()
    assert recorded["id"] in [r["id"] for r in found]  # indexed by control


def test_other_shards_events_reach_the_timeline_and_recording_events_come_once(
    recorded: dict[str, Any],
) -> None:
    manifest = recorded["manifest"]
    remote = next(p["id"] for p in manifest["participants"] if p["name"] == "tone-1700")
    timeline = manifest["timeline"]
    present = {e["participant"] for e in timeline if e["type"] == "participant.present"}
    assert len(present) == 3 and remote in present
    spurts = {e["participant"] for e in timeline if e["type"] == "talking" and e["talking"]}
    assert spurts == present
    kinds = [e["type"] for e in recorded["events"] if e["type"].startswith("recording.")]
    assert kinds == ["recording.started", "recording.stopped"], kinds


def test_a_room_that_says_record_records_in_its_worker(server: ServerProcess) -> None:
    (watch,) = server.client.get("/api/v1/recordings", params={"room": "watch"}).json()
    assert watch["state"] == "recording"
    created = server.client.post("/api/v1/rooms", json={"name": "late", "record": True})
    assert created.status_code == 201, created.text
    deadline = time.monotonic() + 3.0
    found: list[dict[str, Any]] = []
    while not found and time.monotonic() < deadline:
        found = server.client.get("/api/v1/recordings", params={"room": "late"}).json()
        time.sleep(0.05)
    assert [r["state"] for r in found] == ["recording"]
    live = server.client.get("/api/v1/rooms/late/recordings").json()["recording"]
    assert live["id"] == found[0]["id"]
    assert server.client.delete("/api/v1/rooms/late").status_code == 204
    deadline = time.monotonic() + 5.0
    manifest: dict[str, Any] = {}
    while manifest.get("state") != "stopped" and time.monotonic() < deadline:
        time.sleep(0.1)
        manifest = server.client.get(f"/api/v1/recordings/{live['id']}").json()
    assert manifest["state"] == "stopped" and manifest["stop_reason"] == "room-closed"
    report = server.client.get(f"/api/v1/recordings/{live['id']}/verify").json()
    assert report == {"ok": True, "problems": []}


def wait_for(check: Any, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    return None


def test_a_killed_workers_recording_is_recovered_and_continued_then_sigterm_seals_it(
    tmp_path: Path,
) -> None:
    server = ServerProcess(tmp_path, **SERVER_ENV)
    try:
        assert server.client.post("/api/v1/rooms", json={"name": "doomed"}).status_code == 201
        worker = server.client.get("/api/v1/rooms/doomed").json()["shards"][0]["worker"]
        victim = next(w for w in server.workers_status() if w["id"] == worker)

        async def talk() -> str:
            peer = await join(server, "doomed", PCMU, "survivor")
            started = server.client.post("/api/v1/rooms/doomed/recordings")
            assert started.status_code == 201, started.text
            await peer.play(peer.packetize(tone(PCMU, 440.0, 2.5)))
            peer.close()
            return str(started.json()["id"])

        old = asyncio.run(talk())
        os.kill(victim["pid"], signal.SIGKILL)

        def continued() -> dict[str, Any] | None:
            found = server.client.get("/api/v1/recordings", params={"room": "doomed"}).json()
            return next((r for r in found if r["id"] != old and r["state"] == "recording"), None)

        new = wait_for(continued, 10.0)
        assert new is not None, "no recording continues the lost one"

        def marked() -> dict[str, Any] | None:
            manifest = dict(server.client.get(f"/api/v1/recordings/{old}").json())
            return manifest if "continued_by" in manifest else None

        recovered = wait_for(marked, 3.0)  # sealed again, just after the new one started
        assert recovered["state"] == "recovered" and recovered["continued_by"] == new["id"]
        report = server.client.get(f"/api/v1/recordings/{old}/verify").json()
        assert report == {"ok": True, "problems": []}
        track = next(t for t in recovered["tracks"] if t["rate"] == 8000)
        assert track["data_bytes"] / 2 / 8000 > 2.5 - 1.0  # at most the last second lost
        live = server.client.get(f"/api/v1/recordings/{new['id']}").json()
        assert live["state"] == "recording" and live["continues"] == old
        time.sleep(1.2)  # a second of the continuing recording on disk
    finally:
        assert server.stop() == 0, server.log_path.read_text()
    directory = tmp_path / "recordings" / new["id"]
    sealed = json.loads((directory / "manifest.json").read_text())
    assert sealed["state"] == "stopped" and sealed["stop_reason"] == "server-stopping"
    assert sealed["continues"] == old
    assert verify_recording(directory).ok
