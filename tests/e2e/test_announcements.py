"""Announcements end to end, rooms in media workers: what a real RTP listener (and an ED-137
radio gateway) hears, measured, and the events on the WebSocket.

An uploaded 1 kHz WAV must arrive at its level for its duration; English and Mandarin speech
from espeak-ng must carry energy for about as long as the server says it lasts; stopping early
ends the sound and says "stopped"; bad requests get 4xx."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import websockets

from bench.radiogateway import Ed137Gateway
from bench.rtppeer import RtpPeer
from mediacore.audio import level_dbfs, tone, tone_levels_by_block
from mediacore.codecs import PCMA, PCMU
from radio.ed137 import PttType
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.slow

SERVER_ENV = {"MEDIACORE_RTP_TIMEOUT": "30"}  # listeners only listen
RATE = 8000
LEVEL = -20.0
FILES = "/api/v1/announcements/files"
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng missing")


class Events:
    """The room's events, read in the background, each with the time it arrived."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.seen: list[dict[str, Any]] = []
        self._task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for message in self.stream:
            self.seen.append({**json.loads(message), "_arrived": time.monotonic()})

    async def wait(self, kind: str, announcement: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.seen:
                if event["type"] == kind and event.get("id") == announcement:
                    return event
            await asyncio.sleep(0.02)
        raise AssertionError(f"no {kind} within {timeout} s: {[e['type'] for e in self.seen]}")

    def close(self) -> None:
        self._task.cancel()


@pytest.fixture
async def events(server: ServerProcess, room: str) -> AsyncIterator[Events]:
    async with websockets.connect(server.events_url(room)) as stream:
        log = Events(stream)
        await asyncio.sleep(0.2)  # subscribed before anything happens
        yield log
        log.close()


async def listener(server: ServerProcess, room: str) -> RtpPeer:
    peer = RtpPeer(PCMU, 20)
    await peer.open()
    _, answer = server.join(room, peer.make_offer(), name="listener")
    peer.accept(answer)
    peer.send_payload(peer.packetize(np.zeros(160, dtype=np.float32))[0])  # latch
    return peer


def upload_tone(server: ServerProcess, tmp_path: Path, name: str, seconds: float) -> None:
    """A 1 kHz tone at -20 dBFS RMS, 44.1 kHz stereo WAV: the server converts it."""
    pcm = np.round(tone(1000.0, seconds, 44100, LEVEL) * 32767).astype("<i2")
    path = tmp_path / name
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(44100)
        out.writeframes(np.repeat(pcm, 2).tobytes())
    response = server.client.post(FILES, params={"name": name}, content=path.read_bytes())
    assert response.status_code == 201, response.text


def announce(server: ServerProcess, room: str, **body: Any) -> dict[str, Any]:
    response = server.client.post(f"/api/v1/rooms/{room}/announcements", json=body, timeout=30)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def loud_seconds(pcm: np.ndarray, threshold: float) -> float:
    """Seconds of 20 ms blocks whose level is above `threshold` dBFS."""
    block = RATE // 50
    levels = [level_dbfs(pcm[i : i + block]) for i in range(0, len(pcm) - block + 1, block)]
    return sum(level > threshold for level in levels) * 0.02


async def test_an_uploaded_tone_is_heard_at_its_level_for_its_duration(
    server: ServerProcess, room: str, events: Events, tmp_path: Path
) -> None:
    upload_tone(server, tmp_path, "tone.wav", 2.0)
    ear = await listener(server, room)
    radio = Ed137Gateway(PCMA)
    await radio.open()
    _, answer = server.join(room, radio.make_offer(), name="radio", radio="ed137")
    radio.accept(answer)
    radio.start_keepalives()
    await asyncio.sleep(0.3)

    started_at = time.monotonic()
    started = announce(server, room, file="tone.wav")
    assert started["duration_s"] == pytest.approx(2.0, abs=0.02)
    floor = server.client.get(f"/api/v1/rooms/{room}/floor").json()
    assert floor["holder"] == started["id"]  # radios hear only the floor holder
    done = await events.wait("announcement.finished", started["id"], timeout=6)
    assert done["reason"] == "played"
    took = done["_arrived"] - started_at
    assert 1.9 < took < 3.0, took
    await asyncio.sleep(0.3)

    heard = ear.decoded(started_at)
    levels = tone_levels_by_block(heard, 1000.0, RATE)
    on = levels > LEVEL - 6
    assert on.sum() * 0.02 == pytest.approx(2.0, abs=0.1), on.sum()
    assert np.median(levels[on]) == pytest.approx(LEVEL, abs=1.5)
    assert levels[-10:].max() < -50  # and then silence

    keyed = [a for a in radio.audio_arrivals() if a.time >= started_at]
    assert len(keyed) * 0.02 == pytest.approx(2.0, abs=0.2), len(keyed)
    assert all(a.header is not None and a.header.ptt_type != PttType.OFF for a in keyed)
    assert server.client.get(f"/api/v1/rooms/{room}/floor").json()["holder"] is None
    assert server.client.get(f"/api/v1/rooms/{room}/announcements").json() == []
    types = [e["type"] for e in events.seen if e.get("id") == started["id"]]
    assert types[0] == "announcement.started" and "announcement.progress" in types
    radio.close()
    ear.close()


@needs_espeak
@pytest.mark.parametrize(
    ("text", "lang"),
    [("Attention all units. Report to the north gate.", "en"),
     ("各单位请注意，请到北门集合。", "zh")],
    ids=["english", "mandarin"],
)  # fmt: skip
async def test_speech_reaches_the_listener_for_about_its_duration(
    server: ServerProcess, room: str, events: Events, text: str, lang: str
) -> None:
    ear = await listener(server, room)
    await asyncio.sleep(0.2)
    started_at = time.monotonic()
    started = announce(server, room, text=text, lang=lang)
    assert started["source"] == {"text": text, "lang": lang}
    duration = started["duration_s"]
    assert 1.0 < duration < 10.0, duration
    done = await events.wait("announcement.finished", started["id"], timeout=duration + 5)
    assert done["reason"] == "played"
    await asyncio.sleep(0.3)
    heard = ear.decoded(started_at)
    speaking = loud_seconds(heard, -40.0)
    assert 0.4 * duration < speaking <= duration + 0.1, (speaking, duration)
    assert level_dbfs(heard) > -35
    ear.close()


async def test_stopping_early_ends_the_sound_and_says_stopped(
    server: ServerProcess, room: str, events: Events, tmp_path: Path
) -> None:
    upload_tone(server, tmp_path, "long.wav", 6.0)
    ear = await listener(server, room)
    await asyncio.sleep(0.2)
    started_at = time.monotonic()
    started = announce(server, room, file="long.wav")
    await asyncio.sleep(1.0)
    running = server.client.get(f"/api/v1/rooms/{room}/announcements").json()
    assert [entry["id"] for entry in running] == [started["id"]]
    assert 0.5 < running[0]["position_s"] < 1.5
    stopped_at = time.monotonic()
    response = server.client.delete(f"/api/v1/rooms/{room}/announcements/{started['id']}")
    assert response.status_code == 204
    done = await events.wait("announcement.finished", started["id"], timeout=3)
    assert done["reason"] == "stopped" and done["position_s"] < 2.0
    await asyncio.sleep(0.5)
    heard = tone_levels_by_block(ear.decoded(started_at), 1000.0, RATE)
    assert (heard > LEVEL - 6).sum() * 0.02 == pytest.approx(stopped_at - started_at, abs=0.3)
    after = ear.decoded(stopped_at + 0.2)
    assert loud_seconds(after, -50.0) == 0.0
    ear.close()


@pytest.mark.parametrize(
    ("body", "status"),
    [({"file": "missing.wav"}, 404), ({"text": ""}, 400), ({"text": "x" * 1001}, 422),
     ({"text": "hello", "lang": "de"}, 422), ({}, 400)],
    ids=["unknown-file", "empty-text", "long-text", "bad-lang", "nothing"],
)  # fmt: skip
def test_bad_requests_get_4xx(
    server: ServerProcess, room: str, body: dict[str, Any], status: int
) -> None:
    response = server.client.post(f"/api/v1/rooms/{room}/announcements", json=body)
    assert response.status_code == status, response.text
    assert set(response.json()) == {"error", "detail"}


def test_an_unknown_room_is_404(server: ServerProcess) -> None:
    response = server.client.post("/api/v1/rooms/nowhere/announcements", json={"text": "hi"})
    assert response.status_code == 404 and response.json()["error"] == "room-not-found"
