"""H.264 framing: AVCC (RTMP/MP4) and Annex B (RTSP/TS) leave as Annex B with SPS/PPS on IDRs."""

from __future__ import annotations

import pytest

from ingest.annexb import START_CODE, AnnexBWriter, BitstreamError
from ingest.puller import PullError, pull_target

SPS = bytes([0x67, 0x42, 0xC0, 0x1E, 0xDA, 0x02, 0x80])
PPS = bytes([0x68, 0xCE, 0x3C, 0x80])
IDR = bytes([0x65, 0x88, 0x84, 0x00, 0x33])
SLICE = bytes([0x41, 0x9A, 0x02, 0x04])


def avcc_extradata(length_size: int = 4) -> bytes:
    return (
        bytes([1, 0x42, 0xC0, 0x1E, 0xFC | (length_size - 1), 0xE1])
        + len(SPS).to_bytes(2, "big")
        + SPS
        + bytes([1])
        + len(PPS).to_bytes(2, "big")
        + PPS
    )


def avcc(*units: bytes, length_size: int = 4) -> bytes:
    return b"".join(len(u).to_bytes(length_size, "big") + u for u in units)


def test_avcc_keyframe_gets_parameter_sets_from_avcc_extradata() -> None:
    writer = AnnexBWriter.from_extradata(avcc_extradata())
    data, keyframe = writer.convert(avcc(IDR))
    assert keyframe
    assert data == START_CODE + SPS + START_CODE + PPS + START_CODE + IDR


def test_avcc_delta_frame_is_not_a_keyframe_and_gets_no_parameter_sets() -> None:
    writer = AnnexBWriter.from_extradata(avcc_extradata(length_size=2))
    data, keyframe = writer.convert(avcc(SLICE, length_size=2))
    assert not keyframe
    assert data == START_CODE + SLICE


def test_annexb_in_band_parameter_sets_replace_the_extradata_ones() -> None:
    writer = AnnexBWriter.from_extradata(START_CODE + SPS + START_CODE + PPS)
    new_sps = SPS[:-1] + b"\x81"
    data, keyframe = writer.convert(START_CODE + new_sps + START_CODE + PPS + b"\x00\x00\x01" + IDR)
    assert keyframe and data.count(START_CODE) == 3
    data, _ = writer.convert(START_CODE + IDR)
    assert data == START_CODE + new_sps + START_CODE + PPS + START_CODE + IDR


@pytest.mark.parametrize("size", [1, 256, 389, 511])
def test_avcc_lengths_that_begin_like_a_start_code_are_read_as_lengths(size: int) -> None:
    """A 4-byte length of 1 is 00 00 00 01, one of 256..511 begins 00 00 01: x264's first IDR
    slice of a 640x360 camera is 389 bytes. Each is a length, not a start code."""
    first = (IDR + b"\x11" * size)[:size]
    writer = AnnexBWriter.from_extradata(avcc_extradata())
    data, keyframe = writer.convert(avcc(first, IDR))
    assert keyframe
    assert data == START_CODE + SPS + START_CODE + PPS + START_CODE + first + START_CODE + IDR


@pytest.mark.parametrize("start_code", [START_CODE, b"\x00\x00\x01"])
def test_annexb_packets_under_an_avcc_header_are_still_read(start_code: bytes) -> None:
    writer = AnnexBWriter.from_extradata(avcc_extradata())
    data, keyframe = writer.convert(start_code + IDR + start_code + IDR)
    assert keyframe
    assert data == START_CODE + SPS + START_CODE + PPS + START_CODE + IDR + START_CODE + IDR


def test_a_length_past_the_packet_is_refused() -> None:
    writer = AnnexBWriter.from_extradata(avcc_extradata())
    with pytest.raises(BitstreamError):
        writer.convert(b"\x00\x00\x10\x00" + IDR)


def test_extradata_that_is_neither_form_is_refused() -> None:
    with pytest.raises(BitstreamError):
        AnnexBWriter.from_extradata(b"\x07garbage")


@pytest.mark.parametrize(
    ("url", "transport"),
    [("rtsp://cam/1", "tcp"), ("rtsp+tcp://cam/1", "tcp"), ("rtsp+udp://cam/1", "udp")],
)
def test_rtsp_transport_comes_from_the_scheme(url: str, transport: str) -> None:
    target = pull_target(url)
    assert target.url == "rtsp://cam/1"
    assert target.options["rtsp_transport"] == transport
    assert not target.relay


def test_srt_goes_through_the_relay_and_rtmp_gets_a_read_timeout() -> None:
    assert pull_target("srt://cam:9000?mode=caller").relay
    assert pull_target("rtmp://cam/live/x", read_timeout=2).options["rw_timeout"] == "2000000"


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "udp://0.0.0.0:1234", "http://cam/video.mp4", "rtsp:///nohost"]
)
def test_other_urls_are_refused_for_good(url: str) -> None:
    with pytest.raises(PullError) as raised:
        pull_target(url)
    assert raised.value.permanent
