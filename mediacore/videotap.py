"""Encoded video out of an aiortc receiver, and keyframe requests in and out: the only place that
touches aiortc's private RTP internals, so an aiortc upgrade breaks this file and nothing else.

How aiortc 1.16 receives video: `RTCRtpReceiver._handle_rtp_packet` (on the event loop) runs
NACK, REMB and RTCP statistics, unwraps RTX, depayloads (VP8 descriptor stripped; H.264 turned
into Annex B), reassembles whole frames in its `JitterBuffer`, unwraps the RTP timestamp to start
at 0, and then puts `(codec, JitterFrame)` on `self.__decoder_queue`, a `queue.Queue` read by the
`decoder_worker` thread. `None` on that queue stops the thread, which then ends the receiver's
track.

`ReceiverTap` replaces that one queue with `_DecoderQueueTap`: frames go to a callback instead of
the decoder, the `None` stop marker goes through to the worker. That is the smallest point that
yields exactly what the decoder would get, with aiortc's NACK/RTX/jitter buffer untouched. Not
chosen: subclassing `RTCRtpReceiver` (`RTCPeerConnection` builds its receivers itself); patching
the module's `decoder_worker` (process-wide: it would also silence our subscribers' decoders);
re-assembling frames from `_handle_rtp_packet` ourselves (a copy of aiortc's jitter buffer, and
aiortc's decoder would still run). The worker thread stays alive, idle on its queue.

Keyframe requests: `RTCRtpReceiver._send_rtcp_pli(media_ssrc)` sends a PLI to the publisher, the
SSRC coming from the public `getSynchronizationSources()`. Toward us, an aiortc sender answers a
subscriber's PLI/FIR by calling `RTCRtpSender._send_keyframe()`, which only affects its encoder,
so for forwarded packets `relay_keyframe_requests` reroutes it to our source. What the
subscriber says about bandwidth (REMB, receiver reports) reaches `RTCRtpSender._handle_rtcp_packet`
(aiortc's transport routes each RTCP packet to the senders whose SSRC it names, REMB by the SSRCs
in its FCI), which hands a REMB to its own encoder only and offers no hook:
`observe_sender_rtcp` wraps that one method on the sender instance, calling the original first,
then ours with the packet's bytes and the sender's SSRC (`_ssrc`). And a transceiver
answering a remote offer keeps the codecs `setRemoteDescription` chose in `_codecs`, which
`restrict_answer_codecs` narrows to the publisher's.

`check_aiortc_contract()` asserts these names and types and runs when a tap is installed; the test
`test_receiver_tap_yields_jitter_frames_without_decoding` feeds RTP into a real receiver. Either
fails loudly on an aiortc release that moves them.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import queue
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiortc import RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc.codecs import is_rtx
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

log = logging.getLogger(__name__)

_QUEUE_ATTR = "_RTCRtpReceiver__decoder_queue"


class AiortcContractError(RuntimeError):
    """The installed aiortc no longer has the internals this module relies on."""


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """One reassembled frame as aiortc would hand it to its decoder.

    `data` is the depayloaded bitstream (VP8 frame, or H.264 Annex B access unit); `timestamp` is
    in the codec clock (90 kHz for video), unwrapped so that the first frame is at 0."""

    codec: RTCRtpCodecParameters
    data: bytes
    timestamp: int


def check_aiortc_contract(receiver: RTCRtpReceiver | None = None) -> None:
    """Raise `AiortcContractError` unless aiortc still has what the tap and PLI relay use.

    With a `receiver`, also check that its decoder queue is where we expect it."""
    pli = getattr(RTCRtpReceiver, "_send_rtcp_pli", None)
    if pli is None or not inspect.iscoroutinefunction(pli):
        raise AiortcContractError("RTCRtpReceiver._send_rtcp_pli(media_ssrc) is gone")
    if "media_ssrc" not in inspect.signature(pli).parameters:
        raise AiortcContractError("RTCRtpReceiver._send_rtcp_pli no longer takes media_ssrc")
    if not callable(getattr(RTCRtpSender, "_send_keyframe", None)):
        raise AiortcContractError("RTCRtpSender._send_keyframe() is gone")
    handle = getattr(RTCRtpSender, "_handle_rtcp_packet", None)
    if handle is None or not inspect.iscoroutinefunction(handle):
        raise AiortcContractError("RTCRtpSender._handle_rtcp_packet(packet) is gone")
    if receiver is not None:
        current = getattr(receiver, _QUEUE_ATTR, None)
        if not isinstance(current, queue.Queue):
            raise AiortcContractError(
                f"RTCRtpReceiver has no queue.Queue {_QUEUE_ATTR}; the decoder hand-off moved"
            )


class _DecoderQueueTap(queue.Queue[Any]):
    """Stands in for the receiver's decoder queue: frames to the tap, the stop marker through."""

    def __init__(self, replaced: queue.Queue[Any], tap: ReceiverTap) -> None:
        super().__init__()
        self._replaced = replaced
        self._tap = tap

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:
            # The worker reads whichever queue it was started with: ours if we were installed
            # before RTCRtpReceiver.receive(), the replaced one otherwise.
            super().put(None)
            self._replaced.put(None)
            self._tap._ended()
            return
        self._tap._frame(item)


class ReceiverTap:
    """Diverts a video receiver's reassembled frames from aiortc's decoder to `on_frame`.

    `on_frame(EncodedFrame)` and `on_end()` are called on the event loop. `on_end` fires once, when
    aiortc stops the receiver (peer connection closed, RTCP BYE, transport lost). Raises
    `AiortcContractError` when aiortc's internals are not as this module expects."""

    def __init__(
        self,
        receiver: RTCRtpReceiver,
        on_frame: Callable[[EncodedFrame], None],
        on_end: Callable[[], None],
    ) -> None:
        check_aiortc_contract(receiver)
        self.receiver = receiver
        self.frames = 0
        self.plis_sent = 0
        self._on_frame: Callable[[EncodedFrame], None] | None = on_frame
        self._on_end: Callable[[], None] | None = on_end
        self._bad_items = 0
        self._tasks: set[asyncio.Task[None]] = set()
        replaced = getattr(receiver, _QUEUE_ATTR)
        if isinstance(replaced, _DecoderQueueTap):
            raise ValueError("this receiver is already tapped")
        setattr(receiver, _QUEUE_ATTR, _DecoderQueueTap(replaced, self))

    def detach(self) -> None:
        """Stop calling back; frames are then dropped (never decoded) until the receiver stops."""
        self._on_frame = None
        self._on_end = None

    def request_keyframe(self) -> None:
        """Send an RTCP PLI for the publisher's most recent SSRC, if one has been seen yet."""
        sources = self.receiver.getSynchronizationSources()
        if not sources:
            return
        ssrc = max(sources, key=lambda s: s.timestamp).source
        task = asyncio.get_running_loop().create_task(self._send_pli(ssrc))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_pli(self, ssrc: int) -> None:
        await self.receiver._send_rtcp_pli(ssrc)
        self.plis_sent += 1

    def _frame(self, item: Any) -> None:
        try:
            codec, jitter_frame = item
            frame = EncodedFrame(
                codec=codec, data=bytes(jitter_frame.data), timestamp=int(jitter_frame.timestamp)
            )
            if not isinstance(codec, RTCRtpCodecParameters):
                raise TypeError(type(codec).__name__)
        except (TypeError, ValueError, AttributeError) as exc:
            self._bad_items += 1
            if self._bad_items == 1:
                log.error("aiortc decoder queue item is not (codec, JitterFrame): %r", exc)
            return
        self.frames += 1
        if self._on_frame is not None:
            self._on_frame(frame)

    def _ended(self) -> None:
        on_end, self._on_end = self._on_end, None
        self._on_frame = None
        if on_end is not None:
            on_end()


def restrict_answer_codecs(
    transceiver: RTCRtpTransceiver, keep: Callable[[RTCRtpCodecParameters], bool]
) -> bool:
    """Narrow the codecs a transceiver negotiated from a remote offer (the next answer lists
    them, and the sender sends the first) to those `keep` accepts, with their RTX. aiortc
    fixes them in `setRemoteDescription`, so `setCodecPreferences` comes too late for an answer.
    Returns False, changing nothing, when no codec is kept."""
    codecs = getattr(transceiver, "_codecs", None)
    if not isinstance(codecs, list) or not all(
        isinstance(c, RTCRtpCodecParameters) for c in codecs
    ):
        raise AiortcContractError("RTCRtpTransceiver._codecs is not a list of codec parameters")
    kept = [c for c in codecs if not is_rtx(c) and keep(c)]
    if not kept:
        return False
    types = {c.payloadType for c in kept}
    rtx = [c for c in codecs if is_rtx(c) and c.parameters.get("apt") in types]
    transceiver._codecs = kept + rtx
    return True


def relay_keyframe_requests(sender: RTCRtpSender, request: Callable[[], None]) -> None:
    """Make the subscriber's PLI/FIR arriving at `sender` call `request()` (ours: a rate-limited
    PLI to the publisher) instead of asking the sender's encoder, which forwarding never uses."""
    check_aiortc_contract()
    sender._send_keyframe = request  # type: ignore[method-assign]


def observe_sender_rtcp(sender: RTCRtpSender, observe: Callable[[bytes, int], None]) -> None:
    """Call `observe(packet bytes, sender SSRC)` for every RTCP packet aiortc routes to `sender`
    (receiver reports naming it, REMB listing it, its NACKs and PLIs), after aiortc handled it.
    A failing observer is logged, never stops aiortc's handling."""
    check_aiortc_contract()
    handle = sender._handle_rtcp_packet

    async def observed(packet: Any) -> None:
        await handle(packet)
        try:
            observe(bytes(packet), int(sender._ssrc))
        except Exception:
            log.exception("observing a sender's RTCP failed")

    sender._handle_rtcp_packet = observed  # type: ignore[method-assign]
