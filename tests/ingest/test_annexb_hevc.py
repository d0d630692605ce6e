"""H.265 framing: HVCC (RTMP/MP4) and Annex B (RTP/TS) leave as Annex B with VPS/SPS/PPS on
every IRAP picture, so a wall or recorder can start decoding at any keyframe."""

from __future__ import annotations

import io
from fractions import Fraction

import av
import numpy as np
import pytest

from ingest.annexb import START_CODE, BitstreamError
from ingest.annexb_hevc import AUD, IRAP, PPS, SPS, VPS, HevcAnnexBWriter, nal_type


def nal(kind: int, body: bytes = b"\xaa\xbb") -> bytes:
    return bytes([kind << 1, 0x01]) + body


VPS_UNIT, SPS_UNIT, PPS_UNIT = nal(VPS, b"\x0c"), nal(SPS, b"\x01\x01"), nal(PPS, b"\xc1")
AUD_UNIT = nal(AUD, b"\x50")
IDR = nal(19, b"\xaf\x01")  # IDR_W_RADL
CRA = nal(21, b"\xaf\x02")
TRAIL = nal(1, b"\x02\x03")


def hvcc_extradata(length_size: int = 4, units: tuple[bytes, ...] = ()) -> bytes:
    units = units or (VPS_UNIT, SPS_UNIT, PPS_UNIT)
    header = bytearray(23)
    header[0] = 1
    header[21] = 0xFC | (length_size - 1)
    header[22] = len(units)
    arrays = b"".join(
        bytes([0x80 | nal_type(u)]) + (1).to_bytes(2, "big") + len(u).to_bytes(2, "big") + u
        for u in units
    )
    return bytes(header) + arrays


def hvcc(*units: bytes, length_size: int = 4) -> bytes:
    return b"".join(len(u).to_bytes(length_size, "big") + u for u in units)


def units_of(annexb: bytes) -> list[bytes]:
    assert annexb.startswith(START_CODE)
    return annexb[len(START_CODE) :].split(START_CODE)


@pytest.mark.parametrize("length_size", [1, 2, 4])
def test_hvcc_keyframe_gets_vps_sps_pps_in_front_and_other_frames_stay_as_they_are(
    length_size: int,
) -> None:
    writer = HevcAnnexBWriter.from_extradata(hvcc_extradata(length_size))
    data, keyframe = writer.convert(hvcc(IDR, length_size=length_size))
    assert keyframe
    assert units_of(data) == [VPS_UNIT, SPS_UNIT, PPS_UNIT, IDR]
    data, keyframe = writer.convert(hvcc(TRAIL, length_size=length_size))
    assert not keyframe and units_of(data) == [TRAIL]


def test_every_irap_type_is_a_keyframe_and_no_other_is() -> None:
    writer = HevcAnnexBWriter.from_extradata(hvcc_extradata())
    for kind in range(0, 41):
        _, keyframe = writer.convert(hvcc(nal(kind)))
        assert keyframe == (kind in IRAP), kind
    _, keyframe = writer.convert(hvcc(CRA))
    assert keyframe


def test_access_unit_delimiter_stays_first_and_in_band_sets_are_not_doubled() -> None:
    writer = HevcAnnexBWriter.from_extradata(hvcc_extradata())
    new_sps = nal(SPS, b"\x02\x02")
    data, _ = writer.convert(hvcc(AUD_UNIT, new_sps, IDR))
    assert units_of(data) == [AUD_UNIT, VPS_UNIT, new_sps, PPS_UNIT, IDR]
    data, _ = writer.convert(hvcc(CRA))  # the in-band SPS replaced the remembered one
    assert units_of(data) == [VPS_UNIT, new_sps, PPS_UNIT, CRA]


def test_annexb_input_learns_parameter_sets_in_band() -> None:
    writer = HevcAnnexBWriter.from_extradata(b"")
    assert writer.length_size == 0
    first = b"".join(START_CODE + u for u in (VPS_UNIT, SPS_UNIT, PPS_UNIT, IDR))
    data, keyframe = writer.convert(first)
    assert keyframe and units_of(data) == [VPS_UNIT, SPS_UNIT, PPS_UNIT, IDR]
    data, keyframe = writer.convert(b"\x00\x00\x01" + IDR)
    assert keyframe and units_of(data) == [VPS_UNIT, SPS_UNIT, PPS_UNIT, IDR]


def test_annexb_extradata_gives_the_parameter_sets() -> None:
    extradata = b"".join(START_CODE + u for u in (VPS_UNIT, SPS_UNIT, PPS_UNIT))
    writer = HevcAnnexBWriter.from_extradata(extradata)
    data, _ = writer.convert(START_CODE + IDR)
    assert units_of(data) == [VPS_UNIT, SPS_UNIT, PPS_UNIT, IDR]


@pytest.mark.parametrize("size", [256, 300, 511])
def test_hvcc_lengths_that_begin_like_a_start_code_are_read_as_lengths(size: int) -> None:
    """A 4-byte length of 256..511 begins 00 00 01: a length all the same."""
    first = nal(19, b"\x11" * (size - 2))
    writer = HevcAnnexBWriter.from_extradata(hvcc_extradata())
    data, keyframe = writer.convert(hvcc(first, IDR))
    assert keyframe
    assert units_of(data) == [VPS_UNIT, SPS_UNIT, PPS_UNIT, first, IDR]


@pytest.mark.parametrize(
    "extradata",
    [
        b"\x01\x02\x03",  # too short for hvcC
        hvcc_extradata()[:-3],  # last NAL unit cut
        hvcc_extradata(length_size=3),  # lengthSizeMinusOne = 2 is reserved
    ],
)
def test_bad_extradata_is_a_bitstream_error(extradata: bytes) -> None:
    with pytest.raises(BitstreamError):
        HevcAnnexBWriter.from_extradata(extradata)


@pytest.mark.parametrize(
    "packet",
    [
        (100).to_bytes(4, "big") + IDR,  # length past the end
        hvcc(IDR) + b"\x00\x00",  # trailing bytes
        (1).to_bytes(4, "big") + b"\x26",  # a NAL unit shorter than its header
    ],
)
def test_malformed_packets_are_bitstream_errors(packet: bytes) -> None:
    writer = HevcAnnexBWriter.from_extradata(hvcc_extradata())
    with pytest.raises(BitstreamError):
        writer.convert(packet)


def encode_hevc_mp4(frames: int = 30, gop: int = 10) -> bytes:
    """A real libx265 stream in MP4 (hvcC extradata, length-prefixed packets)."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx265", rate=25)
        stream.width, stream.height, stream.pix_fmt = 160, 128, "yuv420p"
        params = f"keyint={gop}:min-keyint={gop}:scenecut=0:open-gop=0:log-level=none"
        stream.options = {"x265-params": params}
        for index in range(frames):
            image = np.full((128, 160, 3), (index * 8) % 256, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, 25)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def test_real_hvcc_stream_decodes_from_any_keyframe_after_conversion() -> None:
    with av.open(io.BytesIO(encode_hevc_mp4()), "r") as container:
        stream = container.streams.video[0]
        extradata = stream.codec_context.extradata
        assert extradata is not None and extradata[0] == 1  # hvcC, not Annex B
        writer = HevcAnnexBWriter.from_extradata(extradata)
        packets = [p for p in container.demux(stream) if p.size]
        flagged = [p.is_keyframe for p in packets]  # the MP4's sync samples
        converted = [writer.convert(bytes(p)) for p in packets]
    assert [key for _, key in converted] == flagged
    keyframes = [i for i, (_, key) in enumerate(converted) if key]
    assert keyframes == [0, 10, 20]
    for start in keyframes:
        data = converted[start][0]
        assert [nal_type(u) for u in units_of(data)][:3] == [VPS, SPS, PPS]
        # a fresh decoder with no extradata, joining at this keyframe, decodes every frame
        decoder = av.CodecContext.create("hevc", "r")
        pictures = []
        for data, _ in converted[start:]:
            pictures += decoder.decode(av.Packet(data))
        pictures += decoder.decode(None)
        assert len(pictures) == len(converted) - start
        assert (pictures[0].width, pictures[0].height) == (160, 128)
