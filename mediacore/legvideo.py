"""A SIP or plain RTP leg's video, offer by offer: the answer's m=video line and the stream
behind it.

The audio answer (mediacore.offeranswer) rejects the offer's video with port 0; `VideoSlot.answer`
then puts our accepted line in its place when we can take the video, binding the stream's own
port pair the first time and keeping it for later offers (re-INVITEs): the same stream is
renegotiated, a video line with port 0 (or none) closes it, and a later offer with video opens
a new one. An offer we cannot take keeps port 0 and the audio goes on as before.
"""

from __future__ import annotations

import logging
from typing import Any

from mediacore.clock import MONOTONIC, Clock
from mediacore.joinedroom import JoinedRoom, Member
from mediacore.ports import PortPool, PortsExhausted
from mediacore.sdp import DIRECTIONS, MediaDescription, SdpError, SessionDescription
from mediacore.videooffer import answered_video, offer_media, pending_negotiation
from mediacore.videosdp import (
    VideoNegotiation,
    VideoOfferError,
    accept_in,
    answer_media,
    negotiate_video,
    offered_video,
)
from mediacore.videostream import VideoPlace, VideoStream

log = logging.getLogger(__name__)

VideoLine = tuple[int, MediaDescription]  # an m=video line and its position in its SDP


def video_line(description: SessionDescription) -> VideoLine | None:
    """The first m=video line of `description` (live or refused), with its index."""
    for index, media in enumerate(description.media):
        if media.kind == "video":
            return index, media
    return None


def offer_line(line: MediaDescription, direction: str) -> MediaDescription:
    """Our last answer's video line as a line of our own offer (RFC 3264 section 8: a new
    offer keeps every m= line). Resuming (`sendrecv`) restores the answered direction; holding
    (`sendonly`) keeps only our sending; a refused line stays refused."""
    answered = next((name for name, _ in line.attributes if name in DIRECTIONS), "sendrecv")
    if direction != "sendrecv":
        answered = "sendonly" if answered in ("sendrecv", "sendonly") else "inactive"
    attributes = [(name, value) for name, value in line.attributes if name not in DIRECTIONS]
    if line.port:
        attributes.append((answered, None))
    return MediaDescription(
        line.kind, line.port, line.proto, list(line.formats), attributes=attributes
    )


class LegVideo:
    """What a leg factory needs to give its legs video: the port pool and the video place."""

    def __init__(self, ports: PortPool, place: VideoPlace, clock: Clock = MONOTONIC) -> None:
        self.ports = ports
        self.place = place
        self.clock = clock

    def slot(self, bind_host: str, nat: bool) -> VideoSlot:
        """A new leg's place for video, its sockets bound on `bind_host` when it gets some."""
        return VideoSlot(self, bind_host, nat)


class VideoSlot:
    """One leg's video: `stream` while the session has video, None otherwise."""

    def __init__(self, owner: LegVideo, bind_host: str, nat: bool) -> None:
        self.owner = owner
        self.bind_host = bind_host
        self.nat = nat
        self.stream: VideoStream | None = None
        self.refused: str | None = None  # why the last offer's video was refused
        self.line: VideoLine | None = None  # our last answer's m=video line
        self._room: JoinedRoom | None = None
        self._participant: Member | None = None

    async def answer(self, offer: SessionDescription, answer: SessionDescription) -> None:
        """Answer `offer`'s video inside `answer` (the audio answer to the same offer)."""
        try:
            await self._answer(offer, answer)
        finally:
            self.line = video_line(answer)

    def offer(self, direction: str) -> VideoLine | None:
        """The video line of a new offer of ours, where our last answer had one."""
        if self.line is None:
            return None
        index, line = self.line
        return index, offer_line(line, direction)

    async def _answer(self, offer: SessionDescription, answer: SessionDescription) -> None:
        index = offered_video(offer)
        if index is None:
            self.refused = None
            await self._close()
            return
        try:
            negotiation = negotiate_video(offer, index)
        except (VideoOfferError, SdpError) as error:
            self.refused = str(error)
            log.info("video refused", extra={"error": str(error)})
            await self._close()
            return
        self.refused = None
        stream = self.stream
        if stream is not None and stream.negotiation.rtcp_mux != negotiation.rtcp_mux:
            await self._close()  # muxing on or off needs another socket pair
            stream = None
        if stream is None:
            try:
                stream = await self._open(negotiation)
            except PortsExhausted as error:
                self.refused = str(error)
                return
        else:
            stream.renegotiate(negotiation)
        accept_in(answer, answer_media(negotiation, stream.local_port), index)

    async def _open(self, negotiation: VideoNegotiation) -> VideoStream:
        owner = self.owner
        stream = VideoStream(negotiation, owner.place, clock=owner.clock, nat=self.nat)
        port, rtp, rtcp = await owner.ports.bind(
            self.bind_host, lambda: stream, None if negotiation.rtcp_mux else (lambda: stream)
        )
        stream.attach(port, rtp, rtcp, release=lambda: owner.ports.release(port))
        self.stream = stream
        if self._room is not None and self._participant is not None:
            stream.joined(self._room, self._participant)
        return stream

    async def _close(self) -> None:
        stream, self.stream = self.stream, None
        if stream is not None:
            await stream.close()

    async def offer_into(self, offer: SessionDescription) -> None:
        """Add our video line to `offer` (a dial-out with video: mediacore.videooffer), its
        stream bound now, waiting for the answer (`answered`)."""
        pending = pending_negotiation(len(offer.media))
        try:
            stream = await self._open(pending)
        except PortsExhausted as error:
            self.refused = str(error)
            return
        offer.media.append(offer_media(pending, stream.local_port))
        self.line = video_line(offer)

    async def answered(self, answer: SessionDescription) -> None:
        """The far end's answer to the offer `offer_into` made: the stream takes its terms, or
        ends when it refused our video (the audio goes on)."""
        if self.stream is None or self.line is None:
            return
        index = self.line[0]
        try:
            negotiation = answered_video(answer, index)
        except (VideoOfferError, SdpError) as error:
            self.refused = str(error)
            log.info("dialled video refused", extra={"error": str(error)})
            await self._close()
            offered = self.line[1]  # later offers keep the line, refused (RFC 3264 section 8)
            self.line = index, MediaDescription("video", 0, offered.proto, list(offered.formats))
            return
        self.stream.renegotiate(negotiation)
        self.line = index, answer_media(negotiation, self.stream.local_port)

    def joined(self, room: JoinedRoom, participant: Member) -> None:
        self._room, self._participant = room, participant
        if self.stream is not None:
            self.stream.joined(room, participant)

    def floor_changed(self) -> None:
        if self.stream is not None:
            self.stream.floor_changed()

    async def close(self) -> None:
        await self._close()

    def describe(self) -> dict[str, Any] | None:
        """The stream's description for the roster; None without video."""
        if self.stream is None:
            return {"refused": self.refused} if self.refused else None
        return self.stream.describe()
