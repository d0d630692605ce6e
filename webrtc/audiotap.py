"""Incoming WebRTC audio as RTP packets, for the same playout as an RTP leg: the only place that
touches aiortc's audio receive internals, so an aiortc upgrade breaks this file and nothing else.

How aiortc 1.16 receives audio: `RTCRtpReceiver._handle_rtp_packet(packet, arrival_time_ms)`
(on the event loop, after SRTP) drops packets of unknown payload types, feeds the RTCP receiver
statistics and active sources, unwraps RTX, and passes the packet to
`self.__jitter_buffer.add(packet) -> (pli_flag, JitterFrame | None)`. For audio that buffer
(`JitterBuffer(capacity=16, prefetch=4)`) holds 4 packets, 80 ms, before it releases one to the
`decoder_worker` thread's Opus decoder: delay our own adaptive jitter buffer does not add.

`AudioTap` replaces that one buffer with `_JitterBufferTap`, whose `add()` hands every packet on
and returns `(False, None)`: no frame, so nothing reaches aiortc's decoder; no PLI (audio never
asks for one). Everything before the buffer runs as before, so aiortc's receiver reports,
`getStats()` and `getSynchronizationSources()` still work; aiortc sends no NACK for audio. The
decoder thread stays alive, idle on its queue, and still ends the receiver's track on close. Not
chosen: wrapping `_handle_rtp_packet` (we would get packets of unknown payload types and RTX
unwrapped by hand); replacing `decoder_worker` (process-wide, and the 80 ms are already spent).

`check_aiortc_contract()` asserts these names and types and runs when a tap is installed; the test
`test_audio_tap_yields_rtp_packets_without_jitter_buffer_or_decoder` feeds RTP into a real
receiver. Either fails loudly on an aiortc release that moves them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from aiortc import RTCRtpReceiver
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import RtpPacket

from mediacore.clock import MONOTONIC, Clock
from mediacore.videotap import AiortcContractError

_BUFFER_ATTR = "_RTCRtpReceiver__jitter_buffer"

# (sequence number, RTP timestamp, payload, arrival on the tap's clock): the arguments
# of `mediacore.playout.AudioPlayout.receive`.
PacketSink = Callable[[int, int, bytes, float], object]


def check_aiortc_contract(receiver: RTCRtpReceiver) -> None:
    """Raise `AiortcContractError` unless `receiver` hands its packets to a JitterBuffer as
    aiortc 1.16 does."""
    handle = getattr(RTCRtpReceiver, "_handle_rtp_packet", None)
    if handle is None or not inspect.iscoroutinefunction(handle):
        raise AiortcContractError("RTCRtpReceiver._handle_rtp_packet is gone")
    if list(inspect.signature(JitterBuffer.add).parameters) != ["self", "packet"]:
        raise AiortcContractError("aiortc's JitterBuffer.add no longer takes (packet)")
    if not isinstance(getattr(receiver, _BUFFER_ATTR, None), (JitterBuffer, _JitterBufferTap)):
        raise AiortcContractError(
            f"RTCRtpReceiver has no JitterBuffer {_BUFFER_ATTR}; the packet hand-off moved"
        )


class _JitterBufferTap:
    """Stands in for the receiver's JitterBuffer: every packet to the tap, never a frame back."""

    def __init__(self, tap: AudioTap) -> None:
        self._tap = tap

    def add(self, packet: RtpPacket) -> tuple[bool, None]:
        self._tap._packet(packet)
        return False, None


class AudioTap:
    """Diverts an audio receiver's RTP packets from aiortc's jitter buffer and decoder to `sink`.

    `sink(sequence_number, timestamp, payload, arrival)` is called on the event loop for every
    packet of a negotiated payload type, RTX unwrapped, in arrival order (not reordered, not
    deduplicated: the sink's jitter buffer does that). Raises `AiortcContractError` when aiortc's
    internals are not as this module expects, ValueError for a receiver already tapped."""

    def __init__(
        self, receiver: RTCRtpReceiver, sink: PacketSink, clock: Clock = MONOTONIC
    ) -> None:
        self.clock = clock
        check_aiortc_contract(receiver)
        if isinstance(getattr(receiver, _BUFFER_ATTR), _JitterBufferTap):
            raise ValueError("this receiver is already tapped")
        self.receiver = receiver
        self.packets = 0
        self._sink: PacketSink | None = sink
        setattr(receiver, _BUFFER_ATTR, _JitterBufferTap(self))

    def detach(self) -> None:
        """Stop calling `sink`; packets are then dropped (never decoded)."""
        self._sink = None

    def _packet(self, packet: RtpPacket) -> None:
        self.packets += 1
        if self._sink is not None:
            self._sink(packet.sequence_number, packet.timestamp, packet.payload, self.clock.now())
