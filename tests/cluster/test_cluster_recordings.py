"""Recordings across a cluster of real `mediacore serve` nodes sharing a store of recordings
(`[recording] shared_dir`, a plain folder here, NFS or the like in a deployment): a recording
made on node a is listed, read, played, verified and exported through node b; node a killed
with `kill -9` while it records a tone is recovered by b from the store (hash chain intact,
the audio up to the kill present, `recording.recovered` on b's stream), and a restarting does
not recover it a second time. The nodes are shared by the module's tests, in order."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import signal
import threading
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import websockets

from bench.rtppeer import RtpPeer
from mediacore.audio import tone_level_dbfs
from mediacore.codecs import PCMU
from mediacore.server.clustertrust import HEADER
from mediacore.signing import SigningKey
from tests.cluster.nodes import start_node
from tests.cluster.redisserver import redis_server
from tests.e2e.server import TOKEN, ServerProcess
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

REVIEWER = "reviewer-token-for-cluster-tests"
ADDRESSES = {"a": "127.0.0.2", "b": "127.0.0.3"}
WORKERS = {"a": 0, "b": 1}  # a records in its own process, b in a media worker


class Cluster:
    """Two nodes sharing one Redis, one store and one signing key."""

    def __init__(self, folder: Path, redis_url: str) -> None:
        self.folder = folder
        self.redis_url = redis_url
        self.shared = folder / "shared"
        self.shared.mkdir()
        key = folder / "keys" / "signing.key"  # every node signs with the same key
        SigningKey.load_or_create(key)
        self.config = f"""
[recording]
shared_dir = "{self.shared}"
signing_key = "{key}"

[[auth.tokens]]
token = "{REVIEWER}"
role = "reviewer"
"""
        self.nodes: dict[str, ServerProcess] = {}

    def start(self, name: str) -> ServerProcess:
        node = start_node(
            self.folder,
            self.redis_url,
            name,
            ADDRESSES[name],
            workers=WORKERS[name],
            config=self.config,
        )
        self.nodes[name] = node
        return node

    def stop(self) -> None:
        for node in self.nodes.values():
            if node.process.poll() is None:
                node.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("clrec")
    with redis_server(folder) as url:
        nodes = Cluster(folder, url)
        try:
            nodes.start("a")
            nodes.start("b")
            wait_until(lambda: len(_nodes(nodes.nodes["b"])) == 2, 10, "both nodes up")
            yield nodes
        finally:
            nodes.stop()


def _nodes(server: ServerProcess) -> dict[str, str]:
    return {n["name"]: n["state"] for n in server.client.get("/api/v1/nodes").json()}


def _reviewer(server: ServerProcess) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {REVIEWER}"}, timeout=30
    )


def _tone(seconds: float) -> np.ndarray:
    t = np.arange(int(8000 * seconds)) / 8000
    return (0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)


async def _leg(node: ServerProcess, room: str) -> RtpPeer:
    peer = RtpPeer(PCMU)
    await peer.open()
    _, answer = node.join(room, peer.make_offer(), name="tone-440")
    peer.accept(answer)
    return peer


class Watching:
    """The events of a stream, read in a thread of their own while the test goes on."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.events: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._open = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._read()), daemon=True)

    async def _read(self) -> None:
        async with websockets.connect(self.url) as stream:
            self._open.set()
            while not self._stop.is_set():
                with contextlib.suppress(TimeoutError):
                    self.events.append(json.loads(await asyncio.wait_for(stream.recv(), 0.5)))

    def __enter__(self) -> list[dict[str, Any]]:
        self._thread.start()
        assert self._open.wait(10), "the event stream did not open"
        return self.events

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def _native_track(manifest: dict[str, Any]) -> dict[str, Any]:
    return next(t for t in manifest["tracks"] if t["kind"] == "participant" and t["rate"] == 8000)


def _pcm(wav_bytes: bytes) -> np.ndarray:
    with wave.open(io.BytesIO(wav_bytes)) as wav:
        frames = wav.readframes(wav.getnframes())
    return np.frombuffer(frames, "<i2").astype(np.float32) / 32768.0


def test_a_recording_made_on_one_node_is_served_by_every_node(cluster: Cluster) -> None:
    a, b = cluster.nodes["a"], cluster.nodes["b"]
    created = b.client.post("/api/v1/rooms", json={"name": "alpha", "node": "a"})
    assert created.status_code == 201, created.text

    async def record() -> str:
        peer = await _leg(a, "alpha")
        started = b.client.post("/api/v1/rooms/alpha/recordings")  # forwarded to the owner
        assert started.status_code == 201, started.text
        await peer.play(peer.packetize(_tone(2.0)))
        peer.close()
        return str(started.json()["id"])

    recording = asyncio.run(record())
    assert recording.endswith("-a")  # the node's name ends its recordings' ids
    assert (cluster.shared / "a" / "recordings" / recording / "manifest.json").is_file()
    stopped = b.client.post(f"/api/v1/recordings/{recording}/stop")
    assert stopped.status_code == 200 and stopped.json()["state"] == "stopped", stopped.text

    with _reviewer(b) as reviewer:
        listed = reviewer.get("/api/v1/recordings", params={"room": "alpha"})
        assert listed.status_code == 200, listed.text
        assert [(r["id"], r["node"]) for r in listed.json()] == [(recording, "a")]
        assert recording in {r["id"] for r in reviewer.get("/api/v1/recordings").json()}
        manifest = reviewer.get(f"/api/v1/recordings/{recording}").json()
        assert manifest["id"] == recording and manifest["state"] == "stopped"
        verified = reviewer.get(f"/api/v1/recordings/{recording}/verify").json()
        assert verified == {"ok": True, "problems": []}
        track = _native_track(manifest)
        played = httpx.get(
            f"{b.url}/api/v1/recordings/{recording}/tracks/{track['id']}",
            params={"token": REVIEWER},  # as an <audio> element fetches it
            headers={"Range": "bytes=0-99"},
        )
        assert played.status_code == 206 and len(played.content) == 100, played.text
        export = reviewer.post(f"/api/v1/recordings/{recording}/exports", json={"format": "wav"})
        assert export.status_code == 202, export.text
        job = export.json()["id"]
        assert job.endswith("-a")  # rendered where the recording is
        done = wait_until(
            lambda: reviewer.get(f"/api/v1/exports/{job}").json()["state"] == "done",
            30,
            "the export",
        )
        assert done
        exported = reviewer.get(f"/api/v1/exports/{job}/file")
        assert exported.status_code == 200 and exported.content[:4] == b"RIFF"
        # A reviewer may not stop or delete; the owner says so, as on one node.
        refused = reviewer.delete(f"/api/v1/recordings/{recording}")
        assert refused.status_code == 403, refused.text
        # The node's own routes are its own (no recording is named "ledger").
        assert reviewer.get("/api/v1/recordings/public-key").status_code == 200
    anonymous = httpx.get(f"{b.url}/api/v1/recordings/{recording}")
    assert anonymous.status_code == 401
    forged = httpx.get(
        f"{b.url}/api/v1/recordings/{recording}",
        headers={"Authorization": f"Bearer {TOKEN}", HEADER: "a;1;00"},
    )
    assert forged.status_code == 403, forged.text
    missing = b.client.get("/api/v1/recordings/rec-20260101T000000Z-abcdef-a")
    assert missing.status_code == 404, missing.text


def test_a_media_worker_records_into_its_node_s_folder_of_the_store(cluster: Cluster) -> None:
    a, b = cluster.nodes["a"], cluster.nodes["b"]
    created = a.client.post("/api/v1/rooms", json={"name": "charlie", "node": "b"})
    assert created.status_code == 201, created.text
    started = a.client.post("/api/v1/rooms/charlie/recordings")
    assert started.status_code == 201, started.text
    recording = started.json()["id"]
    assert recording.endswith("-b")
    time.sleep(1.0)
    stopped = a.client.post(f"/api/v1/recordings/{recording}/stop")
    assert stopped.status_code == 200, stopped.text
    assert (cluster.shared / "b" / "recordings" / recording / "mix.wav").is_file()
    with _reviewer(a) as reviewer:
        listed = reviewer.get("/api/v1/recordings", params={"room": "charlie"}).json()
        assert [(r["id"], r["node"]) for r in listed] == [(recording, "b")]
        verified = reviewer.get(f"/api/v1/recordings/{recording}/verify").json()
        assert verified == {"ok": True, "problems": []}
    assert b.client.get(f"/api/v1/recordings/{recording}").json()["state"] == "stopped"


def test_a_killed_node_s_recording_is_recovered_by_a_survivor_once(cluster: Cluster) -> None:
    a, b = cluster.nodes["a"], cluster.nodes["b"]
    created = b.client.post("/api/v1/rooms", json={"name": "bravo", "node": "a"})
    assert created.status_code == 201, created.text

    async def record_and_kill() -> tuple[str, float, list[dict[str, Any]]]:
        peer = await _leg(a, "bravo")
        async with websockets.connect(b.events_url()) as stream:
            playing = asyncio.ensure_future(peer.play(peer.packetize(_tone(20.0))))
            await asyncio.sleep(0.5)
            started = a.client.post("/api/v1/rooms/bravo/recordings")
            assert started.status_code == 201, started.text
            began = time.time()
            await asyncio.sleep(3.0)
            a.process.send_signal(signal.SIGKILL)
            a.process.wait()
            recorded_for = time.time() - began
            playing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await playing
            peer.close()
            recording = started.json()["id"]
            seen = []
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline:
                event = json.loads(await asyncio.wait_for(stream.recv(), 40))
                if event["type"] == "recording.recovered":
                    seen.append(event)
                    if event["id"] == recording:
                        return recording, recorded_for, seen
            raise AssertionError(f"no recording.recovered for {recording}: {seen}")

    recording, recorded_for, events = asyncio.run(record_and_kill())
    (recovered,) = [e for e in events if e["id"] == recording]
    assert recovered["recovered_by"] == "b" and recovered["recorded_by"] == "a"
    assert recovered["ok"] is True, recovered

    with _reviewer(b) as reviewer:
        listed = reviewer.get("/api/v1/recordings", params={"room": "bravo"}).json()
        assert [(r["id"], r["node"], r["state"]) for r in listed] == [(recording, "b", "recovered")]
        # every recording, a's too, is served by b while a is down
        assert {r["node"] for r in reviewer.get("/api/v1/recordings").json()} == {"b"}
        assert reviewer.get(f"/api/v1/recordings/{recording}/verify").json() == {
            "ok": True,
            "problems": [],
        }
        manifest = reviewer.get(f"/api/v1/recordings/{recording}").json()
        track = _native_track(manifest)
        seconds = track["data_bytes"] / 2 / 8000
        assert recorded_for - 1.5 < seconds < recorded_for + 1.0, (seconds, recorded_for)
        wav = reviewer.get(f"/api/v1/recordings/{recording}/tracks/{track['id']}")
        pcm = _pcm(wav.content)
        steady = pcm[4000 : len(pcm) - 4000]
        assert tone_level_dbfs(steady, 440.0, 8000) > -20.0

    # a comes back: b gives its recordings back, and a recovers nothing again.
    with Watching(b.events_url()) as after:
        cluster.start("a")  # from this thread: the node lives as long as the test's process
        wait_until(lambda: _nodes(b).get("a") == "up", 20, "a up again")
        time.sleep(2)  # a recovers before it is ready: what it announced has reached b
    assert not [e for e in after if e["type"] == "recording.recovered"], after
    with _reviewer(b) as reviewer:
        again = wait_until(
            lambda: (
                (listed := reviewer.get("/api/v1/recordings", params={"room": "bravo"}).json())
                and listed[0]["node"] == "a"
                and listed
            ),
            20,
            "a serving its recordings again",
        )
        assert [(r["id"], r["state"]) for r in again] == [(recording, "recovered")]
        served = reviewer.get(f"/api/v1/recordings/{recording}").json()
        assert served["recovered_at"] == manifest["recovered_at"]
        assert served["manifest_sha256"] == manifest["manifest_sha256"]
