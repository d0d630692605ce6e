"""The rooms' tours (轮巡) as they run: each room's `video.tours` setting, started when it is set,
advanced on a timer here in control, and applied to the room's conference picture as a
picture rule (mixer.picturerule) by the conference service.

Control is where the picture's region-to-source binding is decided (mixer.variants, in
mediacore.server.conferences), so the tours advance here too: the schedule is pure
(mixer.tours.TourSchedule, time in, sources out), one asyncio timer per room wakes at its next
change, and every slot that changes is a `conference.tour` event {slot, region, source, name,
step}, which also makes the conference service repaint the room's pictures at once. A room's
tours restart (from their first sources) when its tours setting changes, and stop when the
room closes. Tours run whether or not anyone watches, so the events say what a picture would
show."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from mediacore.clock import MONOTONIC, Clock
from mediacore.events import Event, EventBus
from mediacore.server.roomscenes import RoomScenes
from mixer.conferencevideo import normalized, parse_conference_video
from mixer.layout import Layout, LayoutError
from mixer.tours import Tour, TourChange, TourPlayer, apply
from mixer.variants import Picture
from mixer.wall import Scene

log = logging.getLogger(__name__)


def room_tours(settings: dict[str, Any]) -> tuple[Tour, ...]:
    """The tours of a room's settings (none when its video setting cannot be used)."""
    try:
        return parse_conference_video(normalized(settings.get("video") or {})).tours
    except LayoutError:
        return ()


def tour_change_data(change: TourChange, names: dict[str, str]) -> dict[str, Any]:
    """A `conference.tour` (or `wall.tour`) event's data."""
    return {
        "slot": change.tour.slot,
        "region": change.tour.region,
        "source": change.source,
        "name": names.get(change.source, change.source),
        "step": change.step,
    }


@dataclass(slots=True)
class _Touring:
    player: TourPlayer
    timer: asyncio.TimerHandle | None = None


class RoomTours:
    def __init__(self, bus: EventBus, clock: Clock = MONOTONIC) -> None:
        self._bus = bus
        self._clock = clock
        self._scenes = RoomScenes(bus)
        self._rooms: dict[str, _Touring] = {}
        bus.listen(self._event)

    def shown(self, room: str) -> dict[int, str]:
        """Each toured slot's source now."""
        touring = self._rooms.get(room)
        return dict(touring.player.shown) if touring is not None else {}

    def stop(self) -> None:
        for room in list(self._rooms):
            self._cancel(room)

    # -- the picture rule -----------------------------------------------------------------

    def layout(self, room: str, layout: Layout) -> Layout:
        return layout

    def picture(self, room: str, tiles: Picture, scene: Scene) -> Picture:
        touring = self._rooms.get(room)
        if touring is None or not touring.player.shown:
            return tiles
        shown = touring.player.shown
        return apply(tiles, shown, self._names(room, scene), scene.speaker, scene.floor)

    # -- time -----------------------------------------------------------------------------

    def advance(self, room: str) -> float | None:
        """Show each slot's source for now, publishing the slots that change; answers when
        the next change is due (None: never)."""
        touring = self._rooms.get(room)
        if touring is None:
            return None
        now = self._clock.now()
        names = self._names(room, Scene())
        for change in touring.player.advance(now):
            self._bus.publish("conference.tour", room, **tour_change_data(change, names))
        return touring.player.schedule.next_change(now)

    def _arm(self, room: str) -> None:
        due = self.advance(room)
        touring = self._rooms.get(room)
        if touring is None or due is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a test of the rule alone): nothing advances by itself
            return
        touring.timer = loop.call_later(max(0.0, due - self._clock.now()), self._arm, room)

    # -- the rooms' events ----------------------------------------------------------------

    def _event(self, event: Event) -> None:
        room = event.room
        if room is None:
            return
        if event.type in ("room.opened", "room.updated"):
            tours = room_tours(event.data.get("settings") or {})
            touring = self._rooms.get(room)
            if touring is not None and touring.player.schedule.tours == tours:
                return
            self._cancel(room)
            if tours:
                self._rooms[room] = _Touring(TourPlayer(tours, self._clock.now()))
                self._arm(room)
            elif touring is not None:  # the slots go back to the layout's own binding
                self._bus.publish("conference.tour", room, slot=None, source=None, ended=True)
        elif event.type == "room.closed":
            self._cancel(room)

    def _cancel(self, room: str) -> None:
        touring = self._rooms.pop(room, None)
        if touring is not None and touring.timer is not None:
            touring.timer.cancel()

    def _names(self, room: str, scene: Scene) -> dict[str, str]:
        # a tour may show a camera of another room: every room's names
        return {**self._scenes.names(), **scene.names}
