"""Tours (轮巡) on LED walls: a wall definition's `tours` (the same objects as a room's video
setting, mixer.tours) cycle a tile of the wall through chosen sources.

The wall service tells each wall's process what its room looks like five times a second; each
time, it asks this book which source every toured slot shows now, and sends that along (the
process applies it to the tiles it resolves, as the conference picture does). The schedule is
pure (mixer.tours.TourPlayer), so no timer is needed: a slot changes at the first scene after
its interval, within 0.2 s. Each change is a `wall.tour` event {wall, slot, region, source,
name, step} in the wall's room."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mediacore.clock import MONOTONIC, Clock
from mediacore.events import EventBus
from mediacore.server.roomtours import tour_change_data
from mixer.layout import Layout
from mixer.tours import KEY, Tour, TourPlayer, parse_tours


def wall_tours(definition: Any, layout: Layout) -> tuple[Tour, ...]:
    """The tours of a wall definition, checked against its layout; raises LayoutError."""
    tours = definition.get(KEY) if isinstance(definition, Mapping) else None
    return parse_tours(tours, layout)


class WallTours:
    def __init__(self, bus: EventBus, clock: Clock = MONOTONIC) -> None:
        self._bus = bus
        self._clock = clock
        self._walls: dict[str, tuple[str | None, TourPlayer]] = {}

    def set(self, wall: str, room: str | None, tours: tuple[Tour, ...]) -> None:
        """The wall's tours from now on (restarted when they change; none: no tour)."""
        current = self._walls.get(wall)
        if current is not None and current[1].schedule.tours == tours and current[0] == room:
            return
        self._walls.pop(wall, None)
        if tours:
            self._walls[wall] = (room, TourPlayer(tours, self._clock.now()))

    def drop(self, wall: str) -> None:
        self._walls.pop(wall, None)

    def shown(self, wall: str, names: Mapping[str, str]) -> dict[int, str]:
        """Each toured slot's source now; the slots that change are published."""
        found = self._walls.get(wall)
        if found is None:
            return {}
        room, player = found
        for change in player.advance(self._clock.now()):
            data = tour_change_data(change, dict(names))
            self._bus.publish("wall.tour", room, wall=wall, **data)
        return dict(player.shown)
