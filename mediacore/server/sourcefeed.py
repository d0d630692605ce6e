"""Hub sources sent to a video process: exactly those it says it decodes, each through a tap.

A source that ends, or is replaced by a new one of the same id (a camera that reconnected),
loses its tap and the new one gets one; every newly tapped source is asked for a keyframe,
since its decoder can only start at one."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import av

from mediacore.datapath import MediaFrame, video
from mediacore.videohub import PacketTap, VideoSource


class SourceFeed:
    def __init__(self, send: Callable[[MediaFrame], object]) -> None:
        self._send = send
        self._taps: dict[str, tuple[VideoSource, Callable[[], None]]] = {}

    @property
    def tapped(self) -> list[str]:
        return sorted(self._taps)

    def follow(self, wanted: Iterable[str], sources: Mapping[str, VideoSource]) -> None:
        """Tap the live sources among `wanted`, untap every other."""
        kept: dict[str, tuple[VideoSource, Callable[[], None]]] = {}
        for sid in wanted:
            source = sources.get(sid)
            if source is None or source.closed:
                continue
            old = self._taps.pop(sid, None)
            if old is not None and old[0] is source:
                kept[sid] = old
                continue
            if old is not None:
                old[1]()
            kept[sid] = (source, source.add_tap(self._tap(source)))
            source.request_keyframe()
        self.clear()
        self._taps = kept

    def clear(self) -> None:
        for _source, remove in self._taps.values():
            remove()
        self._taps = {}

    def _tap(self, source: VideoSource) -> PacketTap:
        def tap(packet: av.Packet[Any], keyframe: bool) -> None:
            pts = None if packet.pts is None else int(packet.pts)
            self._send(video(source.id, source.codec_name, bytes(packet), pts, keyframe))

        return tap
