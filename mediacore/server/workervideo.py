"""A media worker's video hub, joined to control's (mediacore/server/remotevideo.py).

What the worker's WebRTC peers publish goes up: each source's frames on the data path, its
codec and participant in a "video.published" notification, its end in "video.ended"; control
makes it a source of its own hub, which walls, recordings and other workers' peers use. What
they watch from elsewhere (a field camera, a peer of another worker) comes down: "video.import"
asks control to send that source's frames here, where a proxy source of the same id takes
them; "video.release" stops it once nobody here watches. Keyframe requests go to whoever
publishes ("video.keyframe", both ways); what the subscribers here can take of an imported
source (their REMB and receiver reports, mediacore.senderestimate) goes up ("video.bitrate")."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Collection, Iterable
from functools import partial
from typing import Any

from mediacore.channelio import Channel, RequestFailed
from mediacore.clock import MONOTONIC, Clock
from mediacore.datapath import MediaFrame
from mediacore.datapathio import DataPath
from mediacore.videobridge import codec_json, proxy, push_frame, tap_to
from mediacore.videohub import VideoHub, VideoSource

log = logging.getLogger(__name__)


# An imported source nobody watches yet is kept this long: the join that imported it (a WHEP
# player's offer being applied) subscribes only after some awaits.
IMPORT_GRACE_S = 5.0


class WorkerVideo:
    def __init__(
        self, hub: VideoHub, channel: Channel, data: DataPath | None, clock: Clock = MONOTONIC
    ) -> None:
        self.hub = hub
        self.channel = channel
        self.data = data
        self.clock = clock
        self._imported_at: dict[str, float] = {}
        self._exported: dict[str, Callable[[], None]] = {}  # source id -> stop sending it
        self._announced: set[str] = set()
        self._imported: dict[str, VideoSource] = {}
        if data is not None:
            data.on_drop = self._dropped

    # -- up: what this worker's peers publish ---------------------------------------------

    def export(self) -> None:
        """Send control every source published here that it does not have yet."""
        for source in self.hub.all():
            if source.id in self._exported or source.id in self._imported:
                continue
            self._exported[source.id] = tap_to(source, partial(self._up, source))
            source.on_ended(self._unexport)

    def _up(self, source: VideoSource, frame: MediaFrame) -> None:
        if source.id not in self._announced:  # with its first frame the codec is known
            self._announced.add(source.id)
            self.channel.notify(
                "video.published",
                source=source.id,
                participant=source.participant_id,
                codec=codec_json(source),
            )
        if self.data is not None:
            self.data.send(frame)

    def _unexport(self, source: VideoSource) -> None:
        stop = self._exported.pop(source.id, None)
        if stop is not None:
            stop()
        if source.id in self._announced:
            self._announced.discard(source.id)
            self.channel.notify("video.ended", source=source.id)

    def keyframe(self, data: dict[str, Any]) -> None:
        """Control's subscribers need a keyframe of a source published here."""
        try:
            self.hub.get(str(data["source"])).request_keyframe()
        except KeyError:
            pass

    def _dropped(self, source_id: str) -> None:
        """Control read too slowly and a frame was dropped: the next one must be a keyframe."""
        self.keyframe({"source": source_id})

    # -- down: what this worker's peers watch from elsewhere -------------------------------

    async def ensure(self, source_id: str) -> None:
        """Make `source_id` a source of this hub, from control if it is not published here.
        Raises KeyError when control has no such source either."""
        if source_id in {source.id for source in self.hub.all()}:
            return
        try:
            answer = await self.channel.request("video.import", source=source_id)
        except RequestFailed as error:
            raise KeyError(source_id) from error
        if source_id in self._imported:  # imported by a concurrent request meanwhile
            return
        imported = proxy(
            source_id,
            answer["codec"],
            answer.get("participant"),
            lambda: self.channel.notify("video.keyframe", source=source_id),
        )
        imported.estimate_listener = lambda bitrate: self.channel.notify(
            "video.bitrate", source=source_id, bitrate=bitrate
        )
        self.hub.register_source(imported)
        self._imported[source_id] = imported
        self._imported_at[source_id] = self.clock.now()
        imported.on_ended(self._forget_import)

    def _forget_import(self, source: VideoSource) -> None:
        self._imported.pop(source.id, None)
        self._imported_at.pop(source.id, None)

    async def ensure_quietly(self, source_ids: Iterable[str]) -> None:
        """`ensure` each that control has; the others are not (or not yet) video sources."""
        for source_id in source_ids:
            with contextlib.suppress(KeyError, ConnectionError):
                await self.ensure(source_id)

    def release_unwatched(self, keep: Collection[str] = ()) -> None:
        """Stop receiving imported sources nobody here watches any more (no subscriber, and
        no tap: a recording taps what it records), but those in `keep` and those imported in
        the last IMPORT_GRACE_S (their importer has yet to subscribe)."""
        young = self.clock.now() - IMPORT_GRACE_S
        unwatched = [
            s
            for s in self._imported.values()
            if not s.watched and s.id not in keep and self._imported_at.get(s.id, 0.0) < young
        ]
        for source in unwatched:
            source.close()
            self.channel.notify("video.release", source=source.id)

    def ended(self, data: dict[str, Any]) -> None:
        """An imported source ended where it was published."""
        source = self._imported.get(str(data["source"]))
        if source is not None:
            source.close()

    def frame(self, frame: MediaFrame) -> None:
        """A frame of an imported source, from control."""
        source = self._imported.get(frame.source)
        if source is not None:
            push_frame(source, frame)
