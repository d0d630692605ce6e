"""Recordings of GB/T 28181 devices, without I/O: RecordInfo (A.2.4.5 query, A.2.6.9 response)
and its paging, MediaStatus 121, MANSRTSP (annex B), the s=Playback/s=Download offer, the
playback URL, the download file, and the simulator's pacing of a recording."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ingest.gbdevices import GbDeviceTable
from ingest.gbdownload import GbDownloads, PsFileWriter
from ingest.gbmansrtsp import MansrtspError, PlaybackControl, parse_control
from ingest.gbreader import gb_target
from ingest.gbrecordings import GbRecordings
from ingest.gbrecords import (
    MEDIA_STATUS_END,
    MediaStatus,
    RecordCollector,
    RecordInfoQuery,
    RecordInfoResponse,
    RecordItem,
    encode_records_message,
    gb_time,
    parse_gb_time,
    parse_records_message,
    time_range,
)
from ingest.gbrecordsearch import RecordSearches
from ingest.gbsdp import build_offer
from ingest.gbsettings import GbSettings, parse_gb28181_settings
from ingest.manscdp import ManscdpError
from ingest.ps import DemuxedFrame, PsDemuxer
from ingest.puller import PullError
from mediacore.events import EventBus
from sip.message import Headers, Request
from sip.peer import Peer
from tools.gbdevice_records import Playback, parse_recording

CHANNEL = "64010000001310000001"
T0 = 1289504777  # 2010-11-11T19:46:17 UTC, the standard's example time
GB_DEVICE = "34020000001320000001"
GB_OTHER = "34020000001320000002"


# -- A.2.4.5 Query/RecordInfo --------------------------------------------------------------


def test_record_info_query_is_written_as_the_standard_shows() -> None:
    query = RecordInfoQuery(CHANNEL, 17430, T0, T0 + 86400, "time", 0)
    assert encode_records_message(query) == (
        b'<?xml version="1.0" encoding="GB2312"?>\r\n'
        b"<Query>\r\n"
        b"<CmdType>RecordInfo</CmdType>\r\n"
        b"<SN>17430</SN>\r\n"
        b"<DeviceID>64010000001310000001</DeviceID>\r\n"
        b"<StartTime>2010-11-11T19:46:17</StartTime>\r\n"
        b"<EndTime>2010-11-12T19:46:17</EndTime>\r\n"
        b"<Secrecy>0</Secrecy>\r\n"
        b"<Type>time</Type>\r\n"
        b"</Query>\r\n"
    )
    assert parse_records_message(encode_records_message(query)) == query


STANDARD_RESPONSE = """<?xml version="1.0" encoding="GB2312"?>
<Response>
<CmdType>RecordInfo</CmdType>
<SN>17430</SN>
<DeviceID>64010000001310000001</DeviceID>
<Name>Camera1</Name>
<SumNum>100</SumNum>
<RecordList Num="2">
<Item>
<DeviceID>64010000001310000001</DeviceID>
<Name>前门录像</Name>
<FilePath>64010000002100000001</FilePath>
<Address>Address 1</Address>
<StartTime>2010-11-12T10:10:00</StartTime>
<EndTime>2010-11-12T10:20:00</EndTime>
<Secrecy>0</Secrecy>
<Type>time</Type>
<RecorderID>64010000003000000001</RecorderID>
<FileSize>1048576</FileSize>
</Item>
<Item>
<DeviceID>64010000001310000001</DeviceID>
<Name>Camera1</Name>
<FilePath>64010000002100000002</FilePath>
<Address>Address 1</Address>
<StartTime>2010-11-12 10:20:00</StartTime>
<EndTime>2010-11-12T10:30:00</EndTime>
<Secrecy> 0 </Secrecy>
<Type>alarm</Type>
</Item>
</RecordList>
</Response>
""".replace("\n", "\r\n").encode("gb18030")


def test_the_standards_record_info_response_is_read_with_its_items() -> None:
    response = parse_records_message(STANDARD_RESPONSE)
    assert isinstance(response, RecordInfoResponse)
    assert (response.device_id, response.sn, response.sum_num) == (CHANNEL, 17430, 100)
    first, second = response.items
    assert first.name == "前门录像" and first.file_size == 1048576
    assert first.start == parse_gb_time("2010-11-12T10:10:00") == 1289556600
    assert first.end == first.start + 600 and first.type == "time"
    assert first.recorder_id == "64010000003000000001"
    assert second.start == first.end and second.type == "alarm"  # "T" or a space
    assert second.file_size is None and second.secrecy == 0


def test_a_response_round_trips() -> None:
    items = (RecordItem(CHANNEL, "录像", "/a.ps", "中心", T0, T0 + 3, 0, "time", "", 150000),)
    response = RecordInfoResponse(CHANNEL, 9, 1, "前门", items)
    assert parse_records_message(encode_records_message(response)) == response


def test_media_status_121_round_trips_and_other_commands_are_not_ours() -> None:
    notify = MediaStatus(CHANNEL, 4, MEDIA_STATUS_END)
    assert b"<NotifyType>121</NotifyType>" in encode_records_message(notify)
    assert parse_records_message(encode_records_message(notify)) == notify
    keepalive = b"<Notify><CmdType>Keepalive</CmdType><SN>1</SN><DeviceID>1</DeviceID></Notify>"
    assert parse_records_message(keepalive) is None


@pytest.mark.parametrize(
    "body",
    [
        b"<Query><CmdType>RecordInfo</CmdType><SN>1</SN><DeviceID>x</DeviceID></Query>",
        b"<Query><CmdType>RecordInfo</CmdType><SN>1</SN><DeviceID>x</DeviceID>"
        b"<StartTime>soon</StartTime><EndTime>later</EndTime></Query>",
        b"<Response><CmdType>RecordInfo</CmdType><SN>1</SN><DeviceID>x</DeviceID></Response>",
        b"<Notify><CmdType>MediaStatus</CmdType><SN>1</SN><DeviceID>x</DeviceID></Notify>",
        b"<Response><CmdType>RecordInfo</CmdType><SN>x</SN></Response>",
    ],
)
def test_incomplete_documents_raise_manscdp_error(body: bytes) -> None:
    with pytest.raises(ManscdpError):
        parse_records_message(body)


def test_a_response_with_too_many_items_is_refused() -> None:
    item = f"<Item><DeviceID>{CHANNEL}</DeviceID></Item>"
    body = (
        "<Response><CmdType>RecordInfo</CmdType><SN>1</SN><DeviceID>x</DeviceID>"
        f"<SumNum>2000</SumNum><RecordList>{item * 1001}</RecordList></Response>"
    ).encode()
    with pytest.raises(ManscdpError, match="more than 1000 items"):
        parse_records_message(body)


# -- paging ---------------------------------------------------------------------------------


def _page(sn: int, total: int, starts: list[int], device: str = CHANNEL) -> RecordInfoResponse:
    items = tuple(RecordItem(CHANNEL, start=s, end=s + 10, file_path=f"/{s}") for s in starts)
    return RecordInfoResponse(device, sn, total, items=items)


def test_pages_are_collected_until_sum_num_items_in_time_order() -> None:
    collector = RecordCollector(CHANNEL, 7)
    assert not collector.add(_page(7, 5, [T0 + 40, T0 + 30]))
    assert not collector.add(_page(7, 5, [T0 + 40, T0 + 30]))  # repeated: nothing twice
    assert not collector.add(_page(7, 5, [T0 + 20, T0]))
    assert collector.add(_page(7, 5, [T0 + 10]))
    assert [r.start for r in collector.records()] == [T0 + i * 10 for i in range(5)]
    assert collector.matches(_page(7, 5, [])) and not collector.matches(_page(8, 5, []))
    assert not collector.matches(_page(7, 5, [], device="64010000001310000002"))


def test_no_recordings_is_one_page_with_sum_num_0() -> None:
    collector = RecordCollector(CHANNEL, 1)
    assert collector.add(_page(1, 0, []))
    assert collector.records() == []


def test_a_query_keeps_at_most_its_limit() -> None:
    collector = RecordCollector(CHANNEL, 1, limit=3)
    assert collector.add(_page(1, 10**6, [T0 + i for i in range(5)]))
    assert len(collector.records()) == 3


async def test_searches_wait_for_their_pages_and_give_up_on_silence() -> None:
    searches = RecordSearches()
    device = "64010000001320000001"
    with searches.open(device, CHANNEL, 3) as search:
        assert not searches.page("64010000001320000009", _page(3, 2, [T0]))  # another device
        assert searches.page(device, _page(3, 2, [T0]))
        assert await search.wait(0.05) is not None  # what came, when the time is up
        asyncio.get_running_loop().call_soon(searches.page, device, _page(3, 2, [T0 + 1]))
        assert [r.start for r in await search.wait(1.0) or []] == [T0, T0 + 1]
    with searches.open(device, CHANNEL, 4) as silent:
        assert await silent.wait(0.05) is None
    assert not searches.page(device, _page(4, 1, [T0]))  # closed: forgotten


# -- times -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "unix"),
    [
        ("2010-11-11T19:46:17", T0),
        ("2010-11-11 19:46:17", T0),
        ("2010-11-11T19:46:17Z", T0),
        ("2010-11-12T03:46:17+08:00", T0),
        ("2010-11-12T03:46:17 08:00", T0),  # a URL query's "+" read as a space
        ("tomorrow", None),
        ("", None),
    ],
)
def test_gb_times(text: str, unix: int | None) -> None:
    assert parse_gb_time(text) == unix


def test_gb_time_writes_utc_without_a_zone() -> None:
    assert gb_time(T0) == "2010-11-11T19:46:17"


@pytest.mark.parametrize(
    ("start", "end", "error"),
    [
        ("", "2010-11-11T19:46:17", "needed"),
        ("now", "later", "ISO 8601"),
        ("2010-11-11T19:46:17", "2010-11-11T19:46:17", "after start"),
        ("2010-11-01T00:00:00", "2010-11-11T00:00:00", "longer than 7 days"),
    ],
)
def test_bad_ranges_say_what_is_wrong(start: str, end: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        time_range(start, end)


# -- MANSRTSP (annex B) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("control", "body"),
    [
        (PlaybackControl("PAUSE", 1), b"PAUSE RTSP/1.0\r\nCSeq: 1\r\nPauseTime: now\r\n"),
        (PlaybackControl("PLAY", 2), b"PLAY RTSP/1.0\r\nCSeq: 2\r\nRange: npt=now-\r\n"),
        (
            PlaybackControl("PLAY", 3, position=100),
            b"PLAY RTSP/1.0\r\nCSeq: 3\r\nRange: npt=100-\r\n",
        ),
        (PlaybackControl("PLAY", 4, scale=0.5), b"PLAY RTSP/1.0\r\nCSeq: 4\r\nScale: 0.5\r\n"),
        (PlaybackControl("TEARDOWN", 5), b"TEARDOWN RTSP/1.0\r\nCSeq: 5\r\n"),
    ],
)
def test_controls_are_written_as_annex_b_shows_and_read_back(
    control: PlaybackControl, body: bytes
) -> None:
    assert control.encode() == body
    assert parse_control(body) == control


def test_devices_lowercase_headers_and_bare_newlines_are_read() -> None:
    control = parse_control(b"PLAY RTSP/1.0\ncseq: 9\nscale: 2.000000\nrange: npt=12.5-\n")
    assert control == PlaybackControl("PLAY", 9, position=12.5, scale=2.0)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"GET RTSP/1.0\r\nCSeq: 1\r\n",
        b"PLAY RTSP/2.0\r\nCSeq: 1\r\n",
        b"PLAY RTSP/1.0\r\n",
        b"PLAY RTSP/1.0\r\nCSeq: 1\r\nScale: 8\r\n",
        b"PLAY RTSP/1.0\r\nCSeq: 1\r\nScale: nan\r\n",
        b"PLAY RTSP/1.0\r\nCSeq: 1\r\nRange: clock=1-\r\n",
        b"PLAY RTSP/1.0\r\nCSeq: 1\r\nno colon\r\n",
        "PLAY RTSP/1.0\r\nCSeq: 一\r\n".encode(),
        b"PLAY RTSP/1.0\r\nCSeq: 1\r\n" + b"X: y\r\n" * 300,
    ],
)
def test_bad_controls_raise_mansrtsp_error(body: bytes) -> None:
    with pytest.raises(MansrtspError):
        parse_control(body)


def test_out_of_range_controls_are_not_written() -> None:
    with pytest.raises(MansrtspError, match="scale"):
        PlaybackControl("PLAY", 1, scale=5).encode()
    with pytest.raises(MansrtspError, match="position"):
        PlaybackControl("PLAY", 1, position=-1).encode()


# -- the offer and the source URL ------------------------------------------------------------


def test_download_offer_says_download_with_its_speed_and_range() -> None:
    offer = build_offer(
        platform_id="34020000002000000001",
        channel_id=CHANNEL,
        address="10.0.0.5",
        port=30006,
        ssrc="1200000004",
        playback=(T0, T0 + 60),
        download_speed=4,
    ).serialize()
    assert "s=Download\r\n" in offer and f"t={T0} {T0 + 60}\r\n" in offer
    assert f"u={CHANNEL}:0\r\n" in offer and "a=downloadspeed:4\r\n" in offer
    assert "y=1200000004\r\n" in offer


def test_a_playback_url_carries_its_range_in_unix_seconds() -> None:
    target = gb_target(
        f"gb28181://34020000001320000001/{CHANNEL}"
        "?start=2010-11-11T19:46:17Z&end=2010-11-11T19:47:17Z&transport=tcp"
    )
    assert target.options["start"] == str(T0) and target.options["end"] == str(T0 + 60)
    assert target.options["transport"] == "tcp"
    live = gb_target(f"gb28181://34020000001320000001/{CHANNEL}")
    assert "start" not in live.options


@pytest.mark.parametrize(
    "query", ["start=2010-11-11T19:46:17Z", "start=x&end=y", "start=2010-11-12&end=2010-11-11"]
)
def test_a_bad_playback_range_fails_the_source_for_good(query: str) -> None:
    with pytest.raises(PullError) as caught:
        gb_target(f"gb28181://34020000001320000001/{CHANNEL}?{query}")
    assert caught.value.permanent and "playback" in caught.value.reason


# -- the download file ------------------------------------------------------------------------

IDR = b"\x00\x00\x00\x01\x67\x42\x00\x1e" + b"\x00\x00\x00\x01\x68\xce" + b"\x00\x00\x01\x65\x88"
P = b"\x00\x00\x00\x01\x41\x9a"


def test_the_download_file_is_a_program_stream_of_what_arrived() -> None:
    out = io.BytesIO()
    writer = PsFileWriter(out)
    writer.frame(DemuxedFrame("audio", "pcma", 0, b"\xd5" * 320))  # before any video: left out
    writer.frame(DemuxedFrame("video", "h264", 9000, P))  # before the keyframe: left out
    assert writer.bytes == 0
    writer.frame(DemuxedFrame("video", "h264", 90000, IDR, keyframe=True))
    writer.frame(DemuxedFrame("audio", "pcma", 90000, b"\xd5" * 320))
    writer.frame(DemuxedFrame("video", "h264", 90000 + 3600 * 25, P))
    assert writer.bytes == len(out.getvalue())
    demuxer = PsDemuxer()
    frames = demuxer.feed(out.getvalue(), True, 0)
    frames += demuxer.feed(b"\x00\x00\x01\xba", True, 0)  # a next pack ends the last frame
    assert sorted((f.pts, f.kind, f.data) for f in frames) == [
        (90000, "audio", b"\xd5" * 320),
        (90000, "video", IDR),
        (180000, "video", P),
    ]


# -- the simulator's playback ----------------------------------------------------------------


def test_a_recording_spec_reads_colour_and_times() -> None:
    recording = parse_recording("blue@2010-11-11T19:46:17Z/2010-11-11T19:46:20Z@2")
    assert (recording.colour, recording.start, recording.end) == ("blue", T0, T0 + 3)
    assert recording.channel == 2


def test_the_simulator_sends_each_frame_once_and_jumps_on_seek() -> None:
    sent: list[int] = []
    ended = threading.Event()
    stop = threading.Event()
    playback = Playback([b"k", b"p"], 25, duration=2.0, scale=4.0, on_end=ended.set)

    def send(unit: bytes, index: int, pts: int) -> None:
        sent.append(index)
        assert pts == index * 3600
        if index == 5:
            playback.control(PlaybackControl("PLAY", 1, position=1.6))  # frame 40

    thread = threading.Thread(target=playback.drive, args=(send, stop))
    thread.start()
    assert ended.wait(3)
    stop.set()
    thread.join(3)
    assert sent == [*range(6), *range(40, 50)]
    assert playback.finished


# -- the devices' time zone ---------------------------------------------------------------------


def test_times_are_written_and_read_in_the_devices_zone() -> None:
    shanghai = parse_gb28181_settings(
        {"domain": "3402000000", "password": "x", "time_zone": "Asia/Shanghai"}
    ).zone
    query = RecordInfoQuery(CHANNEL, 1, T0, T0 + 60)
    document = encode_records_message(query, zone=shanghai)
    assert b"<StartTime>2010-11-12T03:46:17</StartTime>" in document  # UTC+8
    assert parse_records_message(document, shanghai) == query
    assert parse_gb_time("2010-11-12T03:46:17", shanghai) == T0
    assert parse_gb_time("2010-11-11T19:46:17Z", shanghai) == T0  # a written zone wins


def test_the_time_zone_setting_defaults_to_utc_and_refuses_unknown_zones() -> None:
    assert parse_gb28181_settings({"domain": "3402000000", "password": "x"}).time_zone == "UTC"
    for bad in ("Mars/Olympus", 8, "../etc/passwd"):
        with pytest.raises(ValueError, match="time_zone"):
            parse_gb28181_settings({"domain": "3402000000", "password": "x", "time_zone": bad})


# -- the platform's side: MediaStatus reaches its own play -------------------------------------


@dataclass
class _Play:
    device_id: str
    channel_id: str
    kind: str
    heard: list[int] = field(default_factory=list)
    dialog: Any = None

    @property
    def on_status(self) -> Callable[[int], None]:
        return self.heard.append


def _from_device(call_id: str, body: bytes, device: str = GB_DEVICE) -> Request:
    headers = Headers(
        [
            ("Via", "SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bKdev"),
            ("From", f"<sip:{device}@3402000000>;tag=d1"),
            ("To", "<sip:34020000002000000001@3402000000>"),
            ("Call-ID", call_id),
            ("CSeq", "5 MESSAGE"),
        ]
    )
    return Request(headers, body, "MESSAGE", "sip:34020000002000000001@3402000000")


def test_media_status_ends_the_devices_own_playback_in_or_out_of_its_dialog() -> None:
    devices = GbDeviceTable()
    device = Peer("udp", "10.0.0.7", 5060)
    for device_id in (GB_DEVICE, GB_OTHER):
        devices.register(
            device_id, expires=3600, source=device, contact="sip:x", now=0.0, wall_now=0.0
        )
    playback = _Play(GB_DEVICE, CHANNEL, "Playback")
    live = _Play(GB_DEVICE, "64010000001310000002", "Play")
    plays = {"call-playback": playback, "call-live": live}
    settings = GbSettings("3402000000", "34020000002000000001", "x")
    recordings = GbRecordings(settings, None, devices, plays, None)  # type: ignore[arg-type]
    end = encode_records_message(MediaStatus(CHANNEL, 1, MEDIA_STATUS_END))
    assert recordings.message_received(_from_device("call-playback", end), device)
    assert playback.heard == [121]
    assert recordings.message_received(_from_device("a-call-of-its-own", end), device)
    assert playback.heard == [121, 121]  # matched by device and channel
    # another device (even knowing the Call-ID), or the device from elsewhere: ignored
    assert recordings.message_received(_from_device("call-playback", end, GB_OTHER), device)
    assert not recordings.message_received(
        _from_device("call-playback", end), Peer("udp", "10.9.9.9", 5060)
    )
    for_live = encode_records_message(MediaStatus("64010000001310000002", 2, MEDIA_STATUS_END))
    recordings.message_received(_from_device("another-call", for_live), device)
    assert playback.heard == [121, 121] and live.heard == []  # live video has no end
    keepalive = b"<Notify><CmdType>Keepalive</CmdType><SN>1</SN><DeviceID>x</DeviceID></Notify>"
    assert not recordings.message_received(_from_device("k", keepalive), device)


def test_downloads_of_a_previous_run_are_removed_at_start(tmp_path: Path) -> None:
    (tmp_path / "dl-0123456789ab.mpg").write_bytes(b"old")
    (tmp_path / "notes.txt").write_text("kept")
    GbDownloads(None, tmp_path, EventBus())  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    GbDownloads(None, tmp_path / "not-yet", EventBus())  # type: ignore[arg-type]
