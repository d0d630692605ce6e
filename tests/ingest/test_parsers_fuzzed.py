"""Fuzzing the parsers that read what devices, cameras and clients send: each either parses or
raises its own error (a 400/488 or a dropped packet for the caller), never anything else."""

from __future__ import annotations

import struct
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bench.fuzztargets import targets
from ingest.annexb import AnnexBWriter, BitstreamError
from ingest.annexb_hevc import HevcAnnexBWriter
from ingest.gbnotify import (
    AlarmNotify,
    MobilePosition,
    encode_event_message,
    parse_event_message,
    parse_subscription_query,
)
from ingest.gbptz import PtzError, parse_ptz
from ingest.gbrtp import PsRtpReceiver
from ingest.gbsdp import GbSdpError, build_offer, parse_answer
from ingest.gbtalksdp import ps_audio_offer
from ingest.manscdp import (
    DeviceControl,
    Keepalive,
    ManscdpError,
    PresetItem,
    PresetResponse,
    encode_message,
    parse_message,
)
from ingest.psaudio import PsAudioAdapter
from mediacore.rtp import RtpPacket
from mediacore.sdp import SdpError, SessionDescription
from mixer.layout import LayoutError, parse_wall

FUZZ = settings(max_examples=300, deadline=None)


@FUZZ
@given(st.binary(max_size=2048))
def test_manscdp_bytes_parse_or_raise_manscdp_error(data: bytes) -> None:
    try:
        parse_message(data)
    except ManscdpError:
        pass


@FUZZ
@given(st.integers(0, 200), st.binary(max_size=8))
def test_manscdp_truncated_or_patched_documents_raise_only_manscdp_error(
    cut: int, patch: bytes
) -> None:
    document = encode_message(Keepalive("34020000001320000001", 7, "OK"))
    mutated = document[:cut] + patch + document[cut + len(patch) :]
    try:
        parse_message(mutated)
    except ManscdpError:
        pass


@FUZZ
@given(st.integers(0, 400), st.binary(max_size=8))
def test_ptz_documents_patched_raise_only_manscdp_or_ptz_error(cut: int, patch: bytes) -> None:
    device = "34020000001310000001"
    for document in (
        encode_message(DeviceControl(device, 9, "A50F0108001F00DC")),
        encode_message(PresetResponse(device, 10, (PresetItem(1, "大门"), PresetItem(2)))),
    ):
        mutated = document[:cut] + patch + document[cut + len(patch) :]
        try:
            message = parse_message(mutated)
            if isinstance(message, DeviceControl):
                parse_ptz(message.ptz_cmd)
        except (ManscdpError, PtzError):
            pass


@FUZZ
@given(st.binary(max_size=2048))
def test_gb_event_bytes_parse_or_raise_manscdp_error(data: bytes) -> None:
    for parse in (parse_event_message, parse_subscription_query):
        try:
            parse(data)
        except ManscdpError:
            pass


@FUZZ
@given(st.text(max_size=40))
def test_ptzcmd_text_decodes_or_raises_ptz_error(text: str) -> None:
    try:
        command = parse_ptz(text)
    except PtzError:
        return
    assert len(command.action) > 0


@FUZZ
@given(st.integers(0, 400), st.binary(max_size=8), st.booleans())
def test_alarms_and_positions_truncated_or_patched_raise_only_manscdp_error(
    cut: int, patch: bytes, alarm: bool
) -> None:
    device = "34020000001320000001"
    message = (
        AlarmNotify(device, 9, 1, "2", "2024-01-01T00:00:00", "越界", 116.4, 39.9, "1")
        if alarm
        else MobilePosition(device, 9, 116.4, 39.9, "2024-01-01T00:00:00", 5.0, 45.0, 10.0)
    )
    document = encode_event_message(message)
    mutated = document[:cut] + patch + document[cut + len(patch) :]
    try:
        parse_event_message(mutated)
    except ManscdpError:
        pass


@FUZZ
@given(st.text(max_size=1024))
def test_sdp_answers_parse_or_raise_gb_sdp_error(text: str) -> None:
    try:
        parse_answer(text)
    except GbSdpError:
        pass


@FUZZ
@given(st.lists(st.integers(0, 400), max_size=6), st.text(max_size=12))
def test_a_real_answer_with_lines_dropped_or_garbled_raises_only_gb_sdp_error(
    dropped: list[int], garbage: str
) -> None:
    offer = build_offer(
        platform_id="34020000002000000001",
        channel_id="34020000001320000001",
        address="127.0.0.1",
        port=30000,
        ssrc="0100000001",
    )
    lines = str(offer).splitlines()
    kept = [line for i, line in enumerate(lines) if i not in dropped]
    kept.insert(len(kept) // 2, garbage)
    try:
        parse_answer("\r\n".join(kept) + "\r\n")
    except GbSdpError:
        pass


def _rtp(seq: int, ssrc: int, payload: bytes, pt: int, marker: bool) -> bytes:
    return struct.pack("!BBHII", 0x80, pt | (0x80 if marker else 0), seq, 0, ssrc) + payload


@FUZZ
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=64),
            st.builds(
                _rtp,
                st.integers(0, 0xFFFF),
                st.sampled_from([1, 2]),
                st.binary(max_size=200),
                st.sampled_from([96, 97]),
                st.booleans(),
            ),
        ),
        max_size=40,
    )
)
def test_ps_over_rtp_datagrams_never_raise(datagrams: list[bytes]) -> None:
    receiver = PsRtpReceiver()
    for data in datagrams:
        receiver.receive(data)
    assert receiver.packets + receiver.malformed + receiver.wrong_ssrc <= len(datagrams)
    talkback = PsAudioAdapter()  # a talkback device's G.711 in PS: RTP for the leg, or nothing
    for data in datagrams:
        for datagram in talkback.received(data):
            assert datagram == data or RtpPacket.parse(datagram).payload_type == 8


@FUZZ
@given(st.text(max_size=600), st.sampled_from(["PS/90000", "PCMA/8000", "ps/90000/1"]))
def test_talkback_offers_in_ps_read_or_are_left_alone(f_line: str, rtpmap: str) -> None:
    text = (
        "v=0\r\no=- 0 0 IN IP4 10.0.0.5\r\ns=Talk\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n"
        f"m=audio 30000 RTP/AVP 96\r\na=rtpmap:96 {rtpmap}\r\n"
        f"f={f_line.replace(chr(13), '').replace(chr(10), '')}\r\n"
    )
    try:
        offer = SessionDescription.parse(text)
    except SdpError:
        return
    found = ps_audio_offer(offer)
    if found is not None:
        assert found[0].codec in ("pcma", "pcmu") and found[1].media[0].formats in (["8"], ["0"])


@FUZZ
@given(st.one_of(st.none(), st.binary(max_size=64)), st.lists(st.binary(max_size=256), max_size=8))
def test_camera_bitstreams_convert_or_raise_bitstream_error(
    extradata: bytes | None, packets: list[bytes]
) -> None:
    for writer_class in (AnnexBWriter, HevcAnnexBWriter):
        try:
            writer: Any = writer_class.from_extradata(extradata)
        except BitstreamError:
            continue
        for packet in packets:
            try:
                writer.convert(packet)
            except BitstreamError:
                pass


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-10, 10_000)
    | st.floats(allow_nan=True)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
WALL_KEYS = st.fixed_dictionaries(
    {},
    optional={
        "canvas": st.one_of(
            JSON,
            st.fixed_dictionaries(
                {"width": st.integers(-2, 9000), "height": st.integers(-2, 5000)},
                optional={"fps": JSON},
            ),
        ),
        "layout": st.one_of(
            JSON,
            st.fixed_dictionaries(
                {"kind": st.sampled_from(["grid", "grid-9", "grid-0", "focus", "pip", "custom"])},
                optional={"regions": JSON, "main": JSON},
            ),
        ),
        "outputs": JSON,
        "room": JSON,
    },
)


@FUZZ
@given(st.one_of(JSON, WALL_KEYS))
def test_wall_definitions_parse_or_raise_layout_error(data: Any) -> None:
    try:
        parse_wall(data)
    except LayoutError:
        pass


UPPER_CHECK, UPPER_SEEDS = targets()["gb-upper"].make()  # the fuzz bench's own entry points


@FUZZ
@given(st.one_of(st.binary(max_size=2048), st.sampled_from(UPPER_SEEDS)), st.binary(max_size=8))
def test_an_upper_platforms_documents_and_offers_parse_or_raise_their_own_error(
    data: bytes, patch: bytes
) -> None:
    UPPER_CHECK(data)
    UPPER_CHECK(data[: len(data) // 2] + patch + data[len(data) // 2 + len(patch) :])


RECORDS_CHECK, RECORDS_SEEDS = targets()["gb-records"].make()
MANSRTSP_CHECK, MANSRTSP_SEEDS = targets()["mansrtsp"].make()


@FUZZ
@given(st.one_of(st.binary(max_size=2048), st.sampled_from(RECORDS_SEEDS)), st.binary(max_size=8))
def test_record_info_and_media_status_parse_or_raise_manscdp_error(
    data: bytes, patch: bytes
) -> None:
    RECORDS_CHECK(data)
    RECORDS_CHECK(data[: len(data) // 2] + patch + data[len(data) // 2 + len(patch) :])


@FUZZ
@given(st.one_of(st.binary(max_size=1200), st.sampled_from(MANSRTSP_SEEDS)), st.binary(max_size=6))
def test_mansrtsp_bodies_parse_or_raise_mansrtsp_error(data: bytes, patch: bytes) -> None:
    MANSRTSP_CHECK(data)
    MANSRTSP_CHECK(data[: len(data) // 2] + patch + data[len(data) // 2 + len(patch) :])
