"""Each room's shared content (双流) as the server keeps it: in control, wherever the room runs.

Signalling starts a share when a browser shares a track (webrtc.contentshare) and stops it on
"unshare"; the API reads and stops it (mediacore.server.api_content). The room's events stop
it too (its sharer left or moved, the room closed), and so does the end of its source in the
server's hub. Events: `content.started` {participant, source, name} once the source is there
to watch, `content.stopped` {participant, source, name, reason, by}. The composed picture asks
`shown(room)` for the content to put in its large region (mixer.contentlayout)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from mediacore.clock import utc_now
from mediacore.contentshares import ContentShares, Share, Stopped
from mediacore.events import Event, EventBus
from mediacore.videohub import VideoHub, VideoSource

CONTENT_LABEL = "{name} · content / 共享"


class RoomContent:
    def __init__(self, bus: EventBus, hub: VideoHub) -> None:
        self._bus = bus
        self._hub = hub
        self._shares = ContentShares()
        # Rooms recorded in media workers get these events for their timeline through this.
        self.timeline: Callable[[Event], None] | None = None
        bus.listen(self._event)
        hub.on_registered(self._registered)

    def current(self, room: str) -> Share | None:
        return self._shares.get(room)

    def room_fields(self, room: str) -> dict[str, Any]:
        """What a room's description adds while someone shares: `content`."""
        share = self._shares.get(room)
        return {} if share is None else {"content": share.to_json()}

    def shown(self, room: str) -> tuple[str, str] | None:
        """The live content of `room` as the composed picture shows it: (source, label)."""
        share = self._shares.get(room)
        if share is None or not share.live:
            return None
        return share.source, CONTENT_LABEL.format(name=share.name)

    def start(self, room: str, participant: str, name: str, source: str) -> None:
        """`participant` (named `name`) shares video source `source` as the room's content,
        replacing whoever shared before."""
        share = Share(room, participant, source, name, utc_now())
        replaced = self._shares.start(share)
        if replaced is not None:
            self._stopped(replaced)
        if self._shares.get(room) is share:
            with contextlib.suppress(KeyError):
                self._registered(self._hub.get(source))

    def stop(
        self, room: str, reason: str, *, participant: str | None = None, by: str | None = None
    ) -> Share | None:
        """End the room's share (only `participant`'s, when given); returns it, None if none."""
        stopped = self._shares.stop(room, reason, participant=participant, by=by)
        if stopped is None:
            return None
        self._stopped(stopped)
        return stopped.share

    def _registered(self, source: VideoSource) -> None:
        for share in self._shares.went_live(source.id):
            source.on_ended(self._source_ended)
            self._publish(
                "content.started",
                share.room,
                participant=share.participant,
                source=share.source,
                name=share.name,
            )

    def _source_ended(self, source: VideoSource) -> None:
        for stopped in self._shares.source_ended(source.id):
            self._stopped(stopped)

    def _stopped(self, stopped: Stopped) -> None:
        share = stopped.share
        if not share.live:
            return  # never announced: nobody saw it start
        self._publish(
            "content.stopped",
            share.room,
            participant=share.participant,
            source=share.source,
            name=share.name,
            reason=stopped.reason,
            by=stopped.by,
        )

    def _publish(self, kind: str, room: str, **data: Any) -> None:
        event = self._bus.publish(kind, room, **data)
        if self.timeline is not None:
            self.timeline(event)

    def _event(self, event: Event) -> None:
        room = event.room
        if room is None:
            return
        if event.type == "participant.left":
            self.stop(room, "left", participant=str(event.data.get("participant")))
        elif event.type == "participant.moved" and event.data.get("from") == room:
            self.stop(room, "moved", participant=str(event.data.get("participant")))
        elif event.type == "room.closed":
            self.stop(room, "room-closed")
