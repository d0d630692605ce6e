"""Track adapters: decoded frames to room ticks, and Opus packets handed to aiortc unencoded."""

from __future__ import annotations

import fractions

import av
import numpy as np
import pytest
from aiortc.codecs.opus import OpusEncoder as AiortcOpusEncoder
from aiortc.mediastreams import MediaStreamError

from mediacore.audio import tone, tone_level_dbfs
from webrtc.tracks import MAX_QUEUED_PACKETS, OpusPacketTrack, ReceivedAudio, frame_to_mono

RATE = 48000
TICK = 960


def stereo_s16_frame(left: np.ndarray, right: np.ndarray) -> av.AudioFrame:
    interleaved = np.stack([left, right], axis=1).reshape(1, -1)
    samples = np.round(interleaved * 32767).astype(np.int16)
    frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="stereo")
    frame.sample_rate = RATE
    return frame


def test_packed_stereo_s16_becomes_the_mean_of_its_channels() -> None:
    left = tone(440.0, 0.02, RATE, -20.0)
    frame = stereo_s16_frame(left, np.zeros_like(left))
    mono = frame_to_mono(frame)
    assert mono.dtype == np.float32 and mono.shape == (TICK,)
    assert tone_level_dbfs(mono, 440.0, RATE) == pytest.approx(-26.02, abs=0.05)


def test_planar_float_and_mono_frames_convert_without_scaling() -> None:
    signal = tone(1000.0, 0.02, RATE, -12.0)
    planar = av.AudioFrame.from_ndarray(np.stack([signal, signal]), format="fltp", layout="stereo")
    assert np.allclose(frame_to_mono(planar), signal)
    mono = av.AudioFrame.from_ndarray(
        np.round(signal * 32768).astype(np.int16).reshape(1, -1), format="s16", layout="mono"
    )
    assert np.allclose(frame_to_mono(mono), signal, atol=1 / 32768)


def test_reading_waits_for_one_tick_in_hand_then_gives_exact_ticks() -> None:
    audio = ReceivedAudio(room_rate=RATE, tick_ms=20)
    signal = tone(440.0, 0.1, RATE)
    audio.push(signal[:TICK])
    assert audio.read(0.0) is None  # prefill: one more tick before playout starts
    audio.push(signal[TICK:2000])
    first = audio.read(0.02)
    assert first is not None and np.array_equal(first, signal[:TICK])
    second = audio.read(0.04)
    assert second is not None and np.array_equal(second, signal[TICK : 2 * TICK])
    third = audio.read(0.06)  # 80 samples left: padded to a whole tick
    assert third is not None and len(third) == TICK
    assert np.array_equal(third[:80], signal[2 * TICK : 2000]) and not third[80:].any()
    assert audio.read(0.08) is None and audio.underruns == 1


def test_a_burst_is_cut_to_the_newest_100_ms() -> None:
    audio = ReceivedAudio(room_rate=RATE, tick_ms=20)
    burst = np.arange(15 * TICK, dtype=np.float32)  # 300 ms at once
    for index in range(15):
        audio.push(burst[index * TICK : (index + 1) * TICK])
    assert audio.buffered_seconds == pytest.approx(0.1)
    assert audio.samples_dropped == 10 * TICK
    frame = audio.read(0.0)
    assert frame is not None and frame[0] == 10 * TICK  # the oldest went, the newest stayed


def test_room_rate_conversion_keeps_the_tone_and_the_tick_length() -> None:
    audio = ReceivedAudio(room_rate=16000, tick_ms=20)
    signal = tone(1000.0, 0.4, RATE, -20.0)
    converted = []
    for index in range(20):
        audio.push(signal[index * TICK : (index + 1) * TICK])
        frame = audio.read(index * 0.02)
        if frame is not None:
            converted.append(audio.to_room_rate(frame, restart=not converted))
    assert {len(c) for c in converted} == {320}
    assert tone_level_dbfs(np.concatenate(converted[2:]), 1000.0, 16000) == pytest.approx(
        -20.0, abs=0.5
    )


async def test_packets_carry_tick_timestamps_and_aiortc_packs_them_unchanged() -> None:
    track = OpusPacketTrack(tick_ms=20)
    track.put(b"\x01first", tick=100)
    track.put(b"\x02third", tick=102)  # tick 101 was skipped: a gap, not a time warp
    encoder = AiortcOpusEncoder()  # what RTCRtpSender uses for an opus/48000/2 sender
    first, third = await track.recv(), await track.recv()
    assert (first.pts, third.pts) == (0, 2 * TICK)
    assert first.time_base == fractions.Fraction(1, RATE)
    assert encoder.pack(first) == ([b"\x01first"], 0)
    assert encoder.pack(third) == ([b"\x02third"], 2 * TICK)
    assert (track.packets, track.bytes) == (2, 12)


async def test_a_stalled_sender_gets_only_the_newest_packets_and_stop_ends_recv() -> None:
    track = OpusPacketTrack(tick_ms=20)
    for tick in range(MAX_QUEUED_PACKETS + 3):
        track.put(bytes([tick]), tick)
    assert track.dropped == 3
    assert bytes(await track.recv()) == bytes([3])
    track.stop()
    with pytest.raises(MediaStreamError):
        await track.recv()
    track.put(b"late", 99)
    assert track.packets == MAX_QUEUED_PACKETS + 3
