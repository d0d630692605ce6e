"""Each browser watching an H.265 camera at the quality tier its own link allows.

An H.265 source reaches browsers as its H.264 twin (mediacore.server.transcodes), one encode
per quality tier in use. A browser subscribing to the camera is given a view of its own,
`<source>~h264~v~<participant>`: a hub source fed from the twin tier that the browser's
estimate (its REMB and receiver reports on this very stream, mediacore.senderestimate, which
reach the view as any source's `estimate_listener`) picks with the same chooser and hysteresis
as a composed picture's viewer (mediacore.qualitytiers). A move to another tier waits for that
tier's keyframe (mixer.variantswitch), so the browser's decoder never sees a broken picture,
and its track stays the same. Browsers at one tier still share its encode: a view only taps
the twin (a twin tapped by nobody ends after the transcodes' idle time).

A view nobody watches for `idle_stop_s` ends; so does a view whose camera ends. WHEP players,
who have no participant, keep the shared full tier."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import av

from mediacore.clock import MONOTONIC, Clock
from mediacore.qualitytiers import TIER_NAMES, TierChooser, encode_cap
from mediacore.server.transcodes import TranscodeService
from mediacore.transcodetwin import CODEC, FPS, parse_twin, transcode_size, twin_id
from mediacore.videohub import VideoHub, VideoSource
from mixer.variantswitch import VariantSwitch

log = logging.getLogger(__name__)

VIEW_MARK = "~v~"
IDLE_STOP_S = 10.0
ROUND_S = 0.5


def view_id(twin: str, viewer: str) -> str:
    """The id of `viewer`'s view of the twin `twin` (its full tier's id)."""
    return f"{twin}{VIEW_MARK}{viewer}"


@dataclass
class _View:
    original: VideoSource
    source: VideoSource
    created: float
    switch: VariantSwitch = field(default_factory=VariantSwitch)
    tiers: TierChooser = field(default_factory=TierChooser)
    estimate: float | None = None
    watched_at: float = 0.0
    taps: dict[int, Callable[[], None]] = field(default_factory=dict)  # tier -> untap


class TwinViews:
    def __init__(
        self,
        hub: VideoHub,
        transcodes: TranscodeService,
        *,
        clock: Clock = MONOTONIC,
        idle_stop_s: float = IDLE_STOP_S,
    ) -> None:
        self._hub = hub
        self._transcodes = transcodes
        self._clock = clock
        self._idle_stop_s = idle_stop_s
        self._views: dict[str, _View] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._rounds())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for view in list(self._views.values()):
            self._end(view)

    def playable(self, source_id: str, viewer: str | None) -> str:
        """The source a WebRTC subscriber `viewer` is given for `source_id`: a view of its
        own when the source goes out as an H.264 twin (None: the shared twin), else the
        source itself. Asking again gives the same view."""
        twin = self._transcodes.playable(source_id)
        if twin == source_id or viewer is None or parse_twin(twin) is None:
            return twin
        vid = view_id(twin, viewer)
        view = self._views.get(vid)
        if view is None or view.source.closed:
            view = self._open(source_id, vid)
        return view.source.id

    def fields(self, source_id: str) -> dict[str, Any]:
        """What a source's listing adds while a transcode of it runs (the transcodes' own),
        with each browser's view and the tier it shows: `"views": {"<view id>": "half"}`."""
        fields = self._transcodes.fields(source_id)
        if "transcode" in fields:
            fields["transcode"]["views"] = {
                vid: TIER_NAMES[int(view.switch.current[1:])]
                for vid, view in self._views.items()
                if view.original.id == source_id and view.switch.current is not None
            }
        return fields

    # -- a view ---------------------------------------------------------------------------

    def _open(self, original_id: str, vid: str) -> _View:
        original = self._hub.get(original_id)
        source = VideoSource(vid, CODEC, participant_id=original.participant_id, room=original.room)
        view = _View(original, source, self._clock.now())
        source.estimate_listener = lambda bitrate: self._estimated(view, bitrate)
        source.keyframe_requester = lambda: self._keyframe(view)
        self._hub.register_source(source)
        self._views[vid] = view
        original.on_ended(lambda _s: self._end(view))
        self._choose(view, self._clock.now())
        return view

    def _estimated(self, view: _View, bitrate: float | None) -> None:
        view.estimate = bitrate
        self._choose(view, self._clock.now())

    def _choose(self, view: _View, now: float) -> None:
        width, height = transcode_size(view.original.width, view.original.height)
        tier = view.tiers.choose(encode_cap(width, height, FPS), view.estimate, now)
        if view.switch.choose(f"t{tier}"):
            self._tap(view, tier)
            self._keyframe(view)
        self._untap_unused(view)

    def _tap(self, view: _View, tier: int) -> None:
        if tier in view.taps:
            return
        try:  # the hub's resolver makes the twin at that tier when it is not running yet
            twin = self._hub.get(twin_id(view.original.id, tier))
        except KeyError:
            return
        variant = f"t{tier}"

        def forward(packet: av.Packet[Any], keyframe: bool) -> None:
            if view.switch.accept(variant, keyframe):
                copy = av.Packet(bytes(packet))  # the twin's packet is shared: never reused
                copy.pts, copy.time_base = packet.pts, packet.time_base
                view.source.push(copy, keyframe)
                if keyframe and len(view.taps) > 1:  # a move completes at a keyframe only
                    self._untap_unused(view)

        view.taps[tier] = twin.add_tap(forward)

    def _untap_unused(self, view: _View) -> None:
        """Taps on tiers the view neither shows nor is moving to end."""
        wanted = {view.switch.current, view.switch.pending}
        for tier in [t for t in view.taps if f"t{t}" not in wanted]:
            view.taps.pop(tier)()

    def _keyframe(self, view: _View) -> None:
        target = view.switch.target
        if target is None:
            return
        with contextlib.suppress(KeyError):
            self._hub.get(twin_id(view.original.id, int(target[1:]))).request_keyframe()

    def _end(self, view: _View) -> None:
        if self._views.get(view.source.id) is view:
            del self._views[view.source.id]
        for untap in view.taps.values():
            untap()
        view.taps.clear()
        view.source.close()

    async def _rounds(self) -> None:
        """Views nobody watches end; estimates that stayed better move views up in time."""
        while True:
            await asyncio.sleep(ROUND_S)
            now = self._clock.now()
            for view in list(self._views.values()):
                if view.source.watched or now - view.created < self._idle_stop_s:
                    view.watched_at = now
                elif now - view.watched_at > self._idle_stop_s:
                    self._end(view)
                    continue
                try:
                    self._choose(view, now)
                except Exception:  # one view's bug must not end the others' rounds
                    log.exception("twin view %s", view.source.id)
