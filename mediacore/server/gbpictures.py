"""Our own pictures an upper GB/T 28181 platform can play (ingest.gbupperrelay.Pictures): the
LED walls. A wall's picture is the H.264 its video process encodes for its first WHEP output,
which the hub carries as video source `wall-<name>-<n>`; a wall without a WHEP output is
listed but has no picture to give."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ingest.gbupperrelay import PictureSink
from mediacore.server.walls import WallService, whep_source_id
from mediacore.videohub import VideoHub, VideoSource


class WallPictures:
    def __init__(self, walls: WallService, hub: VideoHub) -> None:
        self.walls_service = walls
        self.hub = hub

    def walls(self) -> dict[str, bool]:
        return {name: self._source(name) is not None for name in self.walls_service.names()}

    def _source(self, name: str) -> str | None:
        definition = self.walls_service.definition(name) or {}
        outputs = definition.get("outputs") or []
        index = next(
            (i for i, o in enumerate(outputs) if isinstance(o, dict) and o.get("kind") == "whep"),
            None,
        )
        return whep_source_id(name, index) if index is not None else None

    def tap(self, wall: str, sink: PictureSink) -> Callable[[], None]:
        source_id = self._source(wall)
        if source_id is None:
            raise KeyError(f"wall {wall} has no whep output")
        return tap_source(self.hub.get(source_id), sink)


def tap_source(source: VideoSource, sink: PictureSink) -> Callable[[], None]:
    """Feed `sink` the source's encoded frames from now on (a keyframe is asked for); returns
    the function that stops it."""

    def tap(packet: Any, keyframe: bool) -> None:
        pts = int(packet.pts) if packet.pts is not None else None
        sink(bytes(packet), pts, keyframe)

    remove = source.add_tap(tap)
    source.request_keyframe()
    return remove
