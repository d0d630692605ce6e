"""PcmFeed: a source's decoded audio at any rate in, exactly one room tick out, with a bounded
cushion between a bursty reader thread and the room's clock. Checked by measuring the tone."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from ingest.pcmfeed import PcmFeed
from mediacore.audio import dominant_frequency, level_dbfs, tone

ROOM_RATE, TICK_MS = 48000, 20
TICK = ROOM_RATE * TICK_MS // 1000
LEVEL = -20.0


def chunks(rate: int, size: int, seconds: float, frequency: float = 1000.0) -> list[np.ndarray]:
    signal = tone(frequency, seconds, rate, LEVEL)
    return [signal[i : i + size] for i in range(0, len(signal) - size + 1, size)]


def drain(feed: PcmFeed, ticks: int) -> list[np.ndarray | None]:
    return [feed.read(0.0) for _ in range(ticks)]


@pytest.mark.parametrize(
    ("rate", "size"),
    [(44100, 1024), (48000, 1024), (8000, 160), (16000, 320), (32000, 1152), (22050, 1024)],
)
def test_any_source_rate_leaves_as_whole_room_ticks_with_the_tone_intact(
    rate: int, size: int
) -> None:
    """AAC (1024-sample frames at 44.1/48 kHz), G.711 (20 ms at 8 kHz), MP3 (1152)."""
    feed = PcmFeed(ROOM_RATE, TICK_MS)
    out = []
    for chunk in chunks(rate, size, 2.0):
        feed.push(chunk, rate)
        while feed.buffered_ms >= 60 or (out and feed.buffered_ms >= TICK_MS):
            frame = feed.read(0.0)
            if frame is None:
                break
            assert len(frame) == TICK and frame.dtype == np.float32
            assert feed.to_room_rate(frame, restart=True) is frame
            out.append(frame)
    pcm = np.concatenate(out)[ROOM_RATE // 10 :]  # past the resampler's onset
    assert len(pcm) >= ROOM_RATE * 1.5
    assert dominant_frequency(pcm, ROOM_RATE) == pytest.approx(1000.0, abs=20)
    assert level_dbfs(pcm) == pytest.approx(LEVEL, abs=0.5)
    assert feed.underruns == 0 and feed.overflows == 0


def test_nothing_is_played_until_60_ms_are_buffered_and_nothing_arrived_is_silence() -> None:
    feed = PcmFeed(ROOM_RATE, TICK_MS)
    assert drain(feed, 5) == [None] * 5  # no audio at all: silent, not noise
    parts = chunks(ROOM_RATE, TICK, 0.2)
    feed.push(parts[0], ROOM_RATE)
    feed.push(parts[1], ROOM_RATE)
    assert feed.read(0.0) is None  # 40 ms: still filling the cushion
    feed.push(parts[2], ROOM_RATE)
    frames = drain(feed, 3)
    assert all(f is not None and len(f) == TICK for f in frames)
    assert feed.statistics()["audio_underruns"] == 0


def test_running_dry_counts_one_underrun_then_waits_for_the_cushion_again() -> None:
    feed = PcmFeed(ROOM_RATE, TICK_MS)
    parts = chunks(ROOM_RATE, TICK // 2, 0.5)  # 10 ms pieces
    for part in parts[:7]:  # 70 ms
        feed.push(part, ROOM_RATE)
    played = drain(feed, 4)
    assert [f is not None for f in played] == [True, True, True, True]
    last = played[3]
    assert last is not None and not last[TICK // 2 :].any()  # the 10 ms left, then zeros
    assert feed.underruns == 1
    assert feed.read(0.0) is None  # stays silent: the source sends nothing
    assert feed.underruns == 1  # counted once per dry spell
    for part in parts[7:11]:  # 40 ms: below the cushion
        feed.push(part, ROOM_RATE)
    assert feed.read(0.0) is None
    for part in parts[11:13]:  # 60 ms
        feed.push(part, ROOM_RATE)
    assert feed.read(0.0) is not None


def test_a_burst_beyond_300_ms_drops_the_oldest_back_to_the_cushion() -> None:
    feed = PcmFeed(ROOM_RATE, TICK_MS)
    old = tone(500.0, 1.0, ROOM_RATE, LEVEL)
    new = tone(1500.0, 0.06, ROOM_RATE, LEVEL)
    feed.push(old, ROOM_RATE)  # a second of audio at once (e.g. what probing held back)
    stats = feed.statistics()
    assert stats["audio_overflows"] == 1
    assert stats["audio_buffered_ms"] == 60  # latency back at the cushion
    assert stats["audio_dropped_ms"] == 940
    feed.push(new, ROOM_RATE)
    played = np.concatenate([f for f in drain(feed, 6) if f is not None])
    assert len(played) == 6 * TICK
    # the kept audio is the newest: the end of the 500 Hz burst, then the 1500 Hz tone
    assert dominant_frequency(played[: 3 * TICK], ROOM_RATE) == pytest.approx(500, abs=20)
    assert dominant_frequency(played[3 * TICK :], ROOM_RATE) == pytest.approx(1500, abs=20)


def test_rate_change_and_restart_take_a_new_converter() -> None:
    feed = PcmFeed(ROOM_RATE, TICK_MS)
    feed.push(tone(1000.0, 0.1, 44100, LEVEL), 44100)
    assert feed.input_rate == 44100
    feed.push(tone(1000.0, 0.1, 8000, LEVEL), 8000)
    assert feed.input_rate == 8000
    feed.restart()
    feed.push(tone(1000.0, 0.1, 8000, LEVEL), 8000)
    assert feed.buffered_ms == pytest.approx(300, abs=2)  # every sample accounted for


def test_a_reader_thread_and_the_room_clock_share_it_without_losing_samples() -> None:
    """Producer bursts and consumer ticks interleave freely; every converted sample is played,
    dropped or still buffered, and every tick has exactly one tick of samples."""
    feed = PcmFeed(ROOM_RATE, TICK_MS)
    parts = chunks(44100, 1024, 3.0)
    pushed = 0

    def produce() -> None:
        nonlocal pushed
        for index, part in enumerate(parts):
            feed.push(part, 44100)
            if index % 8 == 7:
                time.sleep(0.01)  # TCP-like bursts of 8 frames (186 ms)
        pushed = 1

    thread = threading.Thread(target=produce)
    thread.start()
    played = 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        producing = thread.is_alive()
        frame = feed.read(time.monotonic())
        if frame is not None:
            assert len(frame) == TICK
            played += 1
        elif not producing:
            break  # all pushed, and what is left is below the cushion
        time.sleep(0.001)
    thread.join(1)
    assert pushed == 1
    stats = feed.statistics()
    produced = feed.ticks_played * TICK + feed.dropped_samples + feed._buffered
    converted = len(parts) * 1024 * ROOM_RATE // 44100
    # zero padding of underruns is not input; each underrun pads less than one tick
    assert converted - produced == pytest.approx(0, abs=TICK * (feed.underruns + 1))
    assert played == feed.ticks_played and played > 0
    assert stats["audio_buffered_ms"] <= 300
