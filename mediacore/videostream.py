"""A SIP or plain RTP leg's video stream on asyncio sockets: the thin adapter around
`videosession.VideoSession`.

It owns the bound port pair of the m=video line. What the peer's camera sends becomes a source
of the hub of the process the leg runs in, named after the participant (so walls, recordings and
browsers find it as they find a WebRTC camera); what the peer receives is `sender`'s picture
(`VideoSender`, pointed by `ComposedPicture` at the room's composed picture without the leg's
own camera, or by `ForwardedPicture` at the room's floor holder or latest camera when no
composed picture can be had).
Keyframe requests cross here both ways: the peer's PLI/FIR asks the followed source, a
subscriber of the leg's source makes the leg send a PLI/FIR (the hub coalesces them).

`VideoPlace` is where the hub is: in one process the server's hub (`LocalVideoPlace`); in a
media worker the worker's hub, which carries published sources up to control and brings
others' down (mediacore/server/legvideoplace.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from mediacore.clock import MONOTONIC, Clock
from mediacore.composedpicture import ComposedPicture, ComposeId
from mediacore.forwardedpicture import ForwardedPicture
from mediacore.joinedroom import JoinedRoom, Member
from mediacore.qualitytiers import lowest_estimate
from mediacore.rtp import is_rtcp
from mediacore.rtpsockets import RtpSockets
from mediacore.videohub import VideoHub, VideoSource
from mediacore.videosdp import VideoNegotiation
from mediacore.videosender import VideoSender
from mediacore.videosession import (
    Addr,
    BitrateLimited,
    FrameReceived,
    KeyframeWanted,
    VideoSession,
)
from mediacore.videotap import EncodedFrame

log = logging.getLogger(__name__)

REPORT_INTERVAL = 2.0


class VideoPlace(Protocol):
    """Where a leg's video meets the room's."""

    @property
    def hub(self) -> VideoHub: ...

    def published(self) -> None:
        """A source was registered in `hub` (a worker sends it up to control)."""
        ...

    async def find(self, source_id: str) -> VideoSource | None:
        """The source `source_id` in `hub`, brought from elsewhere if need be; None if none."""
        ...

    async def composed(
        self,
        room: str,
        participant: str,
        width: int | None,
        height: int | None,
        bitrate: float | None = None,
    ) -> VideoSource | None:
        """`participant`'s composed picture of `room` as a source of `hub` (at the room's size
        unless `width` and `height` say otherwise, at the quality tier `bitrate` bit/s takes);
        None when there is none to be had."""
        ...


class LocalVideoPlace:
    """The server's own hub, in a server without media workers."""

    def __init__(self, hub: VideoHub, composer: ComposeId | None = None) -> None:
        self._hub = hub
        self.composer = composer  # the server's conferences, once they exist

    @property
    def hub(self) -> VideoHub:
        return self._hub

    def published(self) -> None:
        return None

    async def find(self, source_id: str) -> VideoSource | None:
        try:
            return self._hub.get(source_id)
        except KeyError:
            return None

    async def composed(
        self,
        room: str,
        participant: str,
        width: int | None,
        height: int | None,
        bitrate: float | None = None,
    ) -> VideoSource | None:
        if self.composer is None:
            return None
        return await self.find(await self.composer(room, participant, width, height, bitrate))


class VideoStream(asyncio.DatagramProtocol):
    """One leg's video: sockets, session, published source and sent picture."""

    def __init__(
        self,
        negotiation: VideoNegotiation,
        place: VideoPlace,
        *,
        clock: Clock = MONOTONIC,
        nat: bool = False,
    ) -> None:
        self.place = place
        self.clock = clock
        now = clock.now()
        self.session = VideoSession(negotiation, now=now, wall_offset=time.time() - now, nat=nat)
        self.sender = VideoSender(self._send_frame, negotiation.codec)
        self.source: VideoSource | None = None
        self.picture: ComposedPicture | None = None
        self.sockets = RtpSockets()
        self._participant: str | None = None

    @property
    def local_port(self) -> int:
        return self.sockets.port

    @property
    def negotiation(self) -> VideoNegotiation:
        return self.session.negotiation

    # -- set-up and tear-down -----------------------------------------------------------

    def attach(
        self,
        port: int,
        transport: asyncio.DatagramTransport,
        rtcp_transport: asyncio.DatagramTransport | None,
        release: Callable[[], None] | None = None,
    ) -> None:
        """Take the bound sockets; `release` gives the port pair back when the stream closes."""
        self.sockets.attach(
            port, transport, rtcp_transport, release, report=self._report, interval=REPORT_INTERVAL
        )

    def joined(self, room: JoinedRoom, participant: Member) -> None:
        """The leg is in `room` (again, after a move): publish the camera, choose the picture."""
        self._participant = participant.id
        self._publish()
        if self.picture is not None:
            self.picture.stop()
        forwarded = ForwardedPicture(
            self.sender,
            participant.id,
            room,
            self.place.find,
            clock=self.clock,
            estimate=self.bitrate_estimate,
        )
        self.picture = ComposedPicture(
            self.sender,
            participant.id,
            room.name,
            self.place.composed,
            forwarded,
            size=self.negotiation.image_size,
            estimate=self.bitrate_estimate,
            clock=self.clock,
        )
        if self.negotiation.sends:
            self.picture.start()

    def bitrate_estimate(self) -> float | None:
        """What the terminal can take, bit/s: the tightest of its offer's b=TIAS (or b=AS)
        and its last TMMBR or REMB; None when it said nothing."""
        limit = self.session.bitrate_limit
        return lowest_estimate(
            self.session.negotiation.max_bitrate, None if limit is None else limit.bitrate
        )

    def floor_changed(self) -> None:
        if self.picture is not None:
            self.picture.poke()

    def renegotiate(self, negotiation: VideoNegotiation) -> None:
        """A new offer/answer kept the stream (re-INVITE): new peer address, direction or
        codec. A new codec or payload type starts a new session (new SSRC)."""
        old = self.session.negotiation
        if (old.codec, old.payload_type) != (negotiation.codec, negotiation.payload_type):
            now = self.clock.now()
            self.session = VideoSession(
                negotiation, now=now, wall_offset=time.time() - now, nat=self.session.nat
            )
            self.sender.follow(None)
            self.sender = VideoSender(self._send_frame, negotiation.codec)
            if self.source is not None:
                self.source.close()
                self.source = None
            self._publish()
        else:
            self.session.use(negotiation)
            self._publish()  # a dialled leg's camera, once the answer says it sends one
        if self.picture is not None:
            self.picture.size = negotiation.image_size
            self.picture.target = self.sender
            if negotiation.sends:
                self.picture.start()
            else:
                self.picture.stop()
                self.sender.follow(None)

    async def close(self) -> None:
        if self.picture is not None:
            self.picture.stop()
        self.sender.close()
        if self.source is not None:
            self.source.close()
            self.source = None
        self._send(self.session.bye(), self.session.remote_rtcp)
        self.sockets.close()

    def _publish(self) -> None:
        participant = self._participant
        if participant is None or self.source is not None or not self.negotiation.receives:
            return
        source = VideoSource(
            participant,
            self.negotiation.codec,
            participant_id=participant,
            keyframe_requester=self._request_keyframe,
        )
        try:
            self.place.hub.register_source(source)
        except ValueError:
            log.warning("a leg's video source clashes with another", extra={"source": participant})
            return
        self.source = source
        self.place.published()

    # -- datagrams ----------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: Addr) -> None:
        for event in self.session.receive(data, addr, self.clock.now()):
            if isinstance(event, FrameReceived):
                if self.source is not None:
                    self.source.push_encoded(EncodedFrame(event.codec, event.data, event.timestamp))
            elif isinstance(event, KeyframeWanted):
                self.sender.request_keyframe()
            elif isinstance(event, BitrateLimited):
                log.info(
                    "video leg bitrate limit",
                    extra={"bitrate": event.bitrate, "kind": event.kind, "port": self.local_port},
                )
        self._flush()

    def error_received(self, exc: Exception) -> None:
        self.session.dropped["icmp"] += 1

    def _request_keyframe(self) -> None:
        self.session.request_keyframe()
        self._flush()

    def _send_frame(self, data: bytes, pts: int | None) -> None:
        self.session.packetize(data, pts)
        self._flush()

    def _flush(self) -> None:
        for datagram, destination in self.session.to_send():
            self._send(datagram, destination)

    def _send(self, datagram: bytes, destination: Addr) -> None:
        if destination[1] == 0 or destination[0] in ("0.0.0.0", "::"):
            return  # the peer holds the stream, or takes none
        transport = self.sockets.rtp
        if is_rtcp(datagram) and self.sockets.rtcp is not None:
            transport = self.sockets.rtcp
        if transport is not None:
            transport.sendto(datagram, destination)

    def _report(self) -> None:
        self.session.report(self.clock.now())
        self._flush()

    # -- reporting ----------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """The leg's video for its roster entry: terms, limits, what it sends and receives."""
        session, negotiation = self.session, self.session.negotiation
        limit = session.bitrate_limit
        sending = self.sender.source
        return {
            "codec": negotiation.codec,
            "payload_type": negotiation.payload_type,
            "fmtp": negotiation.fmtp,
            "direction": negotiation.direction,
            "local_port": self.local_port,
            "remote": f"{session.remote[0]}:{session.remote[1]}",
            "feedback": sorted(negotiation.feedback),
            "max_bitrate": negotiation.max_bitrate,
            "bitrate_limit": None
            if limit is None
            else {"bitrate": limit.bitrate, "kind": limit.kind},
            "image_size": list(negotiation.image_size) if negotiation.image_size else None,
            "source": self.source.id if self.source is not None else None,
            "sending": sending.id if sending is not None else None,
            "picture": self.picture.mode if self.picture is not None else None,
            "frames_received": session.frames_received,
            "frames_sent": session.frames_sent,
            "packets_received": session.packets_received,
            "packets_sent": session.packets_sent,
            "keyframe_requests_sent": session.keyframe_requests_sent,
            "keyframe_requests_received": session.keyframe_requests_received,
            "nacks_sent": session.nacks_sent,
            "retransmitted": session.retransmitted,
        }
