"""Tours (轮巡): a slot of the conference picture cycles through chosen sources on an interval.

A tour is data in the room's `video` setting: `{"region": <slot>, "sources": [ids], "interval":
seconds}`. The slot is an index into the layout's tiles (0-based, in the order the layout
resolves them: a grid's cells row by row, a focus or pip layout's big picture first, a custom
layout's regions as listed) or the `label` of a custom region. Tours started at `t0` show
`sources[floor((now - t0) / interval) % len(sources)]`: time decides, so the schedule is pure
and any clock (a test's fake one) drives it.

A toured slot is applied to resolved tiles (`apply`): the slot shows the tour's source with its
name; when that source is in another tile of the picture, the two swap, so a camera is never
shown twice. A source that sends no picture shows the slate, as a custom region bound to it
does. Everything here raises `LayoutError` for a setting that cannot be used (an HTTP 400)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

from mixer.layout import MAX_GRID_CELLS, PIP_MAX_INSETS, Layout, LayoutError, Tile

KEY = "tours"
MAX_TOURS = 16
MAX_SOURCES = 64
MAX_SOURCE_ID = 128
MIN_INTERVAL_S = 1.0
MAX_INTERVAL_S = 3600.0
# A layout with as many tiles as sources (grid, focus) has at most this many slots to tour.
MAX_SLOTS = MAX_GRID_CELLS
_FIELDS = frozenset({"region", "sources", "interval"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Tour:
    """`slot`: the tile index the tour shows its sources in; `region` as the setting gave it."""

    slot: int
    region: int | str
    sources: tuple[str, ...]
    interval: float


def slot_count(layout: Layout) -> int:
    """How many tiles the layout may have: a bound for a tour's slot."""
    if layout.kind == "custom":
        return len(layout.regions)
    if layout.kind == "grid" and layout.cells is not None:
        return layout.cells
    if layout.kind == "pip":
        return 1 + PIP_MAX_INSETS
    return MAX_SLOTS


def _slot(region: Any, layout: Layout, where: str) -> int:
    if isinstance(region, str):
        labels = [r.label for r in layout.regions]
        if region not in labels:
            raise LayoutError(
                f"{where}.region {region!r} names no region: a custom region's label, or a "
                "slot number"
            )
        return labels.index(region)
    if isinstance(region, bool) or not isinstance(region, int):
        raise LayoutError(f"{where}.region must be a slot number or a region label")
    count = slot_count(layout)
    if not 0 <= region < count:
        raise LayoutError(
            f"{where}.region {region} is not a slot of this layout (0 to {count - 1})"
        )
    return region


def _sources(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise LayoutError(f"{where}.sources must be a non-empty list of source ids")
    if len(value) > MAX_SOURCES:
        raise LayoutError(f"{where}.sources has at most {MAX_SOURCES} ids")
    for source in value:
        if (
            not isinstance(source, str)
            or not source
            or len(source) > MAX_SOURCE_ID
            or _CONTROL.search(source)
        ):
            raise LayoutError(f"{where}.sources holds source ids (text), got {source!r}")
    return tuple(value)


def _interval(value: Any, where: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not MIN_INTERVAL_S <= value <= MAX_INTERVAL_S
    ):
        raise LayoutError(
            f"{where}.interval must be {MIN_INTERVAL_S:g} to {MAX_INTERVAL_S:g} seconds, "
            f"got {value!r}"
        )
    return float(value)


def parse_tours(data: Any, layout: Layout) -> tuple[Tour, ...]:
    """Validates the `tours` list against the layout it tours; raises LayoutError."""
    if data is None:
        return ()
    if not isinstance(data, list):
        raise LayoutError("tours must be a list")
    if len(data) > MAX_TOURS:
        raise LayoutError(f"at most {MAX_TOURS} tours")
    tours: list[Tour] = []
    for i, item in enumerate(data):
        where = f"tours[{i}]"
        if not isinstance(item, Mapping):
            raise LayoutError(f"{where} must be an object")
        unknown = sorted(str(key) for key in set(item) - _FIELDS)
        if unknown:
            raise LayoutError(f"{where} has unknown keys {unknown}: use {sorted(_FIELDS)}")
        region = item.get("region")
        slot = _slot(region, layout, where)  # so region is a label or a slot number
        if any(tour.slot == slot for tour in tours):
            raise LayoutError(f"{where}.region: slot {slot} has a tour already")
        sources = _sources(item.get("sources"), where)
        tours.append(
            Tour(slot, cast(int | str, region), sources, _interval(item.get("interval"), where))
        )
    return tuple(tours)


class TourSchedule:
    """Tours started at `started`: which source each slot shows at any time, and when that
    next changes. Pure: the caller passes the time."""

    def __init__(self, tours: Sequence[Tour], started: float) -> None:
        self.tours = tuple(tours)
        self.started = started

    def step(self, tour: Tour, now: float) -> int:
        return max(0, math.floor((now - self.started) / tour.interval))

    def bindings(self, now: float) -> dict[int, str]:
        """Each toured slot's source at `now`."""
        return {
            tour.slot: tour.sources[self.step(tour, now) % len(tour.sources)] for tour in self.tours
        }

    def next_change(self, now: float) -> float | None:
        """When a slot shows its next source (None: nothing to change, no tour of two or
        more sources)."""
        times = [
            self.started + (self.step(tour, now) + 1) * tour.interval
            for tour in self.tours
            if len(tour.sources) > 1
        ]
        return min(times, default=None)


@dataclass(frozen=True, slots=True)
class TourChange:
    """A slot that now shows `source`, in the tour's `step`-th interval."""

    tour: Tour
    source: str
    step: int


class TourPlayer:
    """A schedule and what it last showed: `advance(now)` says which slots change."""

    def __init__(self, tours: Sequence[Tour], started: float) -> None:
        self.schedule = TourSchedule(tours, started)
        self.shown: dict[int, str] = {}  # slot -> source, as last advanced

    def advance(self, now: float) -> list[TourChange]:
        bindings = self.schedule.bindings(now)
        changes = []
        for tour in self.schedule.tours:
            source = bindings[tour.slot]
            if self.shown.get(tour.slot) != source:
                self.shown[tour.slot] = source
                changes.append(TourChange(tour, source, self.schedule.step(tour, now)))
        return changes


def _showing(
    tile: Tile,
    source: str | None,
    names: Mapping[str, str],
    speaker: str | None,
    floor: str | None,
) -> Tile:
    return replace(
        tile,
        source_id=source,
        label="" if source is None else names.get(source, source),
        talking=source is not None and source == speaker,
        highlight=source is not None and source == floor,
    )


def apply(
    tiles: Sequence[Tile],
    bindings: Mapping[int, str],
    names: Mapping[str, str],
    speaker: str | None = None,
    floor: str | None = None,
) -> tuple[Tile, ...]:
    """`tiles` with each bound slot showing its source (a slot the picture lacks is skipped);
    a source already in another, untoured tile swaps places with the slot's."""
    out = list(tiles)
    for slot, source in sorted(bindings.items()):
        if slot >= len(out) or out[slot].source_id == source:
            continue
        before = out[slot].source_id
        other = next(
            (i for i, t in enumerate(out) if t.source_id == source and i not in bindings), None
        )
        if other is not None:
            out[other] = _showing(out[other], before, names, speaker, floor)
        out[slot] = _showing(out[slot], source, names, speaker, floor)
    return tuple(out)
