"""The data path between the server and its video processes: frames, the backlog rule, and the
asyncio ends over a socketpair."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mediacore.datapath import (
    Backlog,
    DataPathError,
    FrameKind,
    MediaFrame,
    MediaFrameDecoder,
    audio,
    decode_body,
    encode_frame,
    video,
)
from mediacore.datapathio import DataPath

KEYFRAME = b"\x00\x00\x00\x01\x67\x42\x00\x1f" + b"\x00\x00\x00\x01\x65" + bytes(300)


def test_video_and_audio_frames_survive_a_round_trip() -> None:
    pcm = np.sin(np.arange(960, dtype=np.float32) / 10).astype(np.float32)
    frames = [
        video("p-1a2b", "H264", KEYFRAME, 90000, True),
        video("wall-hall-0", "H265", b"\x00\x00\x01\x26", None, False),
        video("摄像机-1", "", b"", -(2**63), False),  # no codec, empty payload, lowest pts
        audio("pull-7", pcm, 48000),
    ]
    stream = b"".join(encode_frame(f) for f in frames)
    decoded = MediaFrameDecoder().receive(stream)
    assert decoded[:3] == frames[:3]
    assert decoded[3].kind == FrameKind.AUDIO and decoded[3].rate == 48000
    assert np.array_equal(decoded[3].pcm(), pcm)


def test_the_header_is_twenty_bytes_before_id_codec_and_payload() -> None:
    data = encode_frame(video("ab", "H264", b"xyz", 3600, True))
    assert struct.unpack(">I", data[:4])[0] == len(data) - 4
    assert data[4:20] == struct.pack(">BBBBqI", 1, 0x03, 2, 4, 3600, 0)
    assert data[20:] == b"abH264xyz"


def test_a_frame_split_anywhere_is_joined_again() -> None:
    frame = video("p-1", "H264", KEYFRAME, 0, True)
    data = encode_frame(frame)
    for cut in (1, 3, 4, 5, 19, 20, 23, len(data) - 1):
        decoder = MediaFrameDecoder()
        assert decoder.receive(data[:cut]) == []
        assert decoder.receive(data[cut:]) == [frame]


def test_a_frame_longer_than_the_limit_is_refused_before_it_is_read() -> None:
    with pytest.raises(DataPathError):
        MediaFrameDecoder(max_frame=1024).receive(struct.pack(">I", 1025))


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\x01" * 15,  # shorter than the header
        struct.pack(">BBBBqI", 3, 0, 1, 0, 0, 0) + b"a",  # unknown kind
        struct.pack(">BBBBqI", 1, 0x04, 1, 0, 0, 0) + b"a",  # unknown flag
        struct.pack(">BBBBqI", 1, 0, 0, 0, 0, 0),  # no source id
        struct.pack(">BBBBqI", 1, 0, 5, 0, 0, 0) + b"ab",  # id runs past the end
        struct.pack(">BBBBqI", 1, 0, 1, 33, 0, 0) + b"a" * 40,  # codec name too long
        struct.pack(">BBBBqI", 1, 0, 2, 0, 0, 0) + b"\xff\xfe",  # id not UTF-8
        struct.pack(">BBBBqI", 1, 0, 1, 2, 0, 0) + b"a\xc3\xa9",  # codec not ASCII
        struct.pack(">BBBBqI", 1, 0, 1, 0, 0, 8000) + b"a",  # video with a rate
        struct.pack(">BBBBqI", 2, 0, 1, 0, 0, 0) + b"a",  # audio without a rate
        struct.pack(">BBBBqI", 2, 0x01, 1, 0, 0, 8000) + b"a",  # audio keyframe
        struct.pack(">BBBBqI", 2, 0, 1, 0, 0, 8000) + b"a" + b"\x00" * 3,  # not whole samples
        struct.pack(">BBBBqI", 2, 0, 1, 3, 0, 8000) + b"aAAC",  # audio with a codec
    ],
)
def test_bodies_that_break_the_format_raise_the_data_paths_own_error(body: bytes) -> None:
    with pytest.raises(DataPathError):
        decode_body(body)


@pytest.mark.parametrize(
    "frame",
    [
        video("", "H264", b"x", 0, True),
        video("x" * 256, "H264", b"x", 0, True),
        video("a", "H" * 33, b"x", 0, True),
        video("a", "H264", b"x", 2**63, True),
        MediaFrame(FrameKind.AUDIO, "a", b"\x00" * 4),  # no rate
        MediaFrame(FrameKind.AUDIO, "a", b"\x00" * 3, rate=8000),
        MediaFrame(FrameKind.VIDEO, "a", b"x", rate=8000),
    ],
)
def test_frames_the_format_cannot_carry_are_refused_when_encoded(frame: MediaFrame) -> None:
    with pytest.raises(DataPathError):
        encode_frame(frame)


@given(st.binary(max_size=300))
def test_any_bytes_only_parse_or_raise_the_data_paths_own_error(data: bytes) -> None:
    try:
        MediaFrameDecoder(max_frame=4096).receive(data)
    except DataPathError:
        pass


@given(st.binary(min_size=16, max_size=120))
def test_any_body_only_parses_or_raises_the_data_paths_own_error(body: bytes) -> None:
    try:
        frame = decode_body(body)
    except DataPathError:
        return
    assert decode_body(encode_frame(frame)[4:]) == frame  # what parses, re-encodes the same


@given(
    st.text(min_size=1, max_size=60).filter(lambda s: len(s.encode()) < 256),
    st.sampled_from(["", "H264", "H265", "VP8"]),
    st.binary(max_size=2000),
    st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
    st.booleans(),
    st.integers(1, 20),
)
def test_every_video_frame_survives_any_split(
    source: str, codec: str, payload: bytes, pts: int | None, keyframe: bool, pieces: int
) -> None:
    frame = video(source, codec, payload, pts, keyframe)
    data = encode_frame(frame) * 2
    decoder = MediaFrameDecoder()
    step = max(1, len(data) // pieces)
    received = []
    for start in range(0, len(data), step):
        received += decoder.receive(data[start : start + step])
    assert received == [frame, frame]


# -- the backlog rule -------------------------------------------------------------------------


def test_a_backlog_drops_above_its_limit_and_video_then_waits_for_a_keyframe() -> None:
    backlog = Backlog(limit=1000)
    video_kind, audio_kind = FrameKind.VIDEO, FrameKind.AUDIO
    assert backlog.admit(video_kind, "cam", False, buffered=999)
    assert not backlog.admit(video_kind, "cam", False, buffered=1000)
    assert backlog.waiting("cam") and not backlog.waiting("other")
    # drained, but a predicted frame after a gap is no use: still dropped
    assert not backlog.admit(video_kind, "cam", False, buffered=0)
    assert backlog.admit(video_kind, "other", False, buffered=0)
    assert not backlog.admit(video_kind, "cam", True, buffered=5000)  # a keyframe, still full
    assert backlog.admit(video_kind, "cam", True, buffered=0)
    assert not backlog.waiting("cam")
    assert backlog.admit(video_kind, "cam", False, buffered=0)
    # audio is dropped alone: the next frame goes as soon as there is room
    assert not backlog.admit(audio_kind, "pull-1", False, buffered=1000)
    assert backlog.admit(audio_kind, "pull-1", False, buffered=0)
    assert backlog.dropped == 4


# -- the asyncio ends -------------------------------------------------------------------------


async def _pair() -> tuple[DataPath, DataPath]:
    a, b = socket.socketpair()
    return await DataPath.over(a, "server"), await DataPath.over(b, "video")


async def test_frames_cross_a_socketpair_both_ways_and_from_other_threads() -> None:
    server, child = await _pair()
    to_child: list[MediaFrame] = []
    to_server: list[MediaFrame] = []
    child.on_frame = to_child.append
    server.on_frame = to_server.append
    sent = [video("cam", "H264", KEYFRAME, n * 3600, n == 0) for n in range(10)]
    for frame in sent:
        assert server.send(frame)
    tone = np.full(480, 0.25, dtype=np.float32)
    thread = threading.Thread(
        target=lambda: [child.send_threadsafe(audio("pull-1", tone, 48000)) for _ in range(5)]
    )
    thread.start()
    thread.join()
    for _ in range(100):
        if len(to_child) == 10 and len(to_server) == 5:
            break
        await asyncio.sleep(0.01)
    assert to_child == sent
    assert all(np.array_equal(f.pcm(), tone) for f in to_server)
    assert (server.frames_out, child.frames_in, child.frames_out) == (10, 10, 5)
    server.close()
    await asyncio.wait_for(child.closed, 2)
    assert not child.send(sent[0])  # closed: dropped, not raised


async def test_a_peer_that_does_not_read_makes_frames_drop_and_asks_for_a_keyframe_once() -> None:
    a, b = socket.socketpair()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    sender = await DataPath.over(a, "server")
    sender.backlog.limit = 64 * 1024
    asked: list[str] = []
    sender.on_drop = asked.append
    delta = video("cam", "H264", bytes(8000), 0, False)
    results = [sender.send(delta) for _ in range(100)]  # nobody reads b
    assert results[0] and not results[-1]
    assert sender.frames_dropped > 0 and asked == ["cam"]
    sender.close()
    b.close()
