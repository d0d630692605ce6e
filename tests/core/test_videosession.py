"""A leg's video RTP without sockets: frames packetised by one session are reassembled by another
bit for bit (RFC 6184 single NAL unit, STAP-A and FU-A; RFC 7741), losses are NACKed and
repaired from the sender's history, and PLI/FIR/TMMBR/REMB come out as events."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from mediacore.rtcp import parse_compound, serialize_compound
from mediacore.rtcpfeedback import fir_packet, nack_packet, pli_packet, read_feedback
from mediacore.rtp import RtpPacket
from mediacore.videohub import inspect_h264
from mediacore.videosdp import VideoNegotiation
from mediacore.videosession import (
    BitrateLimited,
    FrameReceived,
    KeyframeWanted,
    VideoSession,
)

A = ("127.0.0.1", 40000)  # the peer
B = ("127.0.0.1", 50000)  # us


def negotiation(
    codec: str = "H264",
    feedback: frozenset[str] = frozenset({"nack", "nack pli"}),
    **changes: object,
) -> VideoNegotiation:
    fields: dict[str, object] = {
        "index": 1,
        "codec": codec,
        "payload_type": 96,
        "remote_address": A[0],
        "remote_port": A[1],
        "remote_rtcp": None,
        "rtcp_mux": True,
        "direction": "sendrecv",
        "feedback": feedback,
        **changes,
    }
    return VideoNegotiation(**fields)  # type: ignore[arg-type]


def encoded_frames(codec: str, count: int, size: tuple[int, int] = (640, 360)) -> list[bytes]:
    """Real encoder output: noise (so keyframes need FU-A), then a smaller frame or two."""
    encoder = av.CodecContext.create("libx264" if codec == "H264" else "libvpx", "w")
    encoder.width, encoder.height = size
    encoder.pix_fmt = "yuv420p"
    encoder.time_base = Fraction(1, 30)
    if codec == "H264":
        encoder.options = {"preset": "ultrafast", "tune": "zerolatency"}
    rng = np.random.default_rng(1)
    out: list[bytes] = []
    for index in range(count):
        image = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        frame.pts = index
        out += [bytes(packet) for packet in encoder.encode(frame)]
    out += [bytes(packet) for packet in encoder.encode(None)]
    return out[:count]


def pair(codec: str = "H264", **changes: object) -> tuple[VideoSession, VideoSession]:
    sender = VideoSession(negotiation(codec, **changes), now=0.0, ssrc=0x1111)
    # the receiver's peer is the sender: its remote is B
    receiver = VideoSession(
        negotiation(codec, remote_address=B[0], remote_port=B[1], **changes), now=0.0, ssrc=0x2222
    )
    return sender, receiver


@pytest.mark.parametrize("codec", ["H264", "VP8"])
def test_frames_come_out_as_they_went_in(codec: str) -> None:
    frames = encoded_frames(codec, 4)
    sender, receiver = pair(codec)
    received: list[FrameReceived] = []
    for index, data in enumerate(frames):
        sender.packetize(data, index * 3000)
        received += [e for e in carry_to_b(sender, receiver) if isinstance(e, FrameReceived)]
    # a frame is handed out when the next one starts: all but the last
    assert [e.data for e in received] == [normalise(codec, f) for f in frames[:-1]]
    assert [e.timestamp for e in received] == [0, 3000, 6000]
    assert sender.packets_sent > len(frames)  # the keyframe took several FU-A packets


def normalise(codec: str, data: bytes) -> bytes:
    """aiortc's depayloader writes 4-byte start codes."""
    if codec != "H264":
        return data
    units = [u.rstrip(b"\x00") for u in data.split(b"\x00\x00\x01") if u.rstrip(b"\x00")]
    return b"".join(b"\x00\x00\x00\x01" + u for u in units)


def carry_to_b(sender: VideoSession, receiver: VideoSession) -> list[object]:
    events: list[object] = []
    for datagram, _ in sender.to_send():
        events += receiver.receive(datagram, B, 0.0)
    return events


def test_a_keyframe_reassembled_is_still_a_keyframe() -> None:
    frames = encoded_frames("H264", 2)
    sender, receiver = pair()
    for index, data in enumerate(frames):
        sender.packetize(data, index * 3000)
    (first,) = [e for e in carry_to_b(sender, receiver) if isinstance(e, FrameReceived)]
    info = inspect_h264(first.data)
    assert info.keyframe and (info.width, info.height) == (640, 360)


def test_a_lost_packet_is_nacked_and_repaired_from_the_senders_history() -> None:
    frames = encoded_frames("H264", 3)
    sender, receiver = pair()
    sender.packetize(frames[0], 0)
    datagrams = sender.to_send()
    lost = RtpPacket.parse(datagrams[2][0]).sequence_number
    for datagram, _ in datagrams[:2] + datagrams[3:]:
        receiver.receive(datagram, B, 0.0)
    (nack,) = receiver.to_send()
    assert nack[1] == B  # to the peer's RTCP address (muxed)
    # the sender reads the NACK and queues the packet again
    assert sender.receive(nack[0], A, 0.0) == []
    (again,) = sender.to_send()
    assert RtpPacket.parse(again[0]).sequence_number == lost
    receiver.receive(again[0], B, 0.0)
    sender.packetize(frames[1], 3000)
    events = carry_to_b(sender, receiver)
    assert [e.data for e in events if isinstance(e, FrameReceived)] == [
        normalise("H264", frames[0])
    ]
    assert (receiver.nacks_sent, sender.retransmitted) == (1, 1)


def test_without_nack_feedback_losses_are_not_nacked() -> None:
    sender, receiver = pair(feedback=frozenset({"nack pli"}))
    sender.packetize(encoded_frames("H264", 1)[0], 0)
    datagrams = sender.to_send()
    for datagram, _ in datagrams[:1] + datagrams[2:]:
        receiver.receive(datagram, B, 0.0)
    assert receiver.to_send() == [] and receiver.nacks_sent == 0


def test_pli_and_fir_from_the_peer_ask_for_a_keyframe() -> None:
    session = VideoSession(negotiation(), now=0.0, ssrc=7)
    for packet in (pli_packet(9, 7), fir_packet(9, 7, 1)):
        events = session.receive(serialize_compound([packet]), A, 0.0)
        assert len(events) == 1 and isinstance(events[0], KeyframeWanted)
    assert session.keyframe_requests_received == 2


def test_our_keyframe_request_is_a_pli_or_a_fir_when_only_fir_was_offered() -> None:
    for feedback, kind in ((frozenset({"nack pli"}), 206), (frozenset({"ccm fir"}), 206)):
        session = VideoSession(negotiation(feedback=feedback), now=0.0)
        session.request_keyframe()
        ((datagram, destination),) = session.to_send()
        message = read_feedback(parse_compound(datagram))
        assert destination == A and datagram[1] == 201  # RR first: a compound packet
        assert message and message[0].kind == ("fir" if "ccm fir" in feedback else "pli")  # type: ignore[union-attr]
        assert parse_compound(datagram)[-1].packet_type == kind  # type: ignore[union-attr]


def test_remb_limit_is_an_event_and_recorded() -> None:
    from aiortc.rtp import RtcpPsfbPacket, pack_remb_fci

    session = VideoSession(negotiation(), now=0.0)
    data = bytes(RtcpPsfbPacket(fmt=15, ssrc=3, media_ssrc=0, fci=pack_remb_fci(800_000, [1])))
    (event,) = session.receive(data, A, 0.0)
    assert isinstance(event, BitrateLimited) and event.kind == "remb"
    assert session.bitrate_limit is not None and session.bitrate_limit.bitrate == event.bitrate


def test_packets_from_elsewhere_are_dropped_unless_nat_latching() -> None:
    frames = encoded_frames("H264", 2)
    sender, _ = pair()
    for index, data in enumerate(frames):
        sender.packetize(data, index * 3000)
    datagrams = [d for d, _ in sender.to_send()]
    strict = VideoSession(negotiation(remote_address=B[0], remote_port=B[1]), now=0.0)
    for datagram in datagrams:
        assert strict.receive(datagram, ("127.0.0.1", 1234), 0.0) == []
    assert strict.dropped["unknown-source"] == len(datagrams)
    latching = VideoSession(negotiation(remote_address=B[0], remote_port=B[1]), now=0.0, nat=True)
    events = [e for d in datagrams for e in latching.receive(d, ("127.0.0.1", 1234), 1.0)]
    assert any(isinstance(e, FrameReceived) for e in events)
    assert latching.remote == ("127.0.0.1", 1234)


def test_a_source_switch_keeps_our_timestamps_running() -> None:
    session = VideoSession(negotiation(), now=0.0)
    frame = encoded_frames("H264", 1)[0]
    stamps = []
    for pts in (0, 3000, 6000, 900_000_000, 900_003_000):  # the source changed after 3 frames
        session.packetize(frame, pts)
        stamps.append(RtpPacket.parse(session.to_send()[-1][0]).timestamp)
    steps = [(b - a) & 0xFFFFFFFF for a, b in zip(stamps, stamps[1:], strict=False)]
    assert steps == [3000, 3000, 3000, 3000]


def test_a_recvonly_peer_is_sent_nothing_and_garbage_is_counted() -> None:
    session = VideoSession(negotiation(direction="recvonly"), now=0.0)
    session.packetize(encoded_frames("H264", 1)[0], 0)
    assert session.to_send() == []
    for garbage in (b"\x80", b"\x80\x60" + b"\x00" * 10 + b"\x1c", b"\x00" * 40):
        assert session.receive(garbage, A, 0.0) == []
    assert sum(session.dropped.values()) == 3


def test_nack_for_packets_we_no_longer_have_is_ignored() -> None:
    session = VideoSession(negotiation(), now=0.0)
    session.receive(serialize_compound([nack_packet(9, session.ssrc, [1, 2, 3])]), A, 0.0)
    assert session.to_send() == [] and session.nacks_received == 1
