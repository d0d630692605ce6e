"""A WebRTC peer as a room participant: one aiortc RTCPeerConnection behind the Endpoint API.

Audio in: `AudioTap` takes the peer's RTP packets out of aiortc's receiver (after SRTP, before
its 80 ms jitter buffer and its decoder) into an `AudioPlayout`, the adaptive jitter buffer and
Opus decoder of an RTP leg, which the mixer reads one tick at a time. Audio out: the leg is an
AudioOutput of format Opus/20 ms, so it joins the mixer's shared encode groups; each packet goes
to an `OpusPacketTrack`, whose av.Packets aiortc's sender packs into RTP without encoding again.

Video is a seam for the video hub: the peer connection (`pc`), the receivers of the video the
peer sends (`video_receivers`), `add_video_sender()` / `remove_video_sender()`, and
server-initiated renegotiation (`renegotiate()` then `accept_answer()`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

from aiortc import (
    MediaStreamTrack,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc import sdp as aiortc_sdp
from aiortc.exceptions import OperationError

from mediacore.clock import MONOTONIC, Clock
from mediacore.codecs import registry
from mediacore.codecs.base import CodecInfo
from mediacore.endpoint import Endpoint, output_format
from mediacore.joinedroom import JoinedRoom, Member
from mediacore.playout import AudioPlayout
from mediacore.sdp import SdpError, SessionDescription
from mediacore.videohub import ForwardedVideoTrack
from webrtc.audiotap import AudioTap
from webrtc.closing import CloseCallbacks
from webrtc.ice import add_host_candidates, rtc_configuration
from webrtc.reoffer import Negotiated, keep_negotiated
from webrtc.settings import WebRtcSettings
from webrtc.tracks import OpusPacketTrack

log = logging.getLogger(__name__)

LegMode = Literal["session", "publish", "play"]  # WebSocket peer, WHIP publisher, WHEP player
CODEC = "opus/48000/2"
OPUS_PTIME = 20
MAX_MEDIA_SECTIONS = 8  # m= lines in one offer: audio, a few videos, data
# A peer that never completes ICE and DTLS within this long is removed.
CONNECT_TIMEOUT = 30.0
CLOSE_TIMEOUT = 5.0

_DIRECTIONS: dict[LegMode, str] = {"session": "sendrecv", "publish": "recvonly", "play": "sendonly"}
_GONE_STATES = ("failed", "closed")


class WebRtcError(ValueError):
    """An offer or answer the leg cannot use; `reason` is the API's error code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def _opus() -> CodecInfo:
    codec = registry.lookup("opus", 48000, 2)
    if codec is None:  # mediacore.codecs registers it at import
        raise RuntimeError("the Opus codec is not registered")
    return codec


class WebRtcLeg(Endpoint):
    kind = "webrtc"

    def __init__(
        self,
        settings: WebRtcSettings,
        *,
        room_rate: int,
        tick_ms: int,
        mode: LegMode = "session",
        accept_video: bool = False,
        clock: Clock = MONOTONIC,
    ) -> None:
        self.clock = clock
        """`mode` says what the peer does: "session" talks and listens, "publish" (WHIP) only
        sends, "play" (WHEP) only receives. Video m-lines of an offer are answered inactive
        unless `accept_video` (a video hub is there to take them)."""
        self.mode: LegMode = mode
        self.accept_video = accept_video
        self.pc = RTCPeerConnection(rtc_configuration(settings))
        opus = _opus()
        self.format = output_format(opus, OPUS_PTIME)
        self.video_receivers: list[RTCRtpReceiver] = []
        self.video_senders: list[RTCRtpSender] = []
        self._used_transceivers: set[RTCRtpTransceiver] = set()
        # Called when a change needs an offer/answer round (set by the signalling session).
        self.on_negotiation_needed: Callable[[], None] | None = None
        self.participant_id: str | None = None
        # Opus only (the transceiver's codec preferences), so one playout serves the call.
        self.playout = AudioPlayout(opus, registry.new_decoder(opus), room_rate, tick_ms)
        self.outgoing = OpusPacketTrack(tick_ms)
        self._audio: RTCRtpTransceiver | None = None
        self._audio_tap: AudioTap | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._room: JoinedRoom | None = None
        self._created = self.clock.now()
        self._connected = False
        self._closed = False
        self._close_callbacks = CloseCallbacks()
        self.pc.on("connectionstatechange", self._connection_state_changed)

    # -- offer/answer ---------------------------------------------------------------------

    async def answer(
        self,
        offer: str,
        *,
        loopback: Sequence[str] = (),
        before_answer: Callable[[], Awaitable[None]] | None = None,
    ) -> str:
        """Answer the peer's SDP offer; returns the SDP answer with all our candidates.

        `loopback`: loopback addresses to offer as host candidates too (see webrtc.ice).
        `before_answer` runs after the offer is applied and before the answer is made (a WHEP
        player's video subscription goes there, so the answer already carries it).
        Raises: WebRtcError ("bad-sdp", "no-audio", "no-common-codec")."""
        # The core's bounded parser first: aiortc's skips what it does not understand.
        try:
            parsed = SessionDescription.parse(offer)
        except SdpError as error:
            raise WebRtcError("bad-sdp", f"unusable SDP offer: {error}") from None
        if len(parsed.media) > MAX_MEDIA_SECTIONS:
            raise WebRtcError("bad-sdp", f"at most {MAX_MEDIA_SECTIONS} media sections")
        if not any(media.kind == "audio" for media in parsed.media):
            raise WebRtcError("no-audio", "the offer has no audio media section")
        direction = _DIRECTIONS[self.mode]
        sends = direction in ("sendrecv", "sendonly")
        audio = self.pc.addTransceiver(self.outgoing if sends else "audio", direction=direction)
        capabilities = RTCRtpSender.getCapabilities("audio").codecs
        opus = [c for c in capabilities if c.mimeType.lower() == "audio/opus"]
        audio.setCodecPreferences(opus)  # the mixer sends Opus packets: nothing else fits
        self._audio = audio
        # Before any packet can arrive: aiortc's jitter buffer and decoder never see one.
        self._audio_tap = AudioTap(audio.receiver, self.playout.receive, self.clock)
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        except OperationError as error:  # no codec in common for some media section
            raise WebRtcError("no-common-codec", f"{error} (audio must offer Opus)") from None
        except Exception as error:  # aiortc's parser raises anything from ValueError on
            raise WebRtcError(
                "bad-sdp", f"unusable SDP offer: {error or type(error).__name__}"
            ) from None
        if audio.mid is None:
            raise WebRtcError("no-audio", "the offer has no audio media section")
        if before_answer is not None:
            await before_answer()
        for transceiver in self.pc.getTransceivers():
            if transceiver is not audio and transceiver.sender.track is None:
                if transceiver.kind != "video" or not self.accept_video:
                    transceiver.direction = "inactive"  # no receiver runs, nothing queues up
        answer = await self.pc.createAnswer()
        gatherer = audio.receiver.transport.transport.iceGatherer
        if loopback and gatherer.state == "new":
            await add_host_candidates(gatherer, loopback)
        await self.pc.setLocalDescription(answer)
        self._start_media()
        return str(self.pc.localDescription.sdp)

    def _start_media(self) -> None:
        audio = self._audio
        assert audio is not None
        current = audio.currentDirection or "inactive"
        self.audio_output = self if current in ("sendrecv", "sendonly") else None
        receiving = current in ("sendrecv", "recvonly")
        self.audio_input = self.playout if receiving else None
        self.video_receivers = [
            t.receiver
            for t in self.pc.getTransceivers()
            if t.kind == "video" and t.currentDirection in ("sendrecv", "recvonly")
        ]

    async def renegotiate(self) -> str:
        """Make a server-side offer (after adding or removing video); returns its SDP.

        The caller sends it to the peer and hands the peer's answer to `accept_answer()`.
        Raises: WebRtcError("negotiating") while a previous offer awaits its answer."""
        if self.pc.signalingState != "stable":
            raise WebRtcError("negotiating", "an offer is already waiting for its answer")
        # aiortc's offer renumbers what the first round fixed, which browsers refuse: keep it.
        negotiated = {
            t.mid: Negotiated(list(t._codecs), list(t._headerExtensions))
            for t in self.pc.getTransceivers()
            if t.mid is not None and t.currentDirection is not None
        }
        offer = await self.pc.createOffer()
        description = aiortc_sdp.SessionDescription.parse(offer.sdp)
        keep_negotiated(description, negotiated)
        for transceiver in self.pc.getTransceivers():
            kept = negotiated.get(transceiver.mid) if transceiver.mid is not None else None
            if kept is not None:  # createOffer() reset them; the answer sets them again
                transceiver._codecs, transceiver._headerExtensions = kept.codecs, kept.extensions
        await self.pc.setLocalDescription(RTCSessionDescription(str(description), "offer"))
        return str(self.pc.localDescription.sdp)

    async def accept_answer(self, sdp: str) -> None:
        """Apply the peer's answer to our last offer. Raises: WebRtcError ("no-offer-pending",
        "bad-sdp")."""
        if self.pc.signalingState != "have-local-offer":
            raise WebRtcError("no-offer-pending", "no offer of ours is waiting for an answer")
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp, "answer"))
        except Exception as error:
            raise WebRtcError(
                "bad-sdp", f"unusable SDP answer: {error or type(error).__name__}"
            ) from None
        self._start_media()

    async def accept_offer(self, offer: str) -> str:
        """Answer a new offer of the peer in a call already set up (a browser adding a track,
        its screen); returns our answer. New video is received when a hub takes it (else
        inactive), new audio never. Raises: WebRtcError ("negotiating" while an offer of ours
        waits or a change of ours is not offered yet, "bad-sdp", "no-common-codec")."""
        if self.pc.signalingState != "stable" or any(
            t.mid is None for t in self.pc.getTransceivers()
        ):
            raise WebRtcError("negotiating", "answer the server's offer first, then offer again")
        try:
            parsed = SessionDescription.parse(offer)
        except SdpError as error:
            raise WebRtcError("bad-sdp", f"unusable SDP offer: {error}") from None
        if len(parsed.media) > MAX_MEDIA_SECTIONS:
            raise WebRtcError("bad-sdp", f"at most {MAX_MEDIA_SECTIONS} media sections")
        known = set(self.pc.getTransceivers())
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        except OperationError as error:
            raise WebRtcError("no-common-codec", str(error)) from None
        except Exception as error:  # aiortc's parser raises anything from ValueError on
            raise WebRtcError(
                "bad-sdp", f"unusable SDP offer: {error or type(error).__name__}"
            ) from None
        for transceiver in self.pc.getTransceivers():
            if transceiver not in known and (transceiver.kind != "video" or not self.accept_video):
                transceiver.direction = "inactive"
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self._start_media()
        return str(self.pc.localDescription.sdp)

    @property
    def negotiating(self) -> bool:
        """True while an offer of ours waits for the peer's answer."""
        return self.pc.signalingState == "have-local-offer"

    # -- video seam -----------------------------------------------------------------------

    def add_video_sender(self, track: MediaStreamTrack) -> RTCRtpSender:
        """Send `track` (a video source's forwarded packets) to this peer.

        Reuses a video transceiver of the offer that sends nothing yet (a WHEP player's), else
        adds a send-only one; outside an offer/answer round it asks for renegotiation."""
        # A transceiver that once sent cannot send again in aiortc (its sender's track ended):
        # only ones that never carried a track are reused.
        free = next(
            (
                t
                for t in self.pc.getTransceivers()
                if t.kind == "video"
                and t.sender.track is None
                and not t.stopped
                and t not in self._used_transceivers
            ),
            None,
        )
        if free is not None:
            free.sender.replaceTrack(track)
            receiving = free.direction in ("recvonly", "sendrecv")
            free.direction = "sendrecv" if receiving else "sendonly"
            sender = free.sender
        else:
            free = self.pc.addTransceiver(track, direction="sendonly")
            sender = free.sender
        self._used_transceivers.add(free)
        self.video_senders.append(sender)
        self._negotiation_needed()
        return sender

    def remove_video_sender(self, sender: RTCRtpSender) -> None:
        """Stop sending one video; its transceiver stays (m-lines are never removed)."""
        for transceiver in self.pc.getTransceivers():
            if transceiver.sender is sender:
                sender.replaceTrack(None)
                receiving = transceiver.direction in ("recvonly", "sendrecv")
                transceiver.direction = "recvonly" if receiving else "inactive"
        if sender in self.video_senders:
            self.video_senders.remove(sender)
        self._negotiation_needed()

    def _negotiation_needed(self) -> None:
        # Inside answer() (a remote offer is applied) the answer carries the change itself.
        if self.pc.signalingState != "have-remote-offer" and self.on_negotiation_needed:
            self.on_negotiation_needed()

    # -- media ----------------------------------------------------------------------------

    def send_payload(self, payload: bytes, tick: int) -> None:
        self.outgoing.put(payload, tick)

    # -- life cycle -----------------------------------------------------------------------

    def joined(self, room: JoinedRoom, participant: Member) -> None:
        self._room = room
        self.outgoing.continue_pts()  # a moved leg hears the new room's ticks
        self.participant_id = participant.id
        if self.pc.connectionState in _GONE_STATES:  # failed while it was being added
            self._leave("webrtc-closed")

    def on_close(self, callback: Callable[[str], None]) -> None:
        """Call `callback(reason)` once the leg has closed (whoever closed it)."""
        self._close_callbacks.add(callback)

    def _connection_state_changed(self) -> None:
        state = self.pc.connectionState
        if state == "connected":
            self._connected = True
        elif state in _GONE_STATES and not self._closed:
            self._leave("webrtc-closed")

    def _leave(self, reason: str) -> None:
        """Take the participant out of its room now, not at the next housekeeping."""
        room, participant_id = self._room, self.participant_id
        if room is None or participant_id is None or participant_id not in room.participants:
            return
        task = asyncio.get_running_loop().create_task(room.remove(participant_id, reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def check(self, now: float) -> str | None:
        if self.pc.connectionState in _GONE_STATES:
            return "webrtc-closed"
        if not self._connected and now - self._created > CONNECT_TIMEOUT:
            return "webrtc-timeout"
        return None

    @property
    def closed(self) -> bool:
        return self._closed

    async def close(self, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        self.audio_output = None
        self.outgoing.stop()
        if self._audio_tap is not None:
            self._audio_tap.detach()
        try:
            await asyncio.wait_for(self.pc.close(), CLOSE_TIMEOUT)
        except Exception:  # a peer that fails to close must not keep the room from going on
            log.exception("closing a peer connection failed")
        self._close_callbacks.fire(reason)

    # -- reporting ------------------------------------------------------------------------

    def remote_address(self) -> str | None:
        """The peer's address of the selected ICE pair, once one is nominated."""
        if self._audio is None:
            return None
        connection = getattr(self._audio.receiver.transport.transport, "_connection", None)
        pair = getattr(connection, "_nominated", {}).get(1)
        candidate = getattr(pair, "remote_candidate", None)
        if candidate is None:
            return None
        return f"{candidate.host}:{candidate.port}"

    def describe(self) -> dict[str, Any]:
        return {
            "codec": CODEC,
            "mode": self.mode,
            "ice_state": self.pc.iceConnectionState,
            "connection_state": self.pc.connectionState,
            "remote": self.remote_address(),
            "video_in": len(self.video_receivers),
            "video_out": len(self.video_senders),
            # per video sent: the browser's REMB and receiver reports, the estimate read
            "video_feedback": [
                sender.track.feedback.describe()
                for sender in self.video_senders
                if isinstance(sender.track, ForwardedVideoTrack) and sender.track.feedback
            ],
        }

    def statistics(self) -> dict[str, float]:
        jitter = self.playout.jitter
        return {
            "packets_received": self._audio_tap.packets if self._audio_tap else 0,
            "packets_sent": self.outgoing.packets,
            "bytes_sent": self.outgoing.bytes,
            "jitter_seconds": jitter.jitter_seconds,
            "buffer_delay_seconds": jitter.delay_seconds,
            "late_packets": jitter.stats.late,
            "concealed_packets": jitter.stats.lost + jitter.stats.underruns,
            "dropped_packets": self.outgoing.dropped,
        }
