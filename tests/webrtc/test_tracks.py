"""Track adapters: decoded frames to mono, and Opus packets handed to aiortc unencoded."""

from __future__ import annotations

import fractions

import av
import numpy as np
import pytest
from aiortc.codecs.opus import OpusEncoder as AiortcOpusEncoder
from aiortc.mediastreams import MediaStreamError

from mediacore.audio import tone, tone_level_dbfs
from webrtc.tracks import MAX_QUEUED_PACKETS, OpusPacketTrack, frame_to_mono

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
