"""Video forwarding, measured: in-process aiortc peers over loopback, a solid red 320x240
publisher, subscribers that decode and check size and colour, the server's decoder never fed."""

from __future__ import annotations

import asyncio
import collections
import fractions
import time
from collections.abc import Callable
from typing import Any

import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCRtpSender, VideoStreamTrack
from aiortc import rtcrtpreceiver as aiortc_receiver
from aiortc.codecs.vpx import Vp8Encoder, vp8_depayload
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpReceiveParameters
from aiortc.rtp import RTCP_PSFB_PLI, RtcpPsfbPacket, RtpPacket

from mediacore.videohub import (
    CLOCK_RATE,
    CodecMismatchError,
    VideoHub,
    VideoSource,
    codec_parameters,
    inspect_h264,
    inspect_vp8,
)
from mediacore.videotap import EncodedFrame, ReceiverTap

WIDTH, HEIGHT = 320, 240
RED = (255, 0, 0)


# --- helpers ---------------------------------------------------------------------------------


class SolidColourTrack(VideoStreamTrack):
    """30 fps of one colour; aiortc's encoders only make keyframes at start and on PLI/FIR."""

    def __init__(self, rgb: tuple[int, int, int] = RED) -> None:
        super().__init__()
        image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        image[...] = rgb
        self._image = image

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame.from_ndarray(self._image, format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        return frame


class Viewer:
    """Reads a subscriber's remote track: counts frames, remembers when the first came."""

    def __init__(self, track: MediaStreamTrack, started: float) -> None:
        self.track = track
        self.server_pc: RTCPeerConnection | None = None
        self.client_pc: RTCPeerConnection | None = None
        self.frames = 0
        self.started = started
        self.first_frame_after: float | None = None
        self.size: tuple[int, int] | None = None
        self.mean_rgb: np.ndarray[Any, Any] | None = None
        self.ended = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            while True:
                frame = await self.track.recv()
                assert isinstance(frame, av.VideoFrame)
                self.frames += 1
                if self.first_frame_after is None:
                    self.first_frame_after = time.monotonic() - self.started
                self.size = (frame.width, frame.height)
                self.mean_rgb = frame.to_ndarray(format="rgb24").reshape(-1, 3).mean(axis=0)
        except MediaStreamError:
            self.ended.set()


async def negotiate(offerer: RTCPeerConnection, answerer: RTCPeerConnection) -> None:
    await offerer.setLocalDescription(await offerer.createOffer())
    await answerer.setRemoteDescription(offerer.localDescription)
    await answerer.setLocalDescription(await answerer.createAnswer())
    await offerer.setRemoteDescription(answerer.localDescription)


async def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)
    return time.monotonic() - start


def video_capability(name: str) -> list[Any]:
    return [c for c in RTCRtpSender.getCapabilities("video").codecs if c.name == name][:1]


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> collections.Counter[int]:
    """Frames each aiortc decoder thread decoded, keyed by id() of its receiver track's queue."""
    counts: collections.Counter[int] = collections.Counter()
    real_worker = aiortc_receiver.decoder_worker

    class CountingQueue:
        def __init__(self, inner: Any, key: int) -> None:
            self.inner, self.key = inner, key

        def get(self) -> Any:
            item = self.inner.get()
            if item is not None:
                counts[self.key] += 1
            return item

    def counting_worker(loop: Any, input_q: Any, output_q: Any, decode_error: Any) -> None:
        real_worker(loop, CountingQueue(input_q, id(output_q)), output_q, decode_error)  # type: ignore[arg-type]

    monkeypatch.setattr(aiortc_receiver, "decoder_worker", counting_worker)
    return counts


def packet(pts: int) -> av.Packet[Any]:
    p = av.Packet(b"\x00" * 10)
    p.pts = pts
    p.time_base = fractions.Fraction(1, CLOCK_RATE)
    return p


# --- the aiortc contract the tap relies on ---------------------------------------------------


class StubTransport:
    state = "connected"

    def _register_rtp_receiver(self, receiver: Any, parameters: Any) -> None:
        pass

    def _unregister_rtp_receiver(self, receiver: Any) -> None:
        pass

    async def _send_rtp(self, data: bytes) -> None:
        pass


@pytest.mark.parametrize("install", ["before_receive", "after_receive"])
async def test_receiver_tap_yields_jitter_frames_without_decoding(
    install: str, decodes: collections.Counter[int]
) -> None:
    """Pins aiortc 1.16: RTP in, whole depayloaded frames out of the decoder hand-off, the
    decoder never fed, and the stop marker still ends the receiver's track."""
    vp8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=CLOCK_RATE, payloadType=97)
    receiver = aiortc_receiver.RTCRtpReceiver("video", StubTransport())  # type: ignore[arg-type]
    receiver._track = aiortc_receiver.RemoteStreamTrack(kind="video")
    frames: list[EncodedFrame] = []
    ended: list[bool] = []

    def tap() -> ReceiverTap:
        return ReceiverTap(receiver, on_frame=frames.append, on_end=lambda: ended.append(True))

    if install == "before_receive":
        tap()
    await receiver.receive(RTCRtpReceiveParameters(codecs=[vp8]))
    if install == "after_receive":
        tap()

    encoder = Vp8Encoder()
    bitstreams, timestamps = [], []
    sequence = 1000
    for index in range(5):
        image = av.VideoFrame.from_ndarray(np.full((HEIGHT, WIDTH, 3), 200, np.uint8), "rgb24")
        image.pts, image.time_base = index * 3000, fractions.Fraction(1, CLOCK_RATE)
        payloads, timestamp = encoder.encode(image)
        bitstreams.append(b"".join(vp8_depayload(p) for p in payloads))
        timestamps.append(timestamp)
        for payload in payloads:
            rtp = RtpPacket(payload_type=97, sequence_number=sequence, timestamp=5000 + timestamp)
            rtp.ssrc, rtp.payload = 1234, payload
            sequence += 1
            await receiver._handle_rtp_packet(rtp, arrival_time_ms=0)

    # the jitter buffer releases a frame when the next one starts
    assert [f.data for f in frames] == bitstreams[:4]
    # timestamps unwrapped to start at 0, in the 90 kHz clock
    assert [f.timestamp for f in frames] == [t - timestamps[0] for t in timestamps[:4]]
    assert inspect_vp8(frames[0].data).keyframe and not inspect_vp8(frames[1].data).keyframe
    await receiver.stop()
    assert ended == [True]
    with pytest.raises(MediaStreamError):
        await asyncio.wait_for(receiver.track.recv(), 1.0)
    assert sum(decodes.values()) == 0


# --- bitstream inspection --------------------------------------------------------------------


def encode(codec: str, width: int, height: int, count: int, **options: str) -> list[bytes]:
    context: Any = av.CodecContext.create(codec, "w")
    context.width, context.height, context.pix_fmt = width, height, "yuv420p"
    context.time_base = fractions.Fraction(1, 30)
    context.options = {"deadline": "realtime"} if codec == "libvpx" else options
    out: list[bytes] = []
    for index in range(count):
        image = np.random.default_rng(index).integers(0, 255, (height, width, 3), np.uint8)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        frame.pts = index
        out.extend(bytes(p) for p in context.encode(frame))
    out.extend(bytes(p) for p in context.encode(None))
    return out


def test_vp8_keyframe_and_size_read_from_frame_header() -> None:
    first, second = encode("libvpx", 176, 144, 2)[:2]
    assert inspect_vp8(first).keyframe
    assert (inspect_vp8(first).width, inspect_vp8(first).height) == (176, 144)
    assert not inspect_vp8(second).keyframe


@pytest.mark.parametrize("profile", ["baseline", "high"])
def test_h264_idr_and_cropped_size_read_from_sps(profile: str) -> None:
    # 318x238 is not a multiple of 16: the SPS codes 320x240 and crops
    units = encode("libx264", 318, 238, 3, profile=profile, tune="zerolatency")
    info = inspect_h264(units[0])
    assert info.keyframe and (info.width, info.height) == (318, 238)
    assert not inspect_h264(units[1]).keyframe


def test_codec_that_aiortc_cannot_send_is_refused() -> None:
    with pytest.raises(CodecMismatchError, match="AV1"):
        codec_parameters("AV1")


# --- the source and its subscriber tracks, without a network -----------------------------------


async def test_new_subscriber_is_held_until_a_keyframe_which_it_requests() -> None:
    requests: list[float] = []
    source = VideoSource("cam", "VP8", keyframe_requester=lambda: requests.append(0))
    track = source.track()
    assert len(requests) == 1
    source.push(packet(0), keyframe=False)
    source.push(packet(3000), keyframe=False)
    assert track.waiting_for_keyframe and track.frames_skipped == 2
    source.push(packet(6000), keyframe=True)
    source.push(packet(9000), keyframe=False)
    first, second = await track.recv(), await track.recv()
    assert (first.pts, first.is_keyframe) == (6000, True)
    assert (second.pts, second.is_keyframe) == (9000, False)


async def test_keyframe_requests_are_rate_limited_and_coalesced() -> None:
    requests: list[float] = []
    source = VideoSource(
        "cam", "VP8", keyframe_requester=lambda: requests.append(time.monotonic()), pli_interval=0.1
    )
    start = time.monotonic()
    for _ in range(3):
        source.track()
    assert len(requests) == 1
    await asyncio.sleep(0.15)
    # the two later joins share one request at the end of the interval
    assert len(requests) == 2 and requests[1] - start >= 0.095
    source.track()
    source.push(packet(0), keyframe=True)  # a keyframe answers the pending request
    await asyncio.sleep(0.15)
    assert len(requests) == 2


async def test_queue_beyond_max_delay_is_dropped_until_the_next_keyframe() -> None:
    requests: list[float] = []
    source = VideoSource(
        "cam", "VP8", keyframe_requester=lambda: requests.append(0), pli_interval=0.0
    )
    track = source.track()
    source.push(packet(0), keyframe=True)
    assert (await track.recv()).pts == 0
    for index in range(1, 20):  # 0.63 s that nobody reads
        source.push(packet(index * 3000), keyframe=False)
    assert track.frames_dropped > 0 and track.waiting_for_keyframe
    assert len(requests) == 2
    source.push(packet(60000), keyframe=False)
    source.push(packet(63000), keyframe=True)
    assert (await track.recv()).pts == 63000


def test_push_keeps_timestamps_monotonic_in_90khz() -> None:
    source = VideoSource("cam", "H264")
    out = []
    for pts, base in [(0, 1000), (40, 1000), (80, 1000), (0, 1000), (40, 1000)]:
        p = av.Packet(b"\x00")
        p.pts, p.time_base = pts, fractions.Fraction(1, base)
        source.push(p, keyframe=False)
        out.append(p.pts)
    # 40 ms = 3600 ticks; the restart continues one frame (3000 ticks) later
    assert out == [0, 3600, 7200, 10200, 13800]


async def test_subscriber_without_the_publisher_codec_is_refused() -> None:
    hub = VideoHub()
    hub.register_source(VideoSource("field-cam", "H264"))
    client, server = RTCPeerConnection(), RTCPeerConnection()
    try:
        client.addTransceiver("video", direction="recvonly").setCodecPreferences(
            video_capability("VP8")
        )
        await client.setLocalDescription(await client.createOffer())
        await server.setRemoteDescription(client.localDescription)
        with pytest.raises(CodecMismatchError, match="cannot receive H264.*offers VP8"):
            await hub.subscribe(server, "field-cam")
        assert hub.sources()[0]["subscribers"] == 0
    finally:
        await client.close()
        await server.close()


# --- end to end over loopback ----------------------------------------------------------------


@pytest.mark.parametrize("codec", ["VP8", "H264"])
async def test_published_video_reaches_subscribers_without_decoding(
    codec: str, decodes: collections.Counter[int]
) -> None:
    hub = VideoHub()
    pcs: list[RTCPeerConnection] = []

    def peer() -> RTCPeerConnection:
        pcs.append(RTCPeerConnection())
        return pcs[-1]

    publisher, server_in = peer(), peer()
    sent = publisher.addTransceiver(SolidColourTrack(), direction="sendonly")
    sent.setCodecPreferences(video_capability(codec))
    plis_at_publisher: list[float] = []
    handle_rtcp = sent.sender._handle_rtcp_packet

    async def count_plis(packet: Any) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_PLI:
            plis_at_publisher.append(time.monotonic())
        await handle_rtcp(packet)

    sent.sender._handle_rtcp_packet = count_plis  # type: ignore[method-assign]
    server_in.on("track", lambda track: hub.register_publisher("alice", server_in, track))

    async def subscribe() -> Viewer:
        server_out, client = peer(), peer()
        viewer: list[Viewer] = []
        start = time.monotonic()
        client.on("track", lambda track: viewer.append(Viewer(track, start)))
        await hub.subscribe(server_out, "alice")
        await negotiate(server_out, client)
        assert viewer, "the subscriber got no track"
        viewer[0].server_pc, viewer[0].client_pc = server_out, client
        return viewer[0]

    try:
        await negotiate(publisher, server_in)
        source = hub.get("alice")
        # subscribing before the first frame: the codec comes from the SDP answer
        assert source.codec is None
        early = [await subscribe(), await subscribe()]
        await wait_for(lambda: all(v.frames >= 10 for v in early), 5.0, "early viewers")
        for viewer in early:
            assert viewer.size == (WIDTH, HEIGHT)
            assert viewer.mean_rgb is not None
            assert np.allclose(viewer.mean_rgb, RED, atol=25), viewer.mean_rgb

        # a late subscriber: the only keyframes are old, so its first frame needs a PLI
        await asyncio.sleep(0.6)
        keyframes, plis = source.keyframes, len(plis_at_publisher)
        late = await subscribe()
        await wait_for(lambda: late.frames > 0, 3.0, "late viewer's first frame")
        assert late.first_frame_after is not None
        print(
            f"\n{codec}: late subscriber's first decoded frame after {late.first_frame_after:.3f} s"
        )
        assert late.first_frame_after < 1.0
        assert len(plis_at_publisher) > plis and source.keyframes > keyframes
        assert late.size == (WIDTH, HEIGHT)

        # a subscriber's own PLI reaches the publisher (within one rate-limit interval)
        assert late.client_pc is not None and late.server_pc is not None
        plis = len(plis_at_publisher)
        forwarding_ssrc = late.server_pc.getSenders()[0]._ssrc
        await late.client_pc.getReceivers()[0]._send_rtcp_pli(forwarding_ssrc)
        relayed = await wait_for(lambda: len(plis_at_publisher) > plis, 1.0, "relayed PLI")
        print(f"{codec}: subscriber PLI relayed to the publisher after {relayed:.3f} s")

        # the server tapped every frame and decoded none; each subscriber decoded its own
        server_track = server_in.getReceivers()[0].track
        assert decodes[id(server_track._queue)] == 0  # type: ignore[attr-defined]
        assert server_track._queue.qsize() == 0  # type: ignore[attr-defined]
        for viewer in [*early, late]:
            assert decodes[id(viewer.track._queue)] > 0  # type: ignore[attr-defined]
        (stats,) = hub.sources()
        assert stats["codec"] == codec and (stats["width"], stats["height"]) == (WIDTH, HEIGHT)
        assert stats["subscribers"] == 3 and stats["frames_forwarded"] > 30
        assert stats["plis_sent"] >= 1

        # unsubscribe: that viewer's track ends (RTCP BYE), the others go on
        gone, kept = early
        assert gone.server_pc is not None
        await hub.unsubscribe(gone.server_pc, "alice")
        await asyncio.wait_for(gone.ended.wait(), 2.0)
        frames_gone, frames_kept = gone.frames, kept.frames
        await asyncio.sleep(0.3)
        assert gone.frames == frames_gone and kept.frames > frames_kept
        assert hub.sources()[0]["subscribers"] == 2

        # the publisher leaves: the source goes, and every remaining viewer's track ends
        await publisher.close()
        await asyncio.wait_for(asyncio.gather(kept.ended.wait(), late.ended.wait()), 3.0)
        assert hub.sources() == []
        assert source.closed and source.subscribers == []
    finally:
        for pc in pcs:
            await pc.close()


class PlainLeg:
    """The `VideoLeg` seam as webrtc.peer.WebRtcLeg has it: reuse an offered video transceiver
    that sends nothing, else add a sendonly one."""

    def __init__(self, pc: RTCPeerConnection, participant_id: str) -> None:
        self.pc = pc
        self.participant_id: str | None = participant_id
        self.video_receivers = [t.receiver for t in pc.getTransceivers() if t.kind == "video"]
        self.removed: list[RTCRtpSender] = []

    def add_video_sender(self, track: MediaStreamTrack) -> RTCRtpSender:
        for transceiver in self.pc.getTransceivers():
            if transceiver.kind == "video" and transceiver.sender.track is None:
                transceiver.sender.replaceTrack(track)
                transceiver.direction = "sendonly"
                return transceiver.sender
        return self.pc.addTransceiver(track, direction="sendonly").sender

    def remove_video_sender(self, sender: RTCRtpSender) -> None:
        sender.replaceTrack(None)
        self.removed.append(sender)


async def test_whep_player_offer_is_answered_with_the_publisher_codec(
    decodes: collections.Counter[int],
) -> None:
    """A player offers VP8 before H.264 (as browsers do); the source is H.264, so the answer made
    after subscribing must carry H.264 first, and the player decodes the forwarded frames."""
    hub = VideoHub()
    publisher, server_in, player, server_out = (RTCPeerConnection() for _ in range(4))
    try:
        publisher.addTransceiver(SolidColourTrack(), direction="sendonly").setCodecPreferences(
            video_capability("H264")
        )
        await negotiate(publisher, server_in)
        hub.attach(PlainLeg(server_in, "alice"))
        await wait_for(lambda: hub.get("alice").keyframes > 0, 5.0, "the publisher's keyframe")

        player.addTransceiver("video", direction="recvonly")
        viewers: list[Viewer] = []
        player.on("track", lambda track: viewers.append(Viewer(track, time.monotonic())))
        await player.setLocalDescription(await player.createOffer())
        assert "VP8" in player.localDescription.sdp.split("H264")[0]  # VP8 is offered first
        await server_out.setRemoteDescription(player.localDescription)
        leg = PlainLeg(server_out, "player")
        await hub.subscribe(leg, "alice")
        await server_out.setLocalDescription(await server_out.createAnswer())
        answer = server_out.localDescription.sdp
        assert "VP8" not in answer and "H264" in answer
        await player.setRemoteDescription(server_out.localDescription)

        await wait_for(lambda: bool(viewers) and viewers[0].frames >= 5, 5.0, "player frames")
        assert viewers[0].size == (WIDTH, HEIGHT)
        assert viewers[0].mean_rgb is not None
        assert np.allclose(viewers[0].mean_rgb, RED, atol=25)
        assert decodes[id(server_in.getReceivers()[0].track._queue)] == 0  # type: ignore[attr-defined]

        await hub.unsubscribe(leg, "alice")
        assert leg.removed == [server_out.getSenders()[0]]
        with pytest.raises(KeyError):
            await hub.unsubscribe(leg, "alice")
        hub.detach(PlainLeg(server_in, "alice"))
        assert hub.sources() == []
        with pytest.raises(KeyError):
            await hub.subscribe(leg, "alice")
    finally:
        for pc in (publisher, server_in, player, server_out):
            await pc.close()
