"""The conference benchmark's geometry and arithmetic: where a probe reads the stamps of a
composed picture, which source each tile shows, and when a layout switch reached a receiver.
Pure functions; the frame and latency figures themselves are `bench.wallstats`'s."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.wallstamp import picture_rect
from bench.wallstats import Records
from mixer.layout import Canvas, parse_layout, resolve

# The tile number of the custom layout the switches go to: one region of half the picture's
# size in its centre, where no grid puts a tile (so a stamp read there is that layout's).
CENTRE_TILE = 99


def grid_tiles(
    others: int, width: int, height: int, source_width: int, source_height: int
) -> list[dict[str, Any]]:
    """Where a participant's composed picture (a grid of the `others` cameras it shows) has
    each camera's picture, as `bench.conferencepeers` takes its readers, and the centre region
    of the custom layout (`CENTRE_TILE`)."""
    canvas = Canvas(width, height, 25)
    tiles: list[dict[str, Any]] = []
    if others > 0:
        names = [f"s{i}" for i in range(others)]
        grid = resolve(parse_layout({"kind": "grid"}, canvas), canvas, names, None, None)
        tiles = [
            {
                "tile": i,
                "rect": list(picture_rect((t.x, t.y, t.w, t.h), source_width, source_height)),
                "width": source_width,
                "height": source_height,
            }
            for i, t in enumerate(grid)
        ]
    region = centre_region(width, height)
    centre = picture_rect(region, source_width, source_height)
    tiles.append(
        {"tile": CENTRE_TILE, "rect": list(centre), "width": source_width, "height": source_height}
    )
    return tiles


def centre_region(width: int, height: int) -> tuple[int, int, int, int]:
    return (width // 4) & ~1, (height // 4) & ~1, (width // 2) & ~1, (height // 2) & ~1


def centre_layout(participant: str, width: int, height: int) -> dict[str, Any]:
    """The layout the switches go to: `participant`'s camera alone, in the picture's centre."""
    x, y, w, h = centre_region(width, height)
    return {"kind": "custom", "regions": [{"x": x, "y": y, "w": w, "h": h, "source": participant}]}


def tile_sources(reads: Records) -> dict[int, int]:
    """The source each tile shows most often (by the stamps read there)."""
    shown = reads[(reads["tile"] >= 0) & (reads["source"] >= 0)]
    found: dict[int, int] = {}
    for tile in np.unique(shown["tile"]):
        sources = shown["source"][shown["tile"] == tile]
        found[int(tile)] = int(np.bincount(sources).argmax())
    return found


def layout_shown(reads: Records) -> list[tuple[float, str]]:
    """(arrival, "centre" | "grid") of every decoded frame where a stamp was read: "centre"
    when the custom layout's region's stamp is readable, "grid" when only a grid tile's is."""
    readable = reads[(reads["tile"] >= 0) & (reads["source"] >= 0)]
    frames: dict[int, tuple[float, bool]] = {}
    columns = (readable["ts"], readable["arrival"], readable["tile"])
    for ts, arrival, tile in zip(*columns, strict=True):
        before = frames.get(int(ts), (float(arrival), False))
        frames[int(ts)] = (before[0], before[1] or int(tile) == CENTRE_TILE)
    ordered = sorted(frames.values())
    return [(arrival, "centre" if centre else "grid") for arrival, centre in ordered]


def switch_latencies(
    shown: Sequence[tuple[float, str]], switches: Sequence[tuple[float, str]]
) -> list[float | None]:
    """Per switch (time asked, "centre" | "grid"), ms until the first frame that arrived showing
    that layout before the next switch was asked; None when none did."""
    found: list[float | None] = []
    for i, (asked, target) in enumerate(switches):
        until = switches[i + 1][0] if i + 1 < len(switches) else float("inf")
        first = next((a for a, kind in shown if asked <= a < until and kind == target), None)
        found.append(None if first is None else round((first - asked) * 1000, 1))
    return found
