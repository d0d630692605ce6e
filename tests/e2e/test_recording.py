"""Recording a room end to end: RTP legs send distinct tones, the recording is measured track by
track, verified, tampered with, killed with -9 and recovered, played with Range and exported."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest

from bench.rtppeer import RtpPeer
from mediacore.audio import tone_level_dbfs
from mediacore.codecs import G722, PCMA, PCMU
from mediacore.codecs.base import CodecInfo
from recorder.verify import verify_recording
from tests.e2e.server import TOKEN, ServerProcess

pytestmark = pytest.mark.slow

CONFIG = """
[[auth.tokens]]
token = "reviewer-token-for-tests"
role = "reviewer"

[[auth.tokens]]
token = "expert-token-for-tests"
role = "expert"
"""
TONES: list[tuple[CodecInfo, float]] = [(PCMU, 440.0), (G722, 1000.0), (PCMA, 1700.0)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(Path(tmp_path_factory.mktemp("recording")), config=CONFIG)
    yield process
    assert process.stop() == 0, process.log_path.read_text()


def tone(codec: CodecInfo, frequency: float, seconds: float, start: float = 0.0) -> np.ndarray:
    """`seconds` of audio at the codec's rate: silence until `start`, then the tone."""
    rate = codec.sample_rate
    t = np.arange(int(rate * seconds)) / rate
    signal_ = (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)
    signal_[: int(rate * start)] = 0.0
    return signal_


async def legs(server: ServerProcess, room: str) -> list[RtpPeer]:
    peers = []
    for codec, frequency in TONES:
        peer = RtpPeer(codec)
        await peer.open()
        _, answer = server.join(room, peer.make_offer(), name=f"tone-{int(frequency)}")
        peer.accept(answer)
        peers.append(peer)
    return peers


def read_track(directory: Path, manifest: dict[str, Any], track_id: str) -> tuple[np.ndarray, int]:
    entry = next(t for t in manifest["tracks"] if t["id"] == track_id)
    with wave.open(str(directory / entry["file"])) as wav:
        frames = wav.readframes(wav.getnframes())
        return np.frombuffer(frames, "<i2").astype(np.float32) / 32768.0, wav.getframerate()


def utc(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@pytest.fixture(scope="module")
def recorded(server: ServerProcess) -> dict[str, Any]:
    """One room of three tone legs, recorded for 3 s, the third second after an onset."""
    server.client.post("/api/v1/rooms", json={"name": "tones"})

    async def join() -> list[RtpPeer]:
        return await legs(server, "tones")

    loop = asyncio.new_event_loop()
    peers = loop.run_until_complete(join())
    asyncio.set_event_loop(loop)
    response = server.client.post("/api/v1/rooms/tones/recordings")
    assert response.status_code == 201, response.text
    recording = response.json()["id"]
    began = time.time()
    onset = 1.0  # the tones start one second into the playing: their onset is timed
    loop.run_until_complete(
        asyncio.gather(
            *(
                p.play(p.packetize(tone(p.codec, f, 3.0, onset)))
                for p, (_, f) in zip(peers, TONES, strict=True)
            )
        )
    )
    time.sleep(0.3)
    stopped = server.client.post(f"/api/v1/recordings/{recording}/stop")
    assert stopped.status_code == 200, stopped.text
    for peer in peers:
        peer.close()
    loop.close()
    manifest = server.client.get(f"/api/v1/recordings/{recording}").json()
    directory = server.data_dir / "recordings" / recording
    return {"id": recording, "manifest": manifest, "onset": began + onset, "dir": directory}


def test_each_leg_has_its_own_track_and_the_mix_has_all(recorded: dict[str, Any]) -> None:
    manifest, directory = recorded["manifest"], recorded["dir"]
    assert manifest["state"] == "stopped"
    names = {p["id"]: p["name"] for p in manifest["participants"]}
    assert sorted(names.values()) == ["tone-1000", "tone-1700", "tone-440"]
    length = utc(manifest["stopped_at"]) - utc(manifest["started_at"])
    native = {t["participant"]: t for t in manifest["tracks"] if t["kind"] == "participant"
              and "derived_from" not in t}  # fmt: skip
    assert {t["rate"] for t in native.values()} == {8000, 16000}
    for participant, entry in native.items():
        frequency = float(names[participant].split("-")[1])
        for track_id in (entry["id"], f"{participant}-48000"):
            pcm, rate = read_track(directory, manifest, track_id)
            assert abs(len(pcm) / rate - length) < 0.3, (track_id, len(pcm) / rate, length)
            steady = pcm[int(1.6 * rate) : int(2.8 * rate)]
            assert tone_level_dbfs(steady, frequency, rate) > -16.0, track_id
            for other in {440.0, 1000.0, 1700.0} - {frequency}:
                assert tone_level_dbfs(steady, other, rate) < -50.0, (track_id, other)
    mix, rate = read_track(directory, manifest, "mix")
    assert rate == 48000
    steady = mix[int(1.6 * rate) : int(2.8 * rate)]
    for frequency in (440.0, 1000.0, 1700.0):
        assert tone_level_dbfs(steady, frequency, rate) > -20.0, frequency


def test_track_times_match_the_send_times(recorded: dict[str, Any]) -> None:
    """A tone's onset in a track lies where the track's UTC start says it should."""
    manifest, directory = recorded["manifest"], recorded["dir"]
    for entry in manifest["tracks"]:
        if entry["kind"] != "participant" or "derived_from" in entry:
            continue
        pcm, rate = read_track(directory, manifest, entry["id"])
        block = rate // 100
        levels = [
            np.sqrt(np.mean(pcm[i : i + block] ** 2)) for i in range(0, len(pcm) - block, block)
        ]
        first = next(i for i, level in enumerate(levels) if level > 0.05)
        heard_at = utc(entry["started_at"]) + first * block / rate
        # Sent at `onset`; it spends a jitter buffer and up to one tick in the server.
        assert 0.0 <= heard_at - recorded["onset"] < 0.15, (
            entry["id"],
            heard_at - recorded["onset"],
        )


def test_timeline_has_presence_and_talk_spurts(recorded: dict[str, Any]) -> None:
    events = recorded["manifest"]["timeline"]
    present = {e["participant"] for e in events if e["type"] == "participant.present"}
    assert len(present) == 3
    spurts = [e for e in events if e["type"] == "talking" and e["talking"]]
    assert {e["participant"] for e in spurts} == present
    assert all(e["at"].endswith("Z") for e in events)


def test_verify_is_ok_then_names_the_tampered_segment(
    server: ServerProcess, recorded: dict[str, Any], tmp_path: Path
) -> None:
    recording, directory = recorded["id"], recorded["dir"]
    assert server.client.get(f"/api/v1/recordings/{recording}/verify").json() == {
        "ok": True,
        "problems": [],
    }
    assert (
        cli("recordings", "verify", recording, "--data-dir", str(server.data_dir)).returncode == 0
    )
    # Tamper a copy, so the module's recording stays good for the other tests.
    copy = server.data_dir / "recordings" / (recording + "-copy")
    subprocess.run(["cp", "-r", str(directory), str(copy)], check=True)
    mix = copy / "mix.wav"
    data = bytearray(mix.read_bytes())
    offset = 44 + 2 * 48000 + 1001  # inside the second one-second segment
    data[offset] ^= 0x01
    mix.write_bytes(bytes(data))
    report = verify_recording(copy)
    assert not report.ok
    assert any(p["track"] == "mix" and p["segment"] == 1 for p in report.problems), report.problems
    result = cli("recordings", "verify", recording + "-copy", "--data-dir", str(server.data_dir))
    assert result.returncode == 3 and "segment 1" in result.stdout


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mediacore.server.cli", *args],
        capture_output=True, text=True, timeout=60, env={**os.environ, "MEDIACORE_TOKEN": TOKEN},
    )  # fmt: skip


def test_playback_with_range_and_errors(server: ServerProcess, recorded: dict[str, Any]) -> None:
    recording = recorded["id"]
    url = f"/api/v1/recordings/{recording}/tracks/mix"
    part = server.client.get(url, headers={"Range": "bytes=44-1043"})
    assert part.status_code == 206 and len(part.content) == 1000
    assert server.client.get(url, headers={"Range": "bytes=999999999-"}).status_code == 416
    reviewer = httpx.get(server.url + url + "?token=reviewer-token-for-tests")
    assert reviewer.status_code == 200 and reviewer.content[:4] == b"RIFF"
    expert = httpx.get(server.url + f"/api/v1/recordings/{recording}",
                       headers={"Authorization": "Bearer expert-token-for-tests"})  # fmt: skip
    assert expert.status_code == 403
    assert server.client.get("/api/v1/recordings/rec-nope").status_code == 404
    assert server.client.get(f"/api/v1/recordings/{recording}/tracks/nope").status_code == 404
    absurd = server.client.post(f"/api/v1/recordings/{recording}/exports",
                                json={"from_s": 0, "to_s": 10 ** 7})  # fmt: skip
    assert absurd.status_code == 400
    backwards = server.client.post(f"/api/v1/recordings/{recording}/exports",
                                   json={"from_s": 2, "to_s": 1})  # fmt: skip
    assert backwards.status_code == 400


@pytest.mark.parametrize("fmt", ["wav", "opus"])
def test_export_a_slice_with_progress(
    server: ServerProcess, recorded: dict[str, Any], tmp_path: Path, fmt: str
) -> None:
    manifest = recorded["manifest"]
    track = next(t["id"] for t in manifest["tracks"] if "derived_from" in t)
    out = tmp_path / f"slice.{fmt}"
    result = cli(
        "recordings", "export", recorded["id"], "--from-s", "1.5", "--to-s", "2.5",
        "--tracks", track, "--format", fmt, "--out", str(out), "--url", server.url,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "100%" in result.stderr
    with av.open(str(out)) as container:
        samples = sum(frame.samples for frame in container.decode(audio=0))
        rate = container.streams.audio[0].rate
    assert abs(samples / rate - 1.0) < 0.05


def test_search_by_room_participant_and_event(
    server: ServerProcess, recorded: dict[str, Any]
) -> None:
    found = server.client.get("/api/v1/recordings", params={"room": "tones"}).json()
    assert recorded["id"] in [r["id"] for r in found]
    by_name = server.client.get("/api/v1/recordings", params={"participant": "tone-440"}).json()
    assert recorded["id"] in [r["id"] for r in by_name]
    listing = cli("recordings", "list", "--room", "tones", "--url", server.url)
    assert recorded["id"] in listing.stdout


@pytest.mark.parametrize("workers", ["0", "2"])
def test_kill_9_loses_at_most_the_last_second(tmp_path: Path, workers: str) -> None:
    """kill -9 of the server. In one process the recording is left open and recovered at the
    next start; with media workers, the workers outlive control by a moment (they get SIGTERM
    when it dies) and seal the recording they write."""
    process = ServerProcess(tmp_path, MEDIACORE_SERVER_WORKERS=workers)
    try:
        process.client.post("/api/v1/rooms", json={"name": "crash"})
        pids = [w["pid"] for w in process.client.get("/api/v1/workers").json() or []]

        async def talk() -> None:
            peer = RtpPeer(PCMU)
            await peer.open()
            _, answer = process.join("crash", peer.make_offer(), name="survivor")
            peer.accept(answer)
            assert process.client.post("/api/v1/rooms/crash/recordings").status_code == 201
            await peer.play(peer.packetize(tone(PCMU, 440.0, 3.5)))
            peer.close()

        asyncio.run(talk())
        recorded_for = 3.5
        process.process.send_signal(signal.SIGKILL)
        process.process.wait(10)
        deadline = time.monotonic() + 10.0
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        process.client.close()
    restarted = ServerProcess(tmp_path, MEDIACORE_SERVER_WORKERS=workers)
    try:
        (found,) = restarted.client.get("/api/v1/recordings", params={"room": "crash"}).json()
        assert found["state"] == ("recovered" if workers == "0" else "stopped")
        report = restarted.client.get(f"/api/v1/recordings/{found['id']}/verify").json()
        assert report == {"ok": True, "problems": []}
        manifest = restarted.client.get(f"/api/v1/recordings/{found['id']}").json()
        native = next(t for t in manifest["tracks"] if t["rate"] == 8000)
        assert native["data_bytes"] / 2 / 8000 > recorded_for - 1.0
    finally:
        assert restarted.stop() == 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
