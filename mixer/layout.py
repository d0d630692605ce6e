"""Wall layouts as data: parse and validate a wall definition, resolve a layout to tiles.

A wall is a canvas (any size up to 8K, LED walls are wide), a layout and a list of outputs, each
covering a region of the canvas. `parse_wall(json_object)` validates and raises `LayoutError`
with a message fit for an HTTP 400. `resolve(...)` turns a layout plus the current sources,
active speaker and floor holder into concrete tiles, recomputed whenever any of those change.
Unknown source ids are not an error: their tile shows the no-signal slate."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mixer.walltransport import check_url

MAX_WIDTH = 7680
MAX_HEIGHT = 4320
MIN_SIZE = 16
MAX_FPS = 60.0
MAX_GRID_CELLS = 64
MAX_REGIONS = 256
MAX_OUTPUTS = 16
OUTPUT_KINDS = ("rtmp", "srt", "rtp", "whep")
LAYOUT_KINDS = ("grid", "grid-N", "focus", "pip", "custom")
SPEAKER = "speaker"
FLOOR = "floor"
# Picture-in-picture insets: at most this many, each a quarter of the canvas side.
PIP_MAX_INSETS = 3

_GRID_FIXED = re.compile(r"grid-(\d+)")


class LayoutError(ValueError):
    """A wall definition that cannot be used; the message says which field and why."""


@dataclass(frozen=True, slots=True)
class Canvas:
    width: int
    height: int
    fps: float


@dataclass(frozen=True, slots=True)
class Region:
    """A custom-layout region in canvas pixels; `source` is an id, "speaker" or "floor"."""

    x: int
    y: int
    w: int
    h: int
    source: str
    label: str | None = None


@dataclass(frozen=True, slots=True)
class Layout:
    """`kind` is "grid", "focus", "pip" or "custom". `cells` is a fixed grid size (None: one
    cell per source). `main` picks the big picture of focus/pip: an id, "speaker" or "floor"."""

    kind: str
    cells: int | None = None
    main: str = SPEAKER
    regions: tuple[Region, ...] = ()


@dataclass(frozen=True, slots=True)
class Output:
    kind: str
    url: str | None
    region: tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class Wall:
    """`room` (optional) is the room whose video participants fill grid, focus and pip
    layouts and whose speaker and floor holder the "speaker" and "floor" bindings follow."""

    canvas: Canvas
    layout: Layout
    outputs: tuple[Output, ...]
    room: str | None = None


@dataclass(frozen=True, slots=True)
class Tile:
    """A concrete rectangle (even-aligned, inside the canvas) and what to show in it.
    `source_id` None means nobody is bound (no speaker, no floor holder, an empty grid cell):
    the painter shows the slate. `highlight` marks the floor holder, `talking` the speaker."""

    x: int
    y: int
    w: int
    h: int
    source_id: str | None
    label: str
    highlight: bool = False
    talking: bool = False


def _int(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise LayoutError(f"{where} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise LayoutError(f"{where} must be between {low} and {high}, got {value}")
    return value


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise LayoutError(f"{where} must be an object, got {type(value).__name__}")
    return value


def parse_canvas(data: Any) -> Canvas:
    """Validates `{"width", "height", "fps"}`; raises LayoutError."""
    obj = _object(data, "canvas")
    width = _int(obj.get("width"), "canvas.width", MIN_SIZE, MAX_WIDTH)
    height = _int(obj.get("height"), "canvas.height", MIN_SIZE, MAX_HEIGHT)
    if width % 2 or height % 2:
        raise LayoutError(f"canvas size must be even for yuv420p, got {width}x{height}")
    fps = obj.get("fps", 25)
    if isinstance(fps, bool) or not isinstance(fps, int | float) or not 1 <= fps <= MAX_FPS:
        raise LayoutError(f"canvas.fps must be a number from 1 to {MAX_FPS:g}, got {fps!r}")
    return Canvas(width, height, float(fps))


def _source(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise LayoutError(f'{where} must be a source id, "speaker" or "floor", got {value!r}')
    return value


def parse_layout(data: Any, canvas: Canvas) -> Layout:
    """Validates a layout object against `canvas`; raises LayoutError."""
    obj = _object(data, "layout")
    kind = obj.get("kind")
    if not isinstance(kind, str):
        raise LayoutError(f"layout.kind must be one of {', '.join(LAYOUT_KINDS)}, got {kind!r}")
    main = _source(obj.get("main", SPEAKER), "layout.main")
    fixed = _GRID_FIXED.fullmatch(kind)
    if fixed:
        cells = int(fixed.group(1))
        if not 1 <= cells <= MAX_GRID_CELLS:
            raise LayoutError(f"layout.kind {kind}: a grid has 1 to {MAX_GRID_CELLS} cells")
        return Layout("grid", cells=cells)
    if kind in ("grid", "focus", "pip"):
        return Layout(kind, main=main)
    if kind != "custom":
        raise LayoutError(
            f"unknown layout.kind {kind!r}: use grid, grid-4, grid-9, grid-16, focus, pip or custom"
        )
    regions_data = obj.get("regions")
    if not isinstance(regions_data, list) or not regions_data:
        raise LayoutError("a custom layout needs a non-empty layout.regions list")
    if len(regions_data) > MAX_REGIONS:
        raise LayoutError(f"a custom layout has at most {MAX_REGIONS} regions")
    regions = []
    for i, item in enumerate(regions_data):
        where = f"layout.regions[{i}]"
        reg = _object(item, where)
        x = _int(reg.get("x"), f"{where}.x", 0, canvas.width - 1)
        y = _int(reg.get("y"), f"{where}.y", 0, canvas.height - 1)
        w = _int(reg.get("w"), f"{where}.w", 2, canvas.width)
        h = _int(reg.get("h"), f"{where}.h", 2, canvas.height)
        if x + w > canvas.width or y + h > canvas.height:
            raise LayoutError(
                f"{where} ({x},{y} {w}x{h}) lies outside the {canvas.width}x{canvas.height} canvas"
            )
        label = reg.get("label")
        if label is not None and not isinstance(label, str):
            raise LayoutError(f"{where}.label must be a string, got {label!r}")
        regions.append(Region(x, y, w, h, _source(reg.get("source"), f"{where}.source"), label))
    return Layout("custom", regions=tuple(regions))


def parse_output(data: Any, canvas: Canvas, where: str) -> Output:
    """Validates one output; the region defaults to the whole canvas. Raises LayoutError."""
    obj = _object(data, where)
    kind = obj.get("kind")
    if kind not in OUTPUT_KINDS:
        raise LayoutError(f"{where}.kind must be one of {', '.join(OUTPUT_KINDS)}, got {kind!r}")
    url = obj.get("url")
    if kind != "whep" and (not isinstance(url, str) or not url):
        raise LayoutError(f"{where}.url is required for a {kind} output")
    if url is not None and not isinstance(url, str):
        raise LayoutError(f"{where}.url must be a string")
    if isinstance(url, str) and (problem := check_url(kind, url)) is not None:
        raise LayoutError(f"{where}.url: {problem}")
    raw = obj.get("region")
    if raw is None:
        return Output(kind, url, (0, 0, canvas.width, canvas.height))
    if not isinstance(raw, list) or len(raw) != 4:
        raise LayoutError(f"{where}.region must be [x, y, w, h], got {raw!r}")
    x, y, w, h = (_int(v, f"{where}.region", 0, max(canvas.width, canvas.height)) for v in raw)
    if w < MIN_SIZE or h < MIN_SIZE:
        raise LayoutError(f"{where}.region must be at least {MIN_SIZE}x{MIN_SIZE}, got {w}x{h}")
    if x + w > canvas.width or y + h > canvas.height:
        size = f"{canvas.width}x{canvas.height}"
        raise LayoutError(f"{where}.region ({x},{y} {w}x{h}) lies outside the {size} canvas")
    if x % 2 or y % 2 or w % 2 or h % 2:
        raise LayoutError(f"{where}.region values must be even for yuv420p, got {raw}")
    return Output(kind, url, (x, y, w, h))


def parse_wall(data: Any) -> Wall:
    """Validates a whole wall definition (the body of PUT /walls/{wall}); raises LayoutError."""
    obj = _object(data, "wall")
    _check_plain(obj)
    canvas = parse_canvas(obj.get("canvas"))
    layout = parse_layout(obj.get("layout"), canvas)
    outputs_data = obj.get("outputs", [])
    if not isinstance(outputs_data, list):
        raise LayoutError("outputs must be a list")
    if len(outputs_data) > MAX_OUTPUTS:
        raise LayoutError(f"a wall has at most {MAX_OUTPUTS} outputs")
    outputs = tuple(
        parse_output(item, canvas, f"outputs[{i}]") for i, item in enumerate(outputs_data)
    )
    room = obj.get("room")
    if room is not None and (not isinstance(room, str) or not room):
        raise LayoutError(f"room must be a room name, got {room!r}")
    if room is None and any(out.kind == "whep" for out in outputs):
        raise LayoutError("a whep output needs the wall's room (browsers play it as its guests)")
    return Wall(canvas, layout, outputs, room)


def _check_plain(data: Any) -> None:
    """The definition is kept and sent back as given (the API's answers, every GET): it must be
    JSON as a response writes it, finite numbers and Unicode text. Raises LayoutError."""
    check_plain(data, "a wall definition")


def check_plain(data: Any, what: str) -> None:
    """`data`, kept and sent back as given, is JSON as a response writes it: finite numbers and
    Unicode text. Raises LayoutError naming `what`."""
    try:
        json.dumps(data, ensure_ascii=False, allow_nan=False).encode()
    except (ValueError, RecursionError):  # UnicodeEncodeError is a ValueError
        raise LayoutError(
            f"{what} holds finite numbers and Unicode text only (no NaN, Infinity "
            "or lone surrogates such as \\ud800)"
        ) from None


def _even(value: float) -> int:
    return int(value) & ~1


def _label(source_id: str | None, names: Mapping[str, str] | None) -> str:
    if source_id is None:
        return ""
    return names.get(source_id, source_id) if names else source_id


def _grid(x0: int, y0: int, width: int, height: int, cells: int) -> list[tuple[int, int, int, int]]:
    """`cells` rectangles in rows, columns = ceil(sqrt(cells)); edges shared, even-aligned."""
    cols = math.ceil(math.sqrt(cells))
    rows = math.ceil(cells / cols)
    xs = [x0 + _even(width * c / cols) for c in range(cols)] + [x0 + width]
    ys = [y0 + _even(height * r / rows) for r in range(rows)] + [y0 + height]
    return [
        (xs[c], ys[r], xs[c + 1] - xs[c], ys[r + 1] - ys[r])
        for r in range(rows)
        for c in range(cols)
    ][:cells]


def _main_source(
    layout: Layout, sources: Sequence[str], speaker: str | None, floor: str | None
) -> str | None:
    # The big picture follows its binding, then the speaker, the floor holder, the first source.
    bound = {SPEAKER: speaker, FLOOR: floor}.get(layout.main, layout.main)
    for candidate in (bound, speaker, floor, *sources[:1]):
        if candidate is not None:
            return candidate
    return None


def resolve(
    layout: Layout,
    canvas: Canvas,
    sources: Sequence[str],
    speaker: str | None,
    floor: str | None,
    names: Mapping[str, str] | None = None,
) -> list[Tile]:
    """Concrete, even-aligned tiles for `layout` on `canvas` for the sources present now (in
    display order). `names` maps source ids to the label text (default: the id)."""
    W, H = canvas.width, canvas.height
    rects: list[tuple[tuple[int, int, int, int], str | None, str | None]] = []
    if layout.kind == "grid":
        cells = layout.cells or max(1, len(sources))
        ids: list[str | None] = [*sources[:cells]]
        ids += [None] * (cells - len(ids))
        rects = [(r, s, None) for r, s in zip(_grid(0, 0, W, H, cells), ids, strict=True)]
    elif layout.kind in ("focus", "pip"):
        main = _main_source(layout, sources, speaker, floor)
        others = [s for s in sources if s != main]
        if layout.kind == "focus" and others:
            strip_h = _even(H / 4)
            rects.append(((0, 0, W, H - strip_h), main, None))
            # The strip holds at least four cells so two or three thumbnails stay small.
            cells = max(4, len(others))
            cell_w = _even(W / cells)
            left = _even((W - cell_w * len(others)) / 2)
            for i, source_id in enumerate(others):
                rects.append(((left + i * cell_w, H - strip_h, cell_w, strip_h), source_id, None))
        else:
            rects.append(((0, 0, W, H), main, None))
            if layout.kind == "pip":
                inset_w, inset_h, margin = _even(W / 4), _even(H / 4), _even(min(W, H) / 40)
                for i, source_id in enumerate(others[:PIP_MAX_INSETS]):
                    x = W - (i + 1) * (inset_w + margin)
                    rects.append(((x, H - inset_h - margin, inset_w, inset_h), source_id, None))
    elif layout.kind == "custom":
        for reg in layout.regions:
            bound = {SPEAKER: speaker, FLOOR: floor}.get(reg.source, reg.source)
            x, y = _even(reg.x), _even(reg.y)
            right, bottom = _even(min(reg.x + reg.w, W)), _even(min(reg.y + reg.h, H))
            rects.append(((x, y, max(2, right - x), max(2, bottom - y)), bound, reg.label))
    else:
        raise LayoutError(f"unknown layout.kind {layout.kind!r}")
    return [
        Tile(
            x,
            y,
            w,
            h,
            source_id,
            label if label is not None else _label(source_id, names),
            highlight=source_id is not None and source_id == floor,
            talking=source_id is not None and source_id == speaker,
        )
        for (x, y, w, h), source_id, label in rects
    ]
