"""G.711 talkback audio in PS (ingest.psaudio, ingest.gbtalksdp): the payload adapter's round
trip and timestamps, and the offer/answer rewriting."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from ingest.gbtalksdp import ps_audio_answer, ps_audio_offer
from ingest.ps import PsDemuxer, PsMuxer
from ingest.psaudio import PsAudioAdapter, Timeline
from mediacore.codecs.g711 import ALAW_TO_INT16, INT16_TO_ULAW
from mediacore.rtp import RtpPacket, build_rtp
from mediacore.sdp import SessionDescription
from mediacore.server.payloadadapters import payload_adapter

SSRC = 0x11223344


def frames(count: int, size: int = 160) -> list[bytes]:
    rng = np.random.default_rng(7)
    return [rng.integers(0, 256, size, dtype=np.uint8).tobytes() for _ in range(count)]


def steps(values: list[int], mask: int = 0xFFFFFFFF) -> set[int]:
    return {(b - a) & mask for a, b in pairwise(values)}


def g711_packets(payloads: list[bytes], pt: int = 8, start: int = 4_294_967_000) -> list[bytes]:
    """The leg's packets: 20 ms apart, a timestamp line that wraps on the way."""
    return [
        build_rtp(pt, (65530 + i) & 0xFFFF, (start + i * 160) & 0xFFFFFFFF, SSRC, p, i == 0)
        for i, p in enumerate(payloads)
    ]


def test_muxed_frames_demux_back_identical_with_their_timestamps() -> None:
    payloads = frames(120)
    sender, receiver = PsAudioAdapter(), PsAudioAdapter()
    wire = [d for packet in g711_packets(payloads) for d in sender.sending(packet)]
    assert len(wire) == len(payloads)
    ps_packets = [RtpPacket.parse(d) for d in wire]
    assert {p.payload_type for p in ps_packets} == {96}
    assert all(p.marker for p in ps_packets)  # each frame ends in its packet
    assert steps([p.timestamp for p in ps_packets]) == {
        1800
    }  # 20 ms at 90 kHz, across the 8 kHz line's wrap
    assert ps_packets[0].payload.startswith(b"\x00\x00\x01\xba")
    assert b"\x00\x00\x01\xbc" in ps_packets[0].payload  # the map in the first pack
    assert b"\x00\x00\x01\xbc" not in ps_packets[1].payload
    assert b"\x00\x00\x01\xbc" in ps_packets[50].payload  # and once a second after

    back = [RtpPacket.parse(d) for packet in wire for d in receiver.received(packet)]
    assert [p.payload for p in back] == payloads
    assert {p.payload_type for p in back} == {8}
    assert {p.ssrc for p in back} == {SSRC}
    assert back[0].marker and not any(p.marker for p in back[1:])
    assert steps([p.timestamp for p in back]) == {160}
    assert steps([p.sequence_number for p in back], 0xFFFF) == {1}


def test_the_pts_is_the_90_khz_timestamp() -> None:
    sender = PsAudioAdapter()
    [wire] = sender.sending(g711_packets(frames(1))[0])
    packet = RtpPacket.parse(wire)
    [frame] = PsDemuxer().feed(packet.payload, True, packet.timestamp)
    assert frame.kind == "audio" and frame.codec == "pcma"
    assert frame.pts == packet.timestamp


def test_a_pack_cut_over_packets_and_out_of_order_comes_back_whole() -> None:
    payload = frames(1, 960)[0]  # 120 ms in one pack
    pack = PsMuxer(video_codec=None).audio(payload, 9000, with_map=True)
    cut = [pack[:300], pack[300:700], pack[700:]]
    packets = [build_rtp(96, 10 + i, 9000, SSRC, c, i == 2) for i, c in enumerate(cut)]
    receiver = PsAudioAdapter()
    out = receiver.received(packets[0]) + receiver.received(packets[2])
    assert out == []
    [whole] = receiver.received(packets[1])
    assert RtpPacket.parse(whole).payload == payload


def test_frames_of_one_pts_follow_each_other() -> None:
    muxer = PsMuxer(video_codec=None)
    receiver = PsAudioAdapter()
    first, second = frames(2)
    out = receiver.received(build_rtp(96, 1, 0, SSRC, muxer.audio(first, 0), True))
    out += receiver.received(build_rtp(96, 2, 0, SSRC, muxer.audio(second, 0), True))
    stamps = [RtpPacket.parse(d).timestamp for d in out]
    assert (stamps[1] - stamps[0]) & 0xFFFFFFFF == 160


def test_mu_law_in_the_stream_is_converted_to_the_legs_a_law() -> None:
    alaw = frames(1)[0]
    linear = ALAW_TO_INT16[np.frombuffer(alaw, dtype=np.uint8)]
    ulaw = INT16_TO_ULAW[linear.view(np.uint16)].tobytes()
    pack = PsMuxer(video_codec=None, audio_codec="pcmu").audio(ulaw, 0, with_map=True)
    [out] = PsAudioAdapter().received(build_rtp(96, 1, 0, SSRC, pack, True))
    back = ALAW_TO_INT16[np.frombuffer(RtpPacket.parse(out).payload, dtype=np.uint8)]
    assert np.max(np.abs(back.astype(int) - linear.astype(int))) <= 1024  # a few steps


def test_rtcp_and_other_payloads_pass_through() -> None:
    adapter = PsAudioAdapter()
    rtcp = bytes((0x80, 201, 0, 1)) + SSRC.to_bytes(4, "big")
    event = build_rtp(101, 1, 0, SSRC, b"\x01\x0a\x00\xa0")
    assert adapter.received(rtcp) == [rtcp]
    assert adapter.received(event) == [event]
    assert adapter.sending(event) == [event]
    assert adapter.received(build_rtp(96, 1, 0, SSRC, b"garbage", True)) == []


def test_the_adapter_is_made_again_from_its_settings() -> None:
    adapter = PsAudioAdapter(98, "pcmu")
    again = PsAudioAdapter.from_json(adapter.to_json())
    assert (again.payload_type, again.codec, again.g711_payload_type) == (98, "pcmu", 0)
    with pytest.raises(ValueError):
        PsAudioAdapter(96, "aac")
    made = payload_adapter(adapter.to_json())  # as a media worker makes it
    assert isinstance(made, PsAudioAdapter) and made.to_json() == adapter.to_json()
    with pytest.raises(ValueError):
        payload_adapter({"kind": "nope"})


def test_timeline_maps_steps_across_wraps() -> None:
    line = Timeline(8000, 90000, 0xFFFFFF00)
    assert line.map(0xFFFFFFA0) == 0xFFFFFF00
    assert line.map(0x40) == (0xFFFFFF00 + 0xA0 * 90000 // 8000) & 0xFFFFFFFF


OFFER = """v=0
o=34020000001370000001 0 0 IN IP4 10.0.0.5
s=Talk
c=IN IP4 10.0.0.5
t=0 0
m=audio 30000 RTP/AVP 96
a=sendrecv
a=rtpmap:96 PS/90000
y=0100000001
f=v/////a/1/8/1
"""


def test_a_ps_offer_becomes_plain_g711_and_the_answer_ps_again() -> None:
    found = ps_audio_offer(SessionDescription.parse(OFFER))
    assert found is not None
    audio, plain = found
    assert (audio.payload_type, audio.codec, audio.ssrc) == (96, "pcma", "0100000001")
    media = plain.media[0]
    assert media.formats == ["8"] and media.rtpmaps == {}
    assert not any(k in ("y", "f") for k, _ in media.extra_lines)
    answer = SessionDescription.parse(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        "m=audio 40000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=ptime:20\r\na=sendrecv\r\n"
    )
    ps = ps_audio_answer(answer, audio).serialize()
    assert "m=audio 40000 RTP/AVP 96\r\n" in ps
    assert "a=rtpmap:96 PS/90000\r\n" in ps and "PCMA" not in ps
    assert ps.endswith("y=0100000001\r\nf=v/////a/1/8/1\r\n")


def test_mu_law_by_the_f_line_and_plain_offers_left_alone() -> None:
    ulaw = OFFER.replace("a/1/8/1", "a/2/8/1")
    found = ps_audio_offer(SessionDescription.parse(ulaw))
    assert found is not None and found[0].codec == "pcmu" and found[1].media[0].formats == ["0"]
    assert found[0].f_line() == "v/////a/2/8/1"
    plain = OFFER.replace("RTP/AVP 96", "RTP/AVP 8").replace("96 PS/90000", "8 PCMA/8000")
    assert ps_audio_offer(SessionDescription.parse(plain)) is None
    both = OFFER.replace("RTP/AVP 96", "RTP/AVP 96 8")
    assert ps_audio_offer(SessionDescription.parse(both)) is None
