"""Every wall of a server and the source decoders they share.

A source shown on three walls is decoded once: its decoder hands each picture to every wall
that shows it now, and each wall scales it once per tile size. The server feeds encoded frames
with `feed()` (from the event loop) and says which sources exist with `sync_sources()`; the
compositor opens a decoder for each source some wall shows and closes it when none does."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Protocol

import av

from mixer.decoding import DecoderPool


class PictureSink(Protocol):
    """What the compositor feeds: a wall's runner, a conference's (sources shown, pictures)."""

    wanted: frozenset[str]

    def push(self, source_id: str, frame: av.VideoFrame, decoded_at: float) -> None: ...


class Compositor:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._walls: dict[str, PictureSink] = {}
        self.pool = DecoderPool(self._decoded, clock=clock)

    def add(self, name: str, runner: PictureSink) -> None:
        self._walls[name] = runner

    def remove(self, name: str) -> PictureSink | None:
        return self._walls.pop(name, None)

    def wanted(self) -> set[str]:
        """Every source some wall shows now."""
        result: set[str] = set()
        for runner in self._walls.values():
            result |= runner.wanted
        return result

    def sync_sources(
        self, available: Iterable[str], request_keyframe: Callable[[str], None]
    ) -> tuple[list[str], list[str]]:
        """Open decoders for wanted, available sources; close those no wall shows or that are
        gone. Returns (opened, closed) source ids, for the caller to add or remove its taps."""
        keep = self.wanted() & set(available)
        opened = [sid for sid in sorted(keep) if sid not in self.pool]
        closed = [sid for sid in self.pool.source_ids if sid not in keep]
        for sid in closed:
            self.pool.close(sid)
        for sid in opened:
            self.pool.open(sid, partial(request_keyframe, sid))
            request_keyframe(sid)  # decoding starts at a keyframe: do not wait a whole GOP
        return opened, closed

    def feed(self, source_id: str, codec: str, data: bytes, keyframe: bool) -> None:
        """One encoded frame of a source (event loop thread; never blocks)."""
        decoder = self.pool.get(source_id)
        if decoder is not None:
            decoder.submit(codec, data, keyframe)

    def close(self) -> None:
        self.pool.close_all()

    def _decoded(self, source_id: str, frame: av.VideoFrame, decoded_at: float) -> None:
        for runner in list(self._walls.values()):
            runner.push(source_id, frame, decoded_at)
