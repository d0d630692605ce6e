"""Source decoders: real x264/VP8 streams that change size, change codec, or arrive corrupt."""

from __future__ import annotations

import threading
import time
from fractions import Fraction

import av
import numpy as np

from mixer.decoding import DecoderPool, SourceDecoder


def encoded(
    codec: str, width: int, height: int, count: int, rgb: tuple[int, int, int]
) -> list[tuple[bytes, bool]]:
    """`count` frames of a plain colour, as (data, keyframe) access units."""
    context = av.CodecContext.create(codec, "w")
    context.width, context.height, context.pix_fmt = width, height, "yuv420p"
    context.time_base = Fraction(1, 25)
    if codec in ("libx264", "libx265"):  # no B-frames: cameras for command rooms send none
        context.options = {"preset": "ultrafast", "tune": "zerolatency", "g": "10"}
    picture = np.zeros((height, width, 3), np.uint8)
    picture[:] = rgb
    out: list[tuple[bytes, bool]] = []
    for index in range(count):
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
        frame.pts = index
        out += [(bytes(p), bool(p.is_keyframe)) for p in context.encode(frame)]
    out += [(bytes(p), bool(p.is_keyframe)) for p in context.encode(None)]
    return out


class Collector:
    def __init__(self) -> None:
        self.frames: list[av.VideoFrame] = []
        self.keyframe_requests = 0
        self.done = threading.Event()

    def sink(self, source_id: str, frame: av.VideoFrame, at: float) -> None:
        self.frames.append(frame)

    def request(self) -> None:
        self.keyframe_requests += 1


def decode_all(decoder: SourceDecoder) -> None:
    decoder.close()
    decoder.join(10)


def colour(frame: av.VideoFrame) -> tuple[int, int, int]:
    rgb = frame.to_ndarray(format="rgb24")
    mean = rgb.reshape(-1, 3).mean(axis=0)
    return int(mean[0]), int(mean[1]), int(mean[2])


def decoded(*streams: tuple[str, list[tuple[bytes, bool]]]) -> tuple[Collector, SourceDecoder]:
    """Every (codec name, access units) stream through one decoder, one after the other."""
    got = Collector()
    decoder = SourceDecoder("cam", got.sink, got.request)
    for codec, units in streams:
        for data, key in units:
            decoder.submit(codec, data, key)
    decode_all(decoder)
    return got, decoder


def test_a_resolution_change_mid_stream_decodes_at_the_new_size() -> None:
    got, decoder = decoded(
        ("H264", encoded("libx264", 320, 240, 10, (255, 0, 0))),
        ("H264", encoded("libx264", 640, 360, 10, (0, 0, 255))),
    )
    sizes = [(f.width, f.height) for f in got.frames]
    assert sizes[:10] == [(320, 240)] * 10 and sizes[-10:] == [(640, 360)] * 10
    assert colour(got.frames[-1])[2] > 200
    assert decoder.errors == 0


def test_a_codec_change_takes_a_new_decoder_at_the_next_keyframe() -> None:
    got, decoder = decoded(
        ("H264", encoded("libx264", 320, 240, 5, (255, 0, 0))),
        ("VP8", encoded("libvpx", 320, 240, 5, (0, 255, 0))),
    )
    assert len(got.frames) == 10
    assert decoder.codec == "VP8" and colour(got.frames[-1])[1] > 200


def test_corrupt_frames_are_counted_and_decoding_resumes_at_a_keyframe() -> None:
    got = Collector()
    decoder = SourceDecoder("cam", got.sink, got.request)
    stream = encoded("libx264", 320, 240, 30, (0, 0, 255))  # keyframes at 0, 10, 20
    for index, (data, key) in enumerate(stream):
        if index == 3:
            data = b"\x00\x00\x00\x01\x65" + bytes(range(256)) * 4  # garbage "IDR" slice
        decoder.submit("H264", data, key)
    decode_all(decoder)
    assert decoder.frames_decoded >= 20  # everything from the next keyframe on
    assert all(colour(f)[2] > 150 for f in got.frames[-10:])


def test_frames_before_the_first_keyframe_are_skipped_and_a_keyframe_is_asked_for() -> None:
    got = Collector()
    decoder = SourceDecoder("cam", got.sink, got.request)
    stream = encoded("libx264", 320, 240, 20, (0, 0, 255))
    for data, key in stream[1:]:  # joined mid-GOP
        decoder.submit("H264", data, key)
    decode_all(decoder)
    assert decoder.frames_dropped == 9 and decoder.frames_decoded == 10


def test_a_full_queue_drops_until_the_next_keyframe_and_asks_for_one() -> None:
    got = Collector()
    blocked = threading.Event()

    def slow_sink(source_id: str, frame: av.VideoFrame, at: float) -> None:
        blocked.wait(5)
        got.frames.append(frame)

    decoder = SourceDecoder("cam", slow_sink, got.request, queue_frames=3)
    stream = encoded("libx264", 160, 120, 20, (0, 0, 255))
    for data, key in stream[:5]:
        decoder.submit("H264", data, key)
    assert decoder.frames_dropped >= 1 and got.keyframe_requests == 1
    blocked.set()
    deadline = time.monotonic() + 5
    while decoder.frames_decoded + decoder.frames_dropped < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    for data, key in stream[5:]:  # the gap is only repaired by the keyframe at 10
        decoder.submit("H264", data, key)
        time.sleep(0.01)  # at the pace of a camera, the queue no longer fills
    decode_all(decoder)
    assert decoder.frames_decoded + decoder.frames_dropped == 20
    assert decoder.frames_decoded >= 3 + 10  # frames 5 to 9 wait for the keyframe at 10


def test_the_pool_decodes_each_source_once_for_every_wall() -> None:
    seen: list[str] = []
    pool = DecoderPool(lambda sid, frame, at: seen.append(sid))
    first = pool.open("cam", lambda: None)
    assert pool.open("cam", lambda: None) is first and pool.source_ids == ["cam"]
    for data, key in encoded("libx264", 160, 120, 5, (9, 9, 9)):
        first.submit("H264", data, key)
    deadline = time.monotonic() + 5
    while len(seen) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    pool.close_all()
    assert seen == ["cam"] * 5 and "cam" not in pool


def test_h265_from_a_field_camera_decodes_for_the_wall() -> None:
    got, decoder = decoded(("H265", encoded("libx265", 320, 240, 5, (0, 255, 0))))
    assert decoder.codec == "H265" and len(got.frames) == 5
    assert colour(got.frames[-1])[1] > 200
