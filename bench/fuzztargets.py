"""What `bench fuzz` feeds: one entry per parser, with its seeds and the errors it may raise.

A target's `make()` imports the parser (so the fuzzer instruments it for coverage: nothing of it
is imported before) and returns a check and its seed inputs. The check feeds one input to the
parser's public entry points and swallows only the errors each documents (its own error type,
which the caller turns into a 400, a 488 or a dropped packet); anything that escapes the check
is a crash. The targets reading sessions (WebRTC signalling, API bodies) are in fuzzsessions.py.
"""

from __future__ import annotations

import struct

from bench import fuzzsessions
from bench.fuzztarget import JSON_TOKENS, Check, FuzzTarget, as_chunks, chunks

# -- SIP --------------------------------------------------------------------------------------


def _sip() -> tuple[Check, list[bytes]]:
    from bench.sipviews import read_views
    from sip.message import SipParseError, StreamFramer, parse_message
    from sip.stack import best_effort_response

    def check(data: bytes) -> None:
        try:
            StreamFramer().feed(data)
        except SipParseError:
            pass
        try:
            message = parse_message(data)
        except SipParseError as error:
            best_effort_response(data, error.status, error.reason)
            return
        read_views(message)
        parse_message(message.serialize())  # what parsed, serializes to what parses

    return check, [_sip_message(*seed) for seed in SIP_SEEDS]


def _sip_message(first: str, headers: list[str], body: str = "") -> bytes:
    lines = [first, *headers, f"Content-Length: {len(body.encode())}", "", body]
    return "\r\n".join(lines).encode()


SIP_TOKENS = (
    b"\r\n",
    b"SIP/2.0",
    b";branch=z9hG4bK",
    b";rport",
    b";received=",
    b";tag=",
    b"Content-Length:",
    b"l:",
    b"Via:",
    b"CSeq:",
    b"Contact: *",
    b"<sip:",
    b"sips:",
    b"tel:",
    b"%00",
    b"[::1]",
    b"Digest ",
    b"Refer-To:",
    b"Replaces:",
    b"?Replaces=",
    b"%3Bto-tag%3D",
    b";from-tag=",
    b"Event: refer;id=",
    b"SIP/2.0 180 Ringing",
)
SIP_SEEDS: list[tuple[str, list[str], str]] = [
    (
        "INVITE sip:incident-7@192.0.2.1 SIP/2.0",
        [
            "Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK-seed-1;rport",
            "Max-Forwards: 70",
            'From: "Unit 3" <sip:unit3@example.org>;tag=abc',
            "To: <sip:incident-7@192.0.2.1>",
            "Call-ID: seed-call-1@192.0.2.9",
            "CSeq: 1 INVITE",
            "Contact: <sip:unit3@192.0.2.9:5060;transport=udp>",
            'Authorization: Digest username="unit3", realm="mediacore", nonce="n1", '
            'uri="sip:incident-7@192.0.2.1", response="00112233445566778899aabbccddeeff", '
            'algorithm=MD5, qop=auth, nc=00000001, cnonce="c1"',
            "Content-Type: application/sdp",
        ],
        "v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n"
        "m=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n",
    ),
    (
        "REGISTER sip:example.org SIP/2.0",
        [
            "v: SIP/2.0/TCP [2001:db8::5]:5070;branch=z9hG4bK-seed-2",
            "f: <sip:unit4@example.org>;tag=r1",
            "t: <sip:unit4@example.org>",
            "i: seed-reg-2",
            "CSeq: 7 REGISTER",
            "m: <sip:unit4@[2001:db8::5]:5070;transport=tcp>;expires=300;q=0.5",
            "Expires: 300",
        ],
        "",
    ),
    (
        "SIP/2.0 401 Unauthorized",
        [
            "Via: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK-seed-3;received=192.0.2.9",
            "From: <sip:unit5@example.org>;tag=x",
            "To: <sip:unit5@example.org>;tag=y",
            "Call-ID: seed-3",
            "CSeq: 1 OPTIONS",
            'WWW-Authenticate: Digest realm="mediacore", nonce="abc", qop="auth", '
            "algorithm=SHA-256, stale=FALSE",
            "Record-Route: <sip:p1.example.org;lr>, <sip:p2.example.org;lr>",
        ],
        "",
    ),
    (
        "REFER sip:incident-7@192.0.2.1 SIP/2.0",
        [
            "Via: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK-seed-4",
            "From: <sip:unit3@example.org>;tag=abc",
            "To: <sip:incident-7@192.0.2.1>;tag=def",
            "Call-ID: seed-call-1@192.0.2.9",
            "CSeq: 2 REFER",
            "Refer-To: <sip:unit9@example.org?Replaces=c9%3Bto-tag%3Da%3Bfrom-tag%3Db>",
            "Replaces: c9;to-tag=a;from-tag=b;early-only",
            "Event: refer;id=2",
            "Content-Type: message/sipfrag;version=2.0",
        ],
        "SIP/2.0 180 Ringing\r\n",
    ),
]


# -- SDP --------------------------------------------------------------------------------------


def _sdp() -> tuple[Check, list[bytes]]:
    from mediacore import codecs
    from mediacore.offeranswer import OfferAnswerError, answer_audio
    from mediacore.sdp import SdpError, SessionDescription
    from mediacore.videooffer import answered_video
    from mediacore.videosdp import VideoOfferError, negotiate_video

    supported = codecs.supported()
    extensions = ("urn:ietf:params:rtp-hdrext:ssrc-audio-level",)

    def check(data: bytes) -> None:
        try:
            offer = SessionDescription.parse(data)
            for media in offer.media:
                media.rtpmaps  # noqa: B018 - the lazy views must not raise once parsed
                media.fmtp  # noqa: B018
                media.ptime  # noqa: B018
                media.rtcp  # noqa: B018
                offer.effective_direction(media)
            SessionDescription.parse(offer.serialize())
            answer_audio(
                offer,
                supported,
                "192.0.2.1",
                4000,
                session_id=1,
                supported_extensions=extensions,
                profiles=("RTP/AVP", "RTP/AVPF", "RTP/SAVP"),
            )
        except (SdpError, OfferAnswerError):
            pass
        try:
            offer = SessionDescription.parse(data)
            for index, media in enumerate(offer.media):
                if media.kind == "video" and media.port:
                    negotiate_video(offer, index)
        except (SdpError, VideoOfferError):
            pass
        for index in range(3):  # read as the far end's answer to our dial-out's video line
            try:
                answered_video(SessionDescription.parse(data), index)
            except (SdpError, VideoOfferError):
                pass

    seeds = [
        b"v=0\r\no=- 5 5 IN IP4 192.0.2.9\r\ns=call\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n"
        b"m=audio 4000 RTP/AVP 96 0 8 9 101\r\na=rtpmap:96 opus/48000/2\r\n"
        b"a=fmtp:96 minptime=10;useinbandfec=1\r\na=rtpmap:101 telephone-event/8000\r\n"
        b"a=fmtp:101 0-15\r\na=ptime:20\r\na=maxptime:60\r\na=rtcp:4001 IN IP4 192.0.2.9\r\n"
        b"a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=sendrecv\r\n"
        b"m=video 0 RTP/AVP 96\r\n",
        b"v=0\no=- 1 2 IN IP6 2001:db8::1\ns=-\nt=0 0\nb=AS:64\n"
        b"m=audio 5004 RTP/SAVP 0\nc=IN IP6 2001:db8::1\n"
        b"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\n"
        b"a=recvonly\n",
        b"v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 4000 RTP/AVP 0\n"
        b"m=video 4002 RTP/AVPF 109 100\nb=TIAS:1920000\na=rtpmap:109 H264/90000\n"
        b"a=fmtp:109 profile-level-id=640029; packetization-mode=1; max-fs=8192\n"
        b"a=rtpmap:100 VP8/90000\na=rtcp-fb:* nack pli\na=imageattr:* recv [x=1280,y=720]\n",
    ]
    return check, seeds


# -- RTP, RTCP, RFC 8285 extensions ------------------------------------------------------------


def _rtp_rtcp() -> tuple[Check, list[bytes]]:
    from mediacore.rtcp import ReceiverReport, ReportBlock, RtcpError, parse_compound
    from mediacore.rtcp import serialize_compound as rtcp_bytes
    from mediacore.rtcpfeedback import read_feedback
    from mediacore.rtp import RtpError, RtpPacket
    from mediacore.rtpext import RtpExtensionError, build_extensions, parse_extensions

    def check(data: bytes) -> None:
        try:
            packet = RtpPacket.parse(data)
            RtpPacket.parse(packet.serialize())
            if packet.extension_profile is not None:
                parse_extensions(packet.extension_profile, packet.extension_data)
        except (RtpError, RtpExtensionError):
            pass
        try:
            packets = parse_compound(data)
            rtcp_bytes(packets)
            read_feedback(packets)
        except RtcpError:
            pass

    profile, extension = build_extensions([(1, b"\x85"), (3, b"unit-7")])
    rtp = RtpPacket(0, 1, 160, 0x1234, b"\xff" * 160, True, (7,), profile, extension)
    block = ReportBlock(0x1234, 3, 10, 70000, 12, 0x11223344, 655)
    rtcp = rtcp_bytes([ReceiverReport(0x99, [block], b"")])
    return check, [rtp.serialize(), rtcp]


# -- RFC 4733 telephone events ----------------------------------------------------------------


def _rfc4733() -> tuple[Check, list[bytes]]:
    from mediacore.dtmf import DtmfError, DtmfReceiver, TelephoneEvent

    def check(data: bytes) -> None:
        try:
            TelephoneEvent.parse(data)
        except DtmfError:
            pass
        # A stream: each chunk is a timestamp byte, a marker bit and a payload.
        receiver = DtmfReceiver()
        for piece in chunks(data):
            if not piece:
                continue
            try:
                receiver.receive(piece[0] * 160, piece[1:], bool(piece[0] & 0x80))
            except DtmfError:
                pass
        receiver.flush()

    events = [TelephoneEvent(5, end, 10, duration).serialize() for end, duration in SEGMENTS]
    stream = as_chunks([bytes((1 | 0x80,)) + events[0], b"\x01" + events[1], b"\x01" + events[2]])
    return check, [events[0], stream]


SEGMENTS = [(False, 160), (False, 320), (True, 480)]


# -- ED-137 radio header extension -------------------------------------------------------------


def _ed137() -> tuple[Check, list[bytes]]:
    from radio.ed137 import (
        Ed137Error,
        PttType,
        RadioHeader,
        build_radio_header,
        parse_radio_header,
        sqi_block,
    )

    def check(data: bytes) -> None:
        if len(data) < 2:
            return
        try:
            header = parse_radio_header(int.from_bytes(data[:2], "big"), data[2:])
        except Ed137Error:
            return
        parse_radio_header(*build_radio_header(header))

    header = RadioHeader(ptt_type=PttType.NORMAL, squelch=True, ptt_id=3, features=(sqi_block(9),))
    profile, body = build_radio_header(header)
    return check, [profile.to_bytes(2, "big") + body]


# -- GB/T 28181 MANSCDP -----------------------------------------------------------------------


def _manscdp() -> tuple[Check, list[bytes]]:
    from ingest.gbptz import PtzError, parse_ptz
    from ingest.manscdp import (
        CatalogQuery,
        DeviceControl,
        Keepalive,
        ManscdpError,
        PresetItem,
        PresetResponse,
        encode_message,
        parse_message,
    )

    def check(data: bytes) -> None:
        try:
            message = parse_message(data)
            if isinstance(message, DeviceControl):
                parse_ptz(message.ptz_cmd)  # what a device (or an upper platform) decodes
        except (ManscdpError, PtzError):
            pass

    device = "34020000001320000001"
    catalog = (
        '<?xml version="1.0" encoding="GB2312"?>\r\n<Response><CmdType>Catalog</CmdType>'
        f"<SN>17</SN><DeviceID>{device}</DeviceID><SumNum>1</SumNum>"
        '<DeviceList Num="1"><Item><DeviceID>34020000001310000001</DeviceID><Name>相机</Name>'
        "<Manufacturer>m</Manufacturer><Status>ON</Status><Longitude>116.3</Longitude>"
        "<Latitude>39.9</Latitude><Parental>0</Parental></Item></DeviceList></Response>"
    ).encode("gb2312")
    seeds = [
        encode_message(Keepalive(device, 7, "OK")),
        encode_message(CatalogQuery(device, 8)),
        catalog,
        encode_message(DeviceControl(device, 9, "A50F0108001F00DC")),
        encode_message(PresetResponse(device, 10, (PresetItem(1, "大门"), PresetItem(2)))),
    ]
    return check, seeds


def _gb_events() -> tuple[Check, list[bytes]]:
    from ingest.gbnotify import (
        AlarmNotify,
        BroadcastNotify,
        MobilePosition,
        SubscriptionQuery,
        encode_event_message,
        parse_event_message,
        parse_subscription_query,
    )
    from ingest.manscdp import ManscdpError

    def check(data: bytes) -> None:
        for parse in (parse_event_message, parse_subscription_query):
            try:
                parse(data)
            except ManscdpError:
                pass

    device = "34020000001320000001"
    notify = (
        '<?xml version="1.0" encoding="GB2312"?>\r\n<Notify><CmdType>Catalog</CmdType>'
        f"<SN>3</SN><DeviceID>{device}</DeviceID><SumNum>1</SumNum>"
        '<DeviceList Num="1"><Item><DeviceID>34020000001310000002</DeviceID><Event>ADD</Event>'
        "<Name>后门</Name><Status>ON</Status></Item></DeviceList></Notify>"
    ).encode("gb2312")
    seeds = [
        encode_event_message(SubscriptionQuery("MobilePosition", device, 1, 5)),
        encode_event_message(AlarmNotify(device, 2, 1, "2", "2024-01-01T00:00:00", "报警")),
        encode_event_message(MobilePosition(device, 4, 116.4, 39.9, "t", 5.0, 45.0, 10.0)),
        encode_event_message(BroadcastNotify(5, "34020000002000000001", device)),
        notify,
    ]
    return check, seeds


# -- MPEG program stream (GB/T 28181 video) ---------------------------------------------------


def _ps() -> tuple[Check, list[bytes]]:
    from ingest.gbrtp import PsRtpReceiver
    from ingest.ps import PsDemuxer, PsMuxer, split_payloads
    from ingest.psaudio import PsAudioAdapter
    from mediacore.rtp import RtpPacket

    limit = 4096

    def check(data: bytes) -> None:
        # Each chunk: a flags byte (bit 0 the marker, bits 1-2 the timestamp) and a payload.
        demuxer = PsDemuxer(max_frame_bytes=limit)
        receiver = PsRtpReceiver()
        talkback = PsAudioAdapter()  # a talkback device's G.711 in PS
        for piece in chunks(data):
            flags = piece[:1] or b"\x00"
            for frame in demuxer.feed(piece[1:], bool(flags[0] & 1), flags[0] >> 1 & 3):
                if len(frame.data) > limit:
                    raise AssertionError(f"a {len(frame.data)}-byte frame passed the limit")
            receiver.receive(piece)
            for datagram in talkback.received(piece):
                if datagram != piece:  # what it made of PS is RTP; the rest passes as it came
                    RtpPacket.parse(datagram)

    muxer = PsMuxer()
    pack = muxer.video(b"\x00\x00\x00\x01\x67\x42\x00\x1f\x00\x00\x00\x01\x65\x88\x84", 9000)
    pieces = [b"\x01" + payload for payload in split_payloads(pack, 200)]
    rtp = struct.pack("!BBHII", 0x80, 0x80 | 96, 1, 9000, 7) + pack[:200]
    voice = PsMuxer(None, "pcmu").audio(b"\xff" * 160, 1800, with_map=True)
    talk = struct.pack("!BBHII", 0x80, 0x80 | 96, 2, 1800, 7) + voice
    return check, [as_chunks(pieces), as_chunks([rtp]), as_chunks([talk])]


# -- H.264 / H.265 bitstreams ------------------------------------------------------------------


def _h26x() -> tuple[Check, list[bytes]]:
    from ingest.annexb import AnnexBWriter, BitstreamError, split_annexb
    from ingest.annexb_hevc import HevcAnnexBWriter
    from mediacore.videohub import h264_sps_size, inspect_h264

    start_code = b"\x00\x00\x00\x01"

    def check(data: bytes) -> None:
        # The first chunk is the stream's extradata (empty: none), the rest its packets.
        pieces = chunks(data)
        inspect_h264(data)
        for unit in split_annexb(data):
            if unit[0] & 0x1F == 7:
                try:
                    h264_sps_size(unit)
                except ValueError:
                    pass
        extradata = pieces[0] if pieces else None
        for writer_class in (AnnexBWriter, HevcAnnexBWriter):
            try:
                writer = writer_class.from_extradata(extradata or None)
            except BitstreamError:
                continue
            for packet in pieces[1:]:
                try:
                    writer.convert(packet)
                except BitstreamError:
                    pass

    sps = bytes.fromhex("6742c03eda0507e840000003004007a12003c2010a80")  # 320x240, libx264
    pps = b"\x68\xce\x0f\xc8"
    avcc = b"\x01\x42\xc0\x3e\xff\xe1" + len(sps).to_bytes(2, "big") + sps
    avcc += b"\x01" + len(pps).to_bytes(2, "big") + pps
    annexb = start_code + sps + start_code + pps + start_code + b"\x65\x88\x84\x00\x10"
    length_prefixed = b"\x00\x00\x00\x05\x65\x88\x84\x00\x10"
    return check, [as_chunks([avcc, length_prefixed]), as_chunks([b"", annexb]), annexb]


# -- the cascade link, the control channel and the data path between processes ---------------


def _cascade() -> tuple[Check, list[bytes]]:
    import numpy as np

    from mediacore.cascade import (
        CascadeError,
        CascadeFrame,
        CascadeReceiver,
        build_packet,
        parse_packet,
    )
    from mediacore.cascadesec import LinkPeers, LinkRejected, encode_key

    samples = 960  # 20 ms at 48 kHz
    peer = ("127.0.0.1", 4000)
    key = bytes(range(30))  # the receiving socket's: fixed, so the seeds authenticate

    def check(data: bytes) -> None:
        try:
            parse_packet(data, samples)
        except CascadeError:
            pass
        CascadeReceiver(samples).receive(data, 0.0)
        links = LinkPeers(key)  # a fresh replay window: each input stands alone
        links.connect("peer", peer, encode_key(bytes(30)))
        try:
            CascadeReceiver(samples).receive(links.unprotect(data, peer), 0.0)
        except LinkRejected:
            pass

    frame = CascadeFrame("p-12", 5, -20.0, 2, True, np.zeros(samples, dtype=np.float32))
    plain = build_packet(frame, 1, samples)
    sender = LinkPeers(bytes(30))
    sender.connect("receiver", ("127.0.0.1", 4002), encode_key(key))
    [(_, protected)] = list(sender.protect(plain))
    return check, [plain, protected]


# -- GB/T 28181 cascade up: what an upper platform sends ---------------------------------------


def _gb_upper() -> tuple[Check, list[bytes]]:
    """What an upper platform sends a lower one: any MANSCDP document's envelope (queries,
    DeviceControl to relay) and its INVITE offers."""
    from ingest.gbsdp import GbSdpError
    from ingest.gbupperplay import read_offer
    from ingest.manscdp import ManscdpError, parse_envelope

    def check(data: bytes) -> None:
        try:
            parse_envelope(data)
        except ManscdpError:
            pass
        try:
            read_offer(data, "34020000002000000001")
        except GbSdpError:
            pass

    control = (
        b'<?xml version="1.0" encoding="GB2312"?>\r\n<Control><CmdType>DeviceControl</CmdType>'
        b"<SN>11</SN><DeviceID>34020000001310000001</DeviceID><PTZCmd>A50F010100FF0000</PTZCmd>"
        b"</Control>"
    )
    offer = (
        b"v=0\r\no=34010000002000000001 0 0 IN IP4 10.0.0.1\r\ns=Play\r\nc=IN IP4 10.0.0.1\r\n"
        b"t=0 0\r\nm=video 30000 TCP/RTP/AVP 96\r\na=recvonly\r\na=rtpmap:96 PS/90000\r\n"
        b"a=setup:passive\r\na=connection:new\r\ny=0100000001\r\n"
    )
    return check, [control, offer]


# -- GB/T 28181 recordings: RecordInfo pages, MediaStatus, MANSRTSP ----------------------------


def _gb_records() -> tuple[Check, list[bytes]]:
    from ingest.gbrecords import (
        MediaStatus,
        RecordInfoQuery,
        RecordInfoResponse,
        RecordItem,
        encode_records_message,
        parse_records_message,
    )
    from ingest.manscdp import ManscdpError

    def check(data: bytes) -> None:
        try:
            parse_records_message(data)
        except ManscdpError:
            pass

    channel = "34020000001310000001"
    item = RecordItem(channel, "录像", "/r/1.ps", "中心", 1765000000, 1765000060, 0, "time")
    seeds = [
        encode_records_message(RecordInfoQuery(channel, 3, 1765000000, 1765003600)),
        encode_records_message(RecordInfoResponse(channel, 3, 1, "前门", (item,))),
        encode_records_message(MediaStatus(channel, 4, 121)),
    ]
    return check, seeds


def _mansrtsp() -> tuple[Check, list[bytes]]:
    from ingest.gbmansrtsp import MansrtspError, PlaybackControl, parse_control

    def check(data: bytes) -> None:
        try:
            parse_control(data)
        except MansrtspError:
            pass

    seeds = [
        PlaybackControl("PAUSE", 1).encode(),
        PlaybackControl("PLAY", 2, position=12.5).encode(),
        PlaybackControl("PLAY", 3, scale=2).encode(),
    ]
    return check, seeds


def _channel() -> tuple[Check, list[bytes]]:
    from mediacore.channel import (
        ChannelProtocolError,
        FrameDecoder,
        Request,
        Response,
        decode,
        encode,
    )

    def check(data: bytes) -> None:
        try:
            FrameDecoder(max_frame=4096).receive(data)
        except ChannelProtocolError:
            pass
        try:
            decode(data)  # the input as one frame's body
        except ChannelProtocolError:
            pass

    request = encode(Request(4, "legs.add", {"room": "r", "sdp": "v=0", "port": 4000}))
    failed = encode(Response(4, error="KeyError", detail="no room"))
    return check, [request + failed, request[4:]]


def _datapath() -> tuple[Check, list[bytes]]:
    import numpy as np

    from mediacore.datapath import (
        DataPathError,
        MediaFrameDecoder,
        audio,
        decode_body,
        encode_frame,
        video,
    )

    def check(data: bytes) -> None:
        try:
            MediaFrameDecoder(max_frame=4096).receive(data)
        except DataPathError:
            pass
        try:
            frame = decode_body(data)
        except DataPathError:
            return
        decode_body(encode_frame(frame)[4:])

    frames = [
        encode_frame(video("cam-1", "H264", b"\x00\x00\x00\x01\x65\x88", 9000, True)),
        encode_frame(audio("cam-1", np.zeros(96, dtype=np.float32), 48000)),
    ]
    return check, [b"".join(frames), frames[0][4:]]


def targets() -> dict[str, FuzzTarget]:
    """Every fuzz target by name, in the order the bench runs them."""

    core = ("mediacore",)
    return {
        target.name: target
        for target in (
            FuzzTarget(
                "sip",
                "SIP messages and stream framing",
                "SipParseError",
                ("sip",),
                _sip,
                dictionary=SIP_TOKENS,
            ),
            FuzzTarget("sdp", "SDP and offer/answer", "SdpError, OfferAnswerError", core, _sdp),
            FuzzTarget("rtp-rtcp", "RTP, RFC 8285, RTCP", "RtpError, ...", core, _rtp_rtcp),
            FuzzTarget("rfc4733", "telephone events", "DtmfError", core, _rfc4733),
            FuzzTarget("ed137", "ED-137 header extension", "Ed137Error", ("radio",), _ed137),
            FuzzTarget("manscdp", "GB/T 28181 MANSCDP XML", "ManscdpError", ("ingest",), _manscdp),
            FuzzTarget(
                "gb-events",
                "GB/T 28181 subscriptions, alarms, positions, broadcast",
                "ManscdpError",
                ("ingest",),
                _gb_events,
            ),
            FuzzTarget("ps", "MPEG-PS over RTP", "(none)", ("ingest",), _ps),
            FuzzTarget(
                "h26x",
                "H.264/H.265 Annex B, AVCC/HVCC, SPS",
                "BitstreamError, ValueError (SPS)",
                ("ingest", "mediacore"),
                _h26x,
            ),
            FuzzTarget(
                "cascade",
                "cascade RTP extension, SRTP on the link",
                "CascadeError, LinkRejected",
                core,
                _cascade,
            ),
            FuzzTarget(
                "gb-upper",
                "GB/T 28181 upper platform's MANSCDP and INVITE offers",
                "ManscdpError, GbSdpError",
                ("ingest",),
                _gb_upper,
            ),
            FuzzTarget(
                "gb-records",
                "GB/T 28181 RecordInfo and MediaStatus",
                "ManscdpError",
                ("ingest",),
                _gb_records,
            ),
            FuzzTarget("mansrtsp", "GB/T 28181 MANSRTSP", "MansrtspError", ("ingest",), _mansrtsp),
            FuzzTarget(
                "channel",
                "worker control channel",
                "ChannelProtocolError",
                core,
                _channel,
                json_prefix=0,  # also as JSON: the seed's second input is a frame's body
                dictionary=JSON_TOKENS,
            ),
            FuzzTarget("datapath", "worker data path frames", "DataPathError", core, _datapath),
            fuzzsessions.SIGNALLING,
            fuzzsessions.API_BODIES,
        )
    }
