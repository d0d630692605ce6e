"""An announcement's clip, played one room tick at a time, and its leg's life in a room."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from mediacore.announcement import (
    PLAYED,
    AnnouncementLeg,
    ClipPlayback,
    finish_reason,
    load_clip,
)
from mediacore.audio import tone, tone_level_dbfs
from mediacore.events import Event, EventBus


def int16_tone(seconds: float, rate: int, level: float = -20.0) -> np.ndarray:
    return np.round(tone(1000.0, seconds, rate, level) * 32768).astype(np.int16)


def test_a_clip_plays_one_tick_per_read_and_pads_the_last_with_silence() -> None:
    rate = 16000
    samples = int16_tone(0.05, rate)  # 800 samples: two whole 20 ms ticks and a half
    playback = ClipPlayback(samples, rate, 20)
    ended: list[bool] = []
    playback.on_end = lambda: ended.append(True)
    frames = [playback.read(0.0) for _ in range(3)]
    assert all(f is not None and len(f) == 320 and f.dtype == np.float32 for f in frames)
    assert frames[2] is not None and not frames[2][160:].any()  # the rest of the tick is silent
    played = np.concatenate([f for f in frames if f is not None])[:800]
    assert np.allclose(played, samples / 32768, atol=1e-6)
    assert playback.finished and playback.position_s == pytest.approx(0.05)
    assert not ended
    assert playback.read(0.0) is None and playback.read(0.0) is None
    assert ended == [True]  # once, on the tick after the last sample


def test_a_played_tone_keeps_its_level_and_the_clip_its_duration() -> None:
    rate = 48000
    playback = ClipPlayback(int16_tone(2.0, rate, -20.0), rate, 20)
    assert playback.duration_s == pytest.approx(2.0)
    frames = []
    while (frame := playback.read(0.0)) is not None:
        frames.append(frame)
    assert len(frames) == 100  # 2 s of 20 ms ticks
    assert tone_level_dbfs(np.concatenate(frames), 1000.0, rate) == pytest.approx(-20.0, abs=0.1)


def test_clip_files_are_mapped_as_little_endian_int16(tmp_path: Path) -> None:
    path = tmp_path / "clip.s16"
    path.write_bytes(np.array([1, -2, 32767], dtype="<i2").tobytes())
    assert load_clip(path).tolist() == [1, -2, 32767]


@pytest.mark.parametrize(
    ("reason", "finished"),
    [("played", "played"), ("stopped", "stopped"), ("kicked", "stopped"),
     ("link-revoked", "stopped"), ("closed-by-api", "room-closed"),
     ("server-stopping", "room-closed"), ("room-closed", "room-closed")],
)  # fmt: skip
def test_finish_reasons(reason: str, finished: str) -> None:
    assert finish_reason(reason) == finished


class FakeRoom:
    """The JoinedRoom view a leg sees, recording what it asks."""

    def __init__(self) -> None:
        self.name = "hall"
        self.bus = EventBus()
        self.events: list[Event] = []
        self.bus.listen(self.events.append)
        self.floor_requests: list[tuple[str, str, int | None]] = []
        self.floor = SimpleNamespace(holder=None, holder_priority=None)
        self.removed: list[tuple[str, str]] = []
        self.leg: AnnouncementLeg | None = None

    @property
    def participants(self) -> Mapping[str, object]:
        return {}

    async def remove(self, participant_id: str, reason: str) -> None:
        self.removed.append((participant_id, reason))
        assert self.leg is not None
        await self.leg.close(reason)

    def request_floor(self, participant_id: str, source: str, priority: int | None = None) -> Any:
        self.floor_requests.append((participant_id, source, priority))
        self.floor.holder = participant_id  # granted

    def types(self) -> list[str]:
        return [event.type for event in self.events]


class Member:
    id = "p-0123456789"


async def test_the_leg_takes_the_floor_reports_progress_and_leaves_once_played() -> None:
    room = FakeRoom()
    leg = AnnouncementLeg(
        ClipPlayback(int16_tone(0.1, 8000), 8000, 20), "announcement", 2, {"file": "a.wav"}
    )
    room.leg = leg
    leg.joined(room, Member())  # type: ignore[arg-type]
    assert room.floor_requests == [("p-0123456789", "announcement", 2)]
    started = room.events[0]
    assert started.type == "announcement.started"
    assert started.data == {
        "id": "p-0123456789",
        "name": "announcement",
        "source": {"file": "a.wav"},
        "duration_s": 0.1,
        "priority": 2,
    }
    assert leg.audio_input is not None and leg.audio_output is None  # talks only
    for _ in range(2):
        assert leg.audio_input.read(0.0) is not None
    leg.check(0.0)
    assert room.events[-1].type == "announcement.progress"
    assert room.events[-1].data["position_s"] == pytest.approx(0.04)
    assert leg.describe()["position_s"] == pytest.approx(0.04)
    while leg.audio_input is not None and leg.audio_input.read(0.0) is not None:
        pass
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert room.removed == [("p-0123456789", PLAYED)]
    finished = room.events[-1]
    assert finished.type == "announcement.finished"
    assert finished.data["reason"] == "played" and finished.data["position_s"] == 0.1


async def test_a_stopped_leg_says_stopped_with_how_far_it_got() -> None:
    room = FakeRoom()
    leg = AnnouncementLeg(
        ClipPlayback(int16_tone(1.0, 8000), 8000, 20), "notice", 1, {"text": "x", "lang": "en"}
    )
    leg.joined(room, Member())  # type: ignore[arg-type]
    assert leg.audio_input is not None
    leg.audio_input.read(0.0)
    await leg.close("stopped")
    assert room.types() == ["announcement.started", "announcement.finished"]
    assert room.events[-1].data == {
        "id": "p-0123456789",
        "reason": "stopped",
        "detail": "stopped",
        "position_s": 0.02,
    }
    assert leg.audio_input is None


async def test_the_leg_asks_the_floor_again_when_it_is_free_while_playing() -> None:
    room = FakeRoom()
    leg = AnnouncementLeg(ClipPlayback(int16_tone(1.0, 8000), 8000, 20), "a", 2, {"file": "a"})
    leg.joined(room, Member())  # type: ignore[arg-type]
    leg.check(0.0)
    assert len(room.floor_requests) == 1  # it holds the floor: nothing to ask
    room.floor.holder = None  # the talk time-out took it back
    leg.check(1.0)
    assert room.floor_requests[-1] == ("p-0123456789", "announcement", 2)
    assert len(room.floor_requests) == 2
