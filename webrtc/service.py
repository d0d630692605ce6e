"""The WebRTC side of a server: the live peers, how they join rooms, and the video hub seam."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from aiortc import RTCRtpReceiver

from mediacore.participant import Duplex, Participant
from mediacore.room import Room
from webrtc.peer import LegMode, WebRtcError, WebRtcLeg
from webrtc.settings import WebRtcSettings

log = logging.getLogger(__name__)


class VideoHub(Protocol):
    """Forwards encoded video between peers (implemented in mediacore/videohub.py).

    The service calls `attach` once a leg is in its room (its `video_receivers` hold the video
    it publishes, possibly none) and `detach` when it has closed. Subscriptions come from the
    signalling session (and a WHEP player's `video=` query)."""

    async def subscribe(self, leg: WebRtcLeg, source_id: str) -> object:
        """Send participant `source_id`'s video to `leg` (through `leg.add_video_sender`) and
        ask the source for a keyframe. Raises: KeyError when there is no such video source;
        any other exception refuses the subscription, its text shown to the client."""
        ...

    async def unsubscribe(self, leg: WebRtcLeg, source_id: str) -> object:
        """Stop sending `source_id`'s video to `leg`. Raises: KeyError if not subscribed."""
        ...

    def may_watch(self, room: Room, source_id: str) -> bool:
        """Whether participants of `room` may receive `source_id` (its own sources only)."""
        ...

    def attach(self, leg: WebRtcLeg) -> None: ...

    def receiver_source(self, leg: WebRtcLeg, receiver: RTCRtpReceiver, suffix: str) -> str:
        """The source `receiver` of `leg` feeds, made `<participant>/<suffix>` when it has
        none. Raises ValueError when its source has ended."""
        ...

    def detach(self, leg: WebRtcLeg) -> None: ...


class WebRtcService:
    """Holds every live WebRTC leg of the server, by participant id."""

    def __init__(self, settings: WebRtcSettings) -> None:
        self.settings = settings
        self.video_hub: VideoHub | None = None  # installed by the video side when it exists
        self.legs: dict[str, WebRtcLeg] = {}
        self._pending: set[WebRtcLeg] = set()

    async def join(
        self,
        room: Room,
        offer: str,
        *,
        name: str,
        mode: LegMode,
        duplex: Duplex = "full",
        priority: int = 0,
        loopback: Sequence[str] = (),
        video_source: str | None = None,
    ) -> tuple[Participant, str]:
        """Answer a WebRTC offer with a new participant of `room`; returns it and the answer.

        `video_source` (a WHEP player's choice) is subscribed through the hub before the
        answer is made. Raises: WebRtcError (unusable offer; "video-unavailable" without a hub,
        "unknown-source"), RoomClosed, RoomFull or RoomError."""
        room.check_capacity()
        hub = self.video_hub
        if video_source is not None and hub is None:
            raise WebRtcError("video-unavailable", "this server forwards no video yet")
        leg = WebRtcLeg(
            self.settings,
            room_rate=room.settings.rate,
            tick_ms=room.settings.ptime,
            mode=mode,
            accept_video=hub is not None,
            clock=room.media_clock,
        )
        participant = Participant(name=name, endpoint=leg, duplex=duplex, priority=priority)
        leg.participant_id = participant.id

        async def subscribe() -> None:
            assert video_source is not None
            try:
                await self.subscribe(leg, video_source)
            except KeyError:
                raise WebRtcError("unknown-source", f"no video source {video_source!r}") from None

        self._pending.add(leg)
        try:
            answer = await leg.answer(
                offer,
                loopback=loopback,
                before_answer=subscribe if video_source is not None else None,
            )
            room.add(participant)
        except BaseException:
            await leg.close("rejected")
            raise
        finally:
            self._pending.discard(leg)
        self.legs[participant.id] = leg
        leg.on_close(lambda _reason: self._forget(participant.id, leg))
        if hub is not None:
            hub.attach(leg)
        log.info(
            "webrtc peer joined",
            extra={"room": room.name, "participant": participant.id, "mode": mode},
        )
        return participant, answer

    def _forget(self, participant_id: str, leg: WebRtcLeg) -> None:
        if self.legs.get(participant_id) is leg:
            del self.legs[participant_id]
        if self.video_hub is not None:
            try:
                self.video_hub.detach(leg)
            except Exception:
                log.exception("video hub failed to detach a leg")

    async def subscribe(self, leg: WebRtcLeg, source_id: str) -> None:
        """Send video source `source_id` to `leg`. Raises KeyError (no such source) or
        WebRtcError ("video-unavailable" without a hub, "video-refused")."""
        hub = self._hub()
        try:
            await hub.subscribe(leg, source_id)
        except KeyError:
            raise
        except Exception as error:  # the hub's refusal (codec mismatch, no codec yet)
            log.info("video subscription refused", extra={"source": source_id, "error": str(error)})
            raise WebRtcError("video-refused", str(error) or type(error).__name__) from None

    async def unsubscribe(self, leg: WebRtcLeg, source_id: str) -> None:
        """Stop sending `source_id` to `leg`. Raises KeyError (not subscribed) or WebRtcError."""
        hub = self._hub()
        try:
            await hub.unsubscribe(leg, source_id)
        except KeyError:
            raise
        except Exception as error:
            raise WebRtcError("video-refused", str(error) or type(error).__name__) from None

    def _hub(self) -> VideoHub:
        if self.video_hub is None:
            raise WebRtcError("video-unavailable", "this server forwards no video yet")
        return self.video_hub

    async def stop(self) -> None:
        """Close every peer still open (rooms close theirs first, when the server stops)."""
        legs = [*self.legs.values(), *self._pending]
        await asyncio.gather(*(leg.close("server-stopping") for leg in legs))
        self.legs.clear()
