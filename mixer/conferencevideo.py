"""A room's conference picture settings: `{"layout": <wall layout>, "width", "height", "fps"}`.

The layout is a wall layout (mixer.layout: grid, grid-N, focus, pip, custom; "1+N" is another
name for focus: one large picture and a strip of the others), resolved on a canvas of the
given size. Every key is optional; the defaults are a grid at 1280x720, 25 fps. The size is
the picture each participant receives, so it is bounded by what a browser or a video terminal
shows (1920x1080), not by a wall's 8K."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mixer.layout import Canvas, Layout, LayoutError, check_plain, parse_canvas, parse_layout
from mixer.tours import KEY as TOURS
from mixer.tours import Tour, parse_tours

DEFAULTS: dict[str, Any] = {"layout": {"kind": "grid"}, "width": 1280, "height": 720, "fps": 25}
MAX_WIDTH = 1920
MAX_HEIGHT = 1088
KEYS = frozenset(DEFAULTS)
KEYS = KEYS | {TOURS}  # optional, kept only where given: slots cycling sources (mixer.tours)
# Names the conference world uses for the wall's kinds.
ALIASES = {"1+N": "focus", "1+n": "focus"}


@dataclass(frozen=True, slots=True)
class ConferenceVideo:
    layout: Layout
    canvas: Canvas
    tours: tuple[Tour, ...] = ()


def normalized(data: Any) -> dict[str, Any]:
    """The settings with every default filled in, checked; raises LayoutError with a message
    for an HTTP 400 (which key and why)."""
    if not isinstance(data, Mapping):
        raise LayoutError(f"video must be an object, got {type(data).__name__}")
    check_plain(data, "the setting")  # kept and answered as given
    unknown = sorted(str(key) for key in set(data) - KEYS)
    if unknown:
        raise LayoutError(f"video has unknown keys {unknown}: use {sorted(KEYS)}")
    merged = {**DEFAULTS, **data}
    layout = merged["layout"]
    kind = layout.get("kind") if isinstance(layout, Mapping) else None
    if isinstance(kind, str) and kind in ALIASES:
        merged["layout"] = {**layout, "kind": ALIASES[kind]}
    parse_conference_video(merged)
    return merged


def parse_conference_video(data: Any) -> ConferenceVideo:
    """Validates settings as `normalized` returns them; raises LayoutError."""
    canvas = parse_canvas(data)
    if canvas.width > MAX_WIDTH or canvas.height > MAX_HEIGHT:
        raise LayoutError(
            f"a conference picture is at most {MAX_WIDTH}x{MAX_HEIGHT}, "
            f"got {canvas.width}x{canvas.height}"
        )
    layout = parse_layout(data["layout"], canvas)
    return ConferenceVideo(layout, canvas, parse_tours(data.get(TOURS), layout))
