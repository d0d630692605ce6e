"""The aiortc contract the audio tap relies on: RTP into a real aiortc receiver, packets out
before its jitter buffer, its decoder never fed, its receiver statistics still kept."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np
import pytest
from aiortc import rtcrtpreceiver as aiortc_receiver
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpReceiveParameters
from aiortc.rtp import RtpPacket
from aiortc.stats import RTCStatsReport

from mediacore.audio import tone, tone_level_dbfs
from mediacore.codecs import registry
from mediacore.codecs.opus import OPUS
from mediacore.playout import AudioPlayout
from mediacore.videotap import AiortcContractError
from webrtc.audiotap import AudioTap

RATE = 48000
FRAME = 960
SSRC = 4321


class StubTransport:
    state = "connected"
    _stats_id = "transport"

    def _register_rtp_receiver(self, receiver: Any, parameters: Any) -> None:
        pass

    def _unregister_rtp_receiver(self, receiver: Any) -> None:
        pass

    async def _send_rtp(self, data: bytes) -> None:
        pass

    def _get_stats(self) -> RTCStatsReport:
        return RTCStatsReport()


def rtp(payload_type: int, sequence: int, timestamp: int, payload: bytes) -> RtpPacket:
    packet = RtpPacket(payload_type=payload_type, sequence_number=sequence, timestamp=timestamp)
    packet.ssrc, packet.payload = SSRC, payload
    return packet


async def opus_receiver() -> aiortc_receiver.RTCRtpReceiver:
    opus = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=RATE, channels=2, payloadType=111)
    receiver = aiortc_receiver.RTCRtpReceiver("audio", StubTransport())  # type: ignore[arg-type]
    receiver._track = aiortc_receiver.RemoteStreamTrack(kind="audio")
    await receiver.receive(RTCRtpReceiveParameters(codecs=[opus]))
    return receiver


async def test_audio_tap_yields_rtp_packets_without_jitter_buffer_or_decoder() -> None:
    """Pins aiortc 1.16: every packet of the negotiated payload type reaches the sink as it
    arrives (aiortc's audio buffer would hold 4), none reaches the decoder, and the receiver
    still counts packets for its reports and ends its track on stop."""
    receiver = await opus_receiver()
    got: list[tuple[int, int, bytes, float]] = []
    tap = AudioTap(receiver, lambda *packet: got.append(packet))
    with pytest.raises(ValueError):
        AudioTap(receiver, lambda *packet: None)

    before = time.monotonic()
    await receiver._handle_rtp_packet(rtp(111, 65535, 1000, b"\x78\x01"), arrival_time_ms=0)
    assert [g[:3] for g in got] == [(65535, 1000, b"\x78\x01")]  # at once, not after 4
    assert before <= got[0][3] <= time.monotonic()
    await receiver._handle_rtp_packet(rtp(111, 1, 1000 + 2 * FRAME, b"\x78\x03"), 0)
    await receiver._handle_rtp_packet(rtp(111, 0, 1000 + FRAME, b"\x78\x02"), 0)  # reordered
    await receiver._handle_rtp_packet(rtp(96, 2, 1000 + 3 * FRAME, b"x"), 0)  # not negotiated
    assert [g[0] for g in got] == [65535, 1, 0] and tap.packets == 3

    queue = receiver._RTCRtpReceiver__decoder_queue  # type: ignore[attr-defined]
    assert queue.qsize() == 0
    stats = [s for s in (await receiver.getStats()).values() if s.type == "inbound-rtp"]
    assert [(s.ssrc, s.packetsReceived, s.packetsLost) for s in stats] == [(SSRC, 3, 0)]
    assert [s.source for s in receiver.getSynchronizationSources()] == [SSRC]
    await receiver.stop()
    with pytest.raises(MediaStreamError):
        await asyncio.wait_for(receiver.track.recv(), 1.0)


async def test_tapped_opus_plays_out_at_its_level_one_tick_per_packet() -> None:
    receiver = await opus_receiver()
    playout = AudioPlayout(OPUS, registry.new_decoder(OPUS), RATE, 20)
    AudioTap(receiver, playout.receive)
    encoder = registry.new_encoder(OPUS, 20)
    signal = tone(1000.0, 1.0, RATE, -20.0)
    heard = []
    for index in range(50):
        payload = encoder.encode(signal[index * FRAME : (index + 1) * FRAME])
        await receiver._handle_rtp_packet(rtp(111, index, index * FRAME, payload), 0)
        frame = playout.read(time.monotonic())
        assert frame is not None and len(frame) == FRAME  # no packet waits in a buffer
        heard.append(frame)
    assert playout.jitter.depth == 0 and playout.jitter.stats.accepted == 50
    assert tone_level_dbfs(np.concatenate(heard[5:]), 1000.0, RATE) == pytest.approx(-20.0, abs=0.5)
    await receiver.stop()


def test_a_receiver_without_the_jitter_buffer_is_refused() -> None:
    receiver = aiortc_receiver.RTCRtpReceiver("audio", StubTransport())  # type: ignore[arg-type]
    receiver._RTCRtpReceiver__jitter_buffer = object()  # type: ignore[attr-defined]
    with pytest.raises(AiortcContractError):
        AudioTap(receiver, lambda *packet: None)
