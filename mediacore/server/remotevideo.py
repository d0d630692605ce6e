"""Control's video hub joined to its media workers' (mediacore/server/workervideo.py).

A source a worker's peer publishes ("video.published", then frames on the worker's data path)
becomes a proxy source of control's hub with the same id: walls, recordings and the peers of
other workers watch it there, and its keyframe requests go back to the worker. A source a
worker's peer wants to watch ("video.import": a field camera, a peer of another worker) is
tapped here and its frames sent down that worker's data path until it says "video.release",
the source ends, or the worker dies (then its sources end here too); what the worker's
subscribers can take of it ("video.bitrate") is reported to the source here."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from mediacore.channelio import RequestFailed
from mediacore.datapath import FrameKind, MediaFrame
from mediacore.server.shardedrooms import ShardedRooms
from mediacore.server.workers import WorkerProcess
from mediacore.videobridge import codec_json, proxy, push_frame, tap_to
from mediacore.videohub import VideoHub, VideoSource

log = logging.getLogger(__name__)


class RemoteVideo:
    def __init__(self, hub: VideoHub, sharded: ShardedRooms) -> None:
        self.hub = hub
        self._published: dict[str, tuple[WorkerProcess, VideoSource]] = {}
        self._feeds: dict[tuple[int, str], Callable[[], None]] = {}  # (worker, source) -> stop
        for worker in sharded.pool.workers:
            worker.on_frame = self._frame
            worker.handlers["video.import"] = partial(self._import, worker)
        sharded.notification_listeners["video.published"] = self._publish
        sharded.notification_listeners["video.ended"] = self._ended
        sharded.notification_listeners["video.keyframe"] = self._keyframe
        sharded.notification_listeners["video.bitrate"] = self._bitrate
        sharded.notification_listeners["video.release"] = self._release
        sharded.lost_listeners.append(self._lost)

    # -- sources published in workers ----------------------------------------------------

    def _publish(self, worker: WorkerProcess, data: dict[str, Any]) -> None:
        source_id = str(data["source"])
        old = self._published.pop(source_id, None)
        if old is not None:
            old[1].close()
        try:
            self.hub.get(source_id)
            log.warning(
                "a worker's video source clashes with one here", extra={"source": source_id}
            )
            return
        except KeyError:
            pass
        source = proxy(
            source_id,
            data["codec"],
            data.get("participant"),
            lambda: worker.notify("video.keyframe", source=source_id),
        )
        self.hub.register_source(source)
        self._published[source_id] = (worker, source)

    def _frame(self, worker: WorkerProcess, frame: MediaFrame) -> None:
        entry = self._published.get(frame.source)
        if entry is not None and entry[0] is worker and frame.kind == FrameKind.VIDEO:
            push_frame(entry[1], frame)

    def _ended(self, worker: WorkerProcess, data: dict[str, Any]) -> None:
        entry = self._published.get(str(data["source"]))
        if entry is not None and entry[0] is worker:
            del self._published[str(data["source"])]
            entry[1].close()

    # -- sources sent to workers ----------------------------------------------------------

    async def _import(self, worker: WorkerProcess, data: dict[str, Any]) -> dict[str, Any]:
        source_id = str(data["source"])
        try:
            source = self.hub.get(source_id)
        except KeyError:
            raise RequestFailed("KeyError", f"no video source {source_id!r}") from None
        key = (worker.id, source_id)
        if key not in self._feeds:
            self._feeds[key] = tap_to(source, worker.send)
            source.on_ended(lambda s: self._source_gone(worker, s))
        source.request_keyframe()  # the worker's subscriber starts at one
        return {"codec": codec_json(source), "participant": source.participant_id}

    def _keyframe(self, worker: WorkerProcess, data: dict[str, Any]) -> None:
        try:
            self.hub.get(str(data["source"])).request_keyframe()
        except KeyError:
            pass

    def _bitrate(self, worker: WorkerProcess, data: dict[str, Any]) -> None:
        """What the worker's subscribers of a source it imports can take (bit/s; anything but
        a positive number: no limit known)."""
        source_id, value = str(data.get("source")), data.get("bitrate")
        if (worker.id, source_id) not in self._feeds:
            return
        bitrate = None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            bitrate = float(value)
        self._report(worker, source_id, bitrate)

    def _report(self, worker: WorkerProcess, source_id: str, bitrate: float | None) -> None:
        try:
            source = self.hub.get(source_id)
        except KeyError:
            return
        source.report_estimate(("worker", worker.id), bitrate)

    def _release(self, worker: WorkerProcess, data: dict[str, Any]) -> None:
        stop = self._feeds.pop((worker.id, str(data["source"])), None)
        if stop is not None:
            stop()
            self._report(worker, str(data["source"]), None)

    def _source_gone(self, worker: WorkerProcess, source: VideoSource) -> None:
        if self._feeds.pop((worker.id, source.id), None) is not None:
            worker.notify("video.ended", source=source.id)

    # -- a worker that died ---------------------------------------------------------------

    def _lost(self, worker: WorkerProcess) -> None:
        for key in [k for k in self._feeds if k[0] == worker.id]:
            self._feeds.pop(key)()
            self._report(worker, key[1], None)
        for source_id, (owner, source) in list(self._published.items()):
            if owner is worker:
                del self._published[source_id]
                source.close()
