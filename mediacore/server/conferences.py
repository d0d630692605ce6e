"""The composed conference picture of every room (continuous presence), as browsers and legs
receive it.

Each room that someone watches composed gets a video process of its own
(mediacore.server.videoconferences, below the audio's priority): its decoders, painters and
x264 encoders run there. This service keeps what the server knows: the room's `video` setting
(from the room's events, wherever the room runs), who is in it, who talks and who holds the
floor (mediacore.server.roomscenes, as walls read it), and who watches. From those it decides
the variants (mixer.variants: the common picture, and a picture without its viewer for each
viewer whose camera is in it) and tells the process at once when any of it changes: a layout
PATCH, a new speaker, a camera that comes or goes.

A viewer is a video source of the hub (`composed-<room>-<participant>`; WHEP players, who have
no camera, share `composed-<room>`): whatever subscribes to it (a browser's track, a worker's
import, later a SIP leg's video) receives one H.264 stream, fed by the viewer's variant and
moved from one variant to another at a keyframe (mixer.variantswitch). The alias costs no
encode: viewers of one variant share its encoder, so encodes grow with the variants, not with
the viewers. `composed(room, participant, width, height)` is the hook for other legs: it
answers the hub source id to subscribe to or tap (legs in media workers ask for it with the
"video.composed" request, see `serve_workers`). A browser's estimate comes through the viewer's
source: its subscriber's REMB and receiver reports (mediacore.senderestimate) reach the source's
`estimate_listener`, here or from a media worker ("video.bitrate"), which is `estimate`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import partial
from typing import Any

import av

from mediacore.channel import Notification
from mediacore.channelio import RequestFailed
from mediacore.clock import MONOTONIC, Clock
from mediacore.datapath import MediaFrame
from mediacore.events import Event, EventBus
from mediacore.qualitytiers import TIER_NAMES, TIERS, TierChooser, encode_cap
from mediacore.server.children import ChildProcess
from mediacore.server.roomscenes import RoomScenes
from mediacore.server.sourcefeed import SourceFeed
from mediacore.server.videoconferences import variant_source
from mediacore.server.workers import WorkerProcess
from mediacore.videohub import TIME_BASE, VideoHub, VideoSource
from mixer.conferencevideo import ConferenceVideo, normalized, parse_conference_video
from mixer.layout import LayoutError
from mixer.picturerule import PictureRule, ruled_layout, ruled_picture
from mixer.variants import SpeakerHistory, Viewer, assign, picture_json
from mixer.variantswitch import VariantSwitch
from mixer.wall import Scene

log = logging.getLogger(__name__)

RECONCILE_INTERVAL_S = 0.2
STATS_EVERY = 5  # reconcile rounds between two statistics requests (once a second)
STATS_TIMEOUT_S = 1.0
# A view just made counts as a viewer this long before its subscriber shows up, so that its
# variant's encoder is running (and its first keyframe on the way) when the subscriber arrives.
PREWARM_S = 5.0
# A room nobody watches for this long gives its video process back (the next viewer starts
# one again, in about a second).
IDLE_STOP_S = 60.0
# The events after which a picture may change: sent at once, not at the next round.
_SCENE_EVENTS = frozenset(
    {
        "participant.joined",
        "participant.left",
        "participant.moved",
        "talking",
        "floor.granted",
        "floor.released",
        "floor.revoked",
        "conference.tour",  # a toured slot shows its next source (mediacore.server.roomtours)
        "conference.rollcall",  # a roll call starts or ends (mediacore.server.rollcalls)
        "content.started",
        "content.stopped",
    }
)

ProcessFactory = Callable[[str], ChildProcess]


def _request_bitrate(data: dict[str, Any]) -> float | None:
    """A worker request's "bitrate" (bit/s, None: no limit); raises RequestFailed."""
    bitrate = data.get("bitrate")
    if bitrate is not None and (
        isinstance(bitrate, bool) or not isinstance(bitrate, (int, float)) or bitrate <= 0
    ):
        raise RequestFailed("ValueError", "bitrate: a positive number of bit/s")
    return None if bitrate is None else float(bitrate)


def alias_id(room: str, participant: str | None) -> str:
    """The hub source a viewer subscribes to."""
    return f"composed-{room}" if participant is None else f"composed-{room}-{participant}"


class _View:
    def __init__(self, source: VideoSource, viewer: Viewer, created: float, sized: bool) -> None:
        self.source = source
        self.viewer = viewer
        self.created = created
        self.sized = sized  # asked a size of its own (else it follows the room's)
        self.switch = VariantSwitch()
        self.estimate: float | None = None  # what its receiver can take, bit/s (None: no limit)
        self.tiers = TierChooser()


class _Conference:
    def __init__(self, room: str, settings: dict[str, Any], created: float) -> None:
        self.room = room
        self.created = created
        self.settings = settings
        self.video: ConferenceVideo = parse_conference_video(settings)
        self.process: ChildProcess | None = None
        self.feed: SourceFeed | None = None
        self.started = False  # its runner runs in the process
        self.lock = asyncio.Lock()
        self.views: dict[str | None, _View] = {}
        self.history = SpeakerHistory()
        self.wanted: frozenset[str] = frozenset()
        self.variants: dict[str, dict[str, Any]] = {}  # as last sent
        self.statistics: dict[str, Any] = {}
        self.watched_at = 0.0  # when a viewer was last seen


class ConferenceService:
    def __init__(
        self,
        hub: VideoHub,
        bus: EventBus,
        new_process: ProcessFactory,
        *,
        clock: Clock = MONOTONIC,
    ) -> None:
        self._hub = hub
        self._new_process = new_process
        self._clock = clock
        self._scenes = RoomScenes(bus)  # listens first: our listener reads it updated
        self._settings: dict[str, dict[str, Any]] = {}  # every open room's video setting
        self._conferences: dict[str, _Conference] = {}
        self._dirty: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        # what changes a picture beyond its layout (tours, roll calls), applied in this order
        self.rules: list[PictureRule] = []
        bus.listen(self._event)

    # -- life -----------------------------------------------------------------------------

    async def start(self) -> None:
        self._spawn(self._reconcile_forever())

    async def stop(self) -> None:
        """The rounds and pending requests end, then every conference's process."""
        running = list(self._tasks)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        await asyncio.gather(*(self._stop(room) for room in list(self._conferences)))

    # -- what the API and signalling call -------------------------------------------------

    def settings(self, room: str) -> dict[str, Any] | None:
        """The room's conference picture settings, defaults filled in; None: no such room."""
        return self._settings.get(room)

    async def composed(
        self,
        room: str,
        participant: str | None,
        width: int | None = None,
        height: int | None = None,
        bitrate: float | None = None,
    ) -> str:
        """The hub source id carrying `participant`'s composed picture of `room` (None: the
        common picture, for players without a camera), at the room's size unless `width` and
        `height` say otherwise; its process is started if need be. `bitrate` is what the
        receiver can take (bit/s, see `estimate`). Raises KeyError for a room not open,
        TimeoutError or OSError when the video process cannot start."""
        settings = self._settings.get(room)
        if settings is None:
            raise KeyError(room)
        conference = self._conferences.get(room)
        if conference is None:
            conference = self._conferences[room] = _Conference(room, settings, self._clock.now())
        canvas = conference.video.canvas
        viewer = Viewer(participant, width or canvas.width, height or canvas.height)
        view = conference.views.get(participant)
        if view is None or view.source.closed or replace(view.viewer, tier=0) != viewer:
            if view is not None:
                view.source.close()
            source = VideoSource(alias_id(room, participant), "H264", room=room)
            view = _View(source, viewer, self._clock.now(), sized=width is not None)
            source.keyframe_requester = self._keyframe_requester(conference, view)
            # a browser's REMB and receiver reports on this picture (mediacore.senderestimate)
            source.estimate_listener = partial(self.estimate, room, participant)
            self._hub.register_source(source)
            conference.views[participant] = view
        if bitrate is not None:
            view.estimate = bitrate
        await self._ensure_running(conference)
        self._update(conference)
        return view.source.id

    def estimate(self, room: str, participant: str | None, bitrate: float | None) -> None:
        """The receiver of `participant`'s picture can take `bitrate` bit/s now (its b=TIAS,
        TMMBR or REMB; None: no limit): its quality tier follows (mediacore.qualitytiers).
        Unknown rooms and viewers are ignored."""
        conference = self._conferences.get(room)
        view = conference.views.get(participant) if conference is not None else None
        if view is not None:
            view.estimate = bitrate
            self._soon(room)

    def serve_workers(self, workers: Iterable[WorkerProcess]) -> None:
        """Lets legs in media workers ask for a composed picture: the request
        "video.composed" {room, participant, width?, height?, bitrate?} answers {"source":
        id}, which the worker then imports like any source of this hub ("video.import");
        "video.estimate" {room, participant, bitrate} moves it to the tier that fits."""
        for worker in workers:
            worker.handlers["video.composed"] = self._composed_request
            worker.handlers["video.estimate"] = self._estimate_request

    async def _estimate_request(self, data: dict[str, Any]) -> dict[str, Any]:
        """ "video.estimate" {room, participant, bitrate}: a leg's new TMMBR or REMB."""
        bitrate = _request_bitrate(data)
        participant = data.get("participant")
        self.estimate(
            str(data.get("room")), None if participant is None else str(participant), bitrate
        )
        return {}

    async def _composed_request(self, data: dict[str, Any]) -> dict[str, Any]:
        room, participant = str(data.get("room")), data.get("participant")
        width, height = data.get("width"), data.get("height")
        bitrate = _request_bitrate(data)
        try:
            if width is not None or height is not None:  # a size of its own: checked as ours
                parse_conference_video({**normalized({}), "width": width, "height": height})
            source = await self.composed(
                room, None if participant is None else str(participant), width, height, bitrate
            )
        except LayoutError as error:
            raise RequestFailed("ValueError", f"picture size: {error}") from None
        except KeyError:
            raise RequestFailed("KeyError", f"no room named {room!r}") from None
        return {"source": source}

    def room_fields(self, room: str) -> dict[str, Any]:
        """What a room's description adds: its composed picture's viewers, variants and
        encodes per second (when someone watches)."""
        conference = self._conferences.get(room)
        if conference is None:
            return {}
        stats = conference.statistics
        return {
            "composed": {
                "viewers": sum(1 for v in list(conference.views.values()) if v.source.watched),
                "variants": sorted(conference.variants),
                "encodes_per_second": stats.get("encodes_per_second", 0.0),
                "encodes": stats.get("encodes", 0),
                "layout_switches": stats.get("layout_switches", 0),
                "tiers": {
                    "player" if pid is None else pid: TIER_NAMES[v.viewer.tier]
                    for pid, v in list(conference.views.items())
                    if v.source.watched
                },
                "estimates": {
                    "player" if pid is None else pid: round(v.estimate)
                    for pid, v in list(conference.views.items())
                    if v.source.watched and v.estimate is not None
                },
            }
        }

    def statistics(self) -> dict[str, dict[str, Any]]:
        """For /metrics (from the scraping thread): each conference's last statistics with
        its viewers and variants."""
        return {
            room: self.room_fields(room).get("composed", {}) for room in list(self._conferences)
        }

    # -- the room's events ----------------------------------------------------------------

    def _event(self, event: Event) -> None:
        room = event.room
        if room is None:
            return
        if event.type in ("room.opened", "room.updated"):
            self._room_settings(room, event.data.get("settings") or {})
        elif event.type == "room.closed":
            self._settings.pop(room, None)
            if room in self._conferences:
                self._spawn(self._stop(room))
        elif event.type in _SCENE_EVENTS and room in self._conferences:
            gone = event.type == "participant.left" or event.data.get("from") == room
            if gone:  # left, or moved to another room: its picture of this room ends
                self._drop_view(room, str(event.data.get("participant")))
            self._soon(room)

    def _room_settings(self, room: str, settings: dict[str, Any]) -> None:
        try:
            video = normalized(settings.get("video") or {})
        except LayoutError as error:  # checked by the API: only a config file could
            log.warning("room %s: bad video setting ignored: %s", room, error)
            video = normalized({})
        if self._settings.get(room) == video:
            return
        self._settings[room] = video
        conference = self._conferences.get(room)
        if conference is None:
            return
        fps_changed = video["fps"] != conference.settings["fps"]
        conference.settings, conference.video = video, parse_conference_video(video)
        canvas = conference.video.canvas
        for participant, view in list(conference.views.items()):
            if not view.sized:
                view.viewer = Viewer(participant, canvas.width, canvas.height)
        if fps_changed and conference.started:
            self._spawn(self._start_runner(conference))
        else:
            self._update(conference)  # a layout switch goes out now

    def _drop_view(self, room: str, participant: str) -> None:
        view = self._conferences[room].views.pop(participant, None)
        if view is not None:
            view.source.close()

    def _soon(self, room: str) -> None:
        """Update the room's pictures once the current burst of events is through."""
        if room not in self._dirty:
            self._dirty.add(room)
            asyncio.get_running_loop().call_soon(self._flush, room)

    def _flush(self, room: str) -> None:
        self._dirty.discard(room)
        conference = self._conferences.get(room)
        if conference is not None:
            self._update(conference)

    # -- deciding the pictures ------------------------------------------------------------

    def _update(self, conference: _Conference) -> None:
        process = conference.process
        if process is None or not conference.started or process.state != "running":
            return
        sources = {s.id: s for s in self._hub.all()}
        room = self._scenes.get(conference.room)
        members = room.members if room is not None else {}
        shown = tuple(pid for pid in members if pid in sources)
        conference.history.update(room.loudest() if room is not None else None, members)
        scene = Scene(
            shown,
            conference.history.speaker,
            room.floor if room is not None else None,
            {pid: members[pid] for pid in shown},
        )
        now = self._clock.now()
        views = [
            v
            for v in conference.views.values()
            if not v.source.closed and (v.source.watched or now - v.created < PREWARM_S)
        ]
        if views:
            conference.watched_at = now
        video = conference.video
        for view in views:  # each receiver's tier, from its estimate
            full = encode_cap(view.viewer.width, view.viewer.height, video.canvas.fps)
            tier = view.tiers.choose(full, view.estimate, now)
            view.viewer = replace(view.viewer, tier=tier)
        layout = ruled_layout(self.rules, conference.room, video.layout)
        assignment = assign(
            layout,
            video.canvas.fps,
            scene,
            [v.viewer for v in views],
            conference.history.previous,
        )
        variants = {
            key.id: {
                "width": key.width,
                "height": key.height,
                "tiles": picture_json(ruled_picture(self.rules, conference.room, tiles, scene)),
                "share": TIERS[key.tier],
            }
            for key, tiles in assignment.pictures.items()
        }
        for view in views:
            variant = assignment.viewers[view.viewer].id
            if view.switch.choose(variant) and variant in conference.variants:
                # an encoder that runs already: its next picture must be a keyframe
                process.notify("conference.keyframe", room=conference.room, variant=variant)
        conference.variants = variants
        process.notify(
            "conference.variants",
            room=conference.room,
            variants=variants,
            available={sid: source.codec_name for sid, source in sources.items()},
        )
        if conference.feed is not None:
            conference.feed.follow(conference.wanted, sources)

    # -- the room's video process ---------------------------------------------------------

    async def _ensure_running(self, conference: _Conference) -> None:
        async with conference.lock:
            if conference.process is None:
                process = self._new_process(f"conference-{conference.room}")
                conference.process = process
                conference.feed = SourceFeed(process.send)
                process.on_notification = partial(self._notified, conference)
                process.on_frame = partial(self._variant_frame, conference)
                process.on_drop = self._request_keyframe
                process.on_lost = partial(self._lost, conference)
                process.on_restart = partial(self._start_runner, conference)
                await process.start()
                await self._start_runner(conference)
            elif not conference.started:
                await conference.process.wait_running()  # restarting

    async def _start_runner(self, conference: _Conference) -> None:
        process = conference.process
        if process is None or self._conferences.get(conference.room) is not conference:
            return
        try:
            await process.request(
                "conference.start", room=conference.room, fps=conference.video.canvas.fps
            )
        except (ConnectionError, RequestFailed, TimeoutError):
            return  # restarting: on_restart starts it again
        conference.started = True
        conference.variants = {}  # new encoders: every variant starts at a keyframe
        for view in conference.views.values():
            view.switch = VariantSwitch()
        self._update(conference)

    async def _stop(self, room: str) -> None:
        conference = self._conferences.pop(room, None)
        if conference is None:
            return
        for view in conference.views.values():
            view.source.close()
        conference.views.clear()
        if conference.feed is not None:
            conference.feed.clear()
        if conference.process is not None:
            await conference.process.stop()

    def _lost(self, conference: _Conference) -> None:
        log.error("conference video process lost", extra={"room": conference.room})
        conference.started = False
        if conference.feed is not None:
            conference.feed.clear()

    def _notified(self, conference: _Conference, message: Notification) -> None:
        data = message.data
        if message.event == "video.wanted":
            conference.wanted = frozenset(str(s) for s in data.get("sources", ()))
            if conference.feed is not None:
                conference.feed.follow(conference.wanted, {s.id: s for s in self._hub.all()})
        elif message.event == "source.keyframe":
            self._request_keyframe(str(data.get("source")))

    def _variant_frame(self, conference: _Conference, frame: MediaFrame) -> None:
        """A variant's encoded picture: to every view it feeds now."""
        prefix = variant_source(conference.room, "")
        if not frame.source.startswith(prefix):
            return
        variant = frame.source[len(prefix) :]
        for view in list(conference.views.values()):
            if view.switch.accept(variant, frame.keyframe):
                packet = av.Packet(frame.payload)
                packet.pts, packet.time_base = frame.pts, TIME_BASE
                view.source.push(packet, frame.keyframe)

    def _keyframe_requester(self, conference: _Conference, view: _View) -> Callable[[], None]:
        def request() -> None:
            variant = view.switch.target
            if conference.process is not None and variant is not None:
                conference.process.notify(
                    "conference.keyframe", room=conference.room, variant=variant
                )

        return request

    def _request_keyframe(self, source_id: str) -> None:
        with contextlib.suppress(KeyError):
            self._hub.get(source_id).request_keyframe()

    # -- every round ----------------------------------------------------------------------

    async def _reconcile_forever(self) -> None:
        rounds = 0
        while True:
            await asyncio.sleep(RECONCILE_INTERVAL_S)
            rounds += 1
            for conference in list(self._conferences.values()):
                if self._clock.now() - max(conference.watched_at, conference.created) > IDLE_STOP_S:
                    self._spawn(self._stop(conference.room))
                    continue
                try:
                    self._update(conference)
                except Exception:
                    log.exception("conference %s failed to follow its room", conference.room)
                if rounds % STATS_EVERY == 0:
                    self._spawn(self._refresh(conference))

    async def _refresh(self, conference: _Conference) -> None:
        process = conference.process
        if process is None or not conference.started:
            return
        with contextlib.suppress(ConnectionError, TimeoutError, RequestFailed):
            conference.statistics = await process.request(
                "conference.status", timeout=STATS_TIMEOUT_S, room=conference.room
            )

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
