"""Who sees which composed picture: one encode per distinct picture, never one's own camera.

A conference picture is the room's layout resolved against its scene (mixer.wall.Scene). A
viewer whose camera is not in that picture sees the room's common picture, shared with every
such viewer of the same size. A viewer whose camera is in it gets the picture without itself,
when the layout can do without it: its tile goes to the others, and where it is the speaker
(or the floor holder) the big picture of a focus layout shows the previous speaker instead
(mod_conference's vid-floor does the same). A custom region bound to the viewer by id cannot
be avoided: the layout names it, so the viewer sees it. Viewers whose picture comes out the
same as the common one share the common encode.

Variants are keyed by role (size, and who is left out), not by content: the tiles of a
variant change with every scene while its encoder goes on, so a new speaker is no new
keyframe for anyone. Everything here is pure and cheap; the server recomputes it whenever the
scene, the layout or the viewers change."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from mixer.layout import Canvas, Layout, Tile, resolve
from mixer.wall import Scene

Picture = tuple[Tile, ...]


@dataclass(frozen=True, slots=True)
class Viewer:
    """A participant receiving the composed picture at `width`x`height`; `participant` None
    is a player with no camera of its own (a WHEP player); `tier` its quality tier
    (mediacore.qualitytiers: 0 full, 1 half, 2 a quarter of the bit rate)."""

    participant: str | None
    width: int
    height: int
    tier: int = 0


@dataclass(frozen=True, slots=True)
class VariantKey:
    """A picture to paint and encode: its size and the participant left out (None: the
    room's common picture)."""

    width: int
    height: int
    without: str | None = None
    tier: int = 0  # viewers at one tier share its encode

    @property
    def id(self) -> str:
        size = f"{self.width}x{self.height}"
        named = size if self.without is None else f"{size}-{self.without}"
        return named if self.tier == 0 else f"{named}~t{self.tier}"


@dataclass(frozen=True, slots=True)
class Assignment:
    """Each viewer's variant and each variant's tiles (only variants someone sees)."""

    viewers: Mapping[Viewer, VariantKey]
    pictures: Mapping[VariantKey, Picture]


class SpeakerHistory:
    """The speaker stays until someone else talks; the one before is kept for the speaker's
    own picture. Members who left are forgotten."""

    def __init__(self) -> None:
        self.speaker: str | None = None
        self.previous: str | None = None

    def update(self, loudest: str | None, members: Iterable[str]) -> None:
        if loudest is not None and loudest != self.speaker:
            self.previous, self.speaker = self.speaker, loudest
        present = set(members)
        if self.speaker not in present:
            self.speaker = None
        if self.previous not in present:
            self.previous = None


def picture(
    layout: Layout,
    canvas: Canvas,
    scene: Scene,
    previous: str | None = None,
    without: str | None = None,
) -> Picture:
    """The tiles of the picture `without` sees (None: the common picture); `previous` is the
    speaker before the current one, shown to the speaker in its place."""
    if without is None:
        return tuple(
            resolve(layout, canvas, scene.sources, scene.speaker, scene.floor, scene.names)
        )
    sources = tuple(s for s in scene.sources if s != without)
    speaker = scene.speaker
    if speaker == without:
        speaker = previous if previous in sources else None
    floor = None if scene.floor == without else scene.floor
    tiles = resolve(layout, canvas, sources, speaker, floor, scene.names)
    # the labels still say who really talks and holds the floor
    return tuple(
        replace(
            tile,
            talking=tile.source_id is not None and tile.source_id == scene.speaker,
            highlight=tile.source_id is not None and tile.source_id == scene.floor,
        )
        for tile in tiles
    )


def assign(
    layout: Layout,
    fps: float,
    scene: Scene,
    viewers: Iterable[Viewer],
    previous: str | None = None,
) -> Assignment:
    """Each viewer's variant: the common picture of its size unless its own camera is in it
    and leaving it out changes the picture."""
    chosen: dict[Viewer, VariantKey] = {}
    pictures: dict[VariantKey, Picture] = {}
    commons: dict[tuple[int, int], Picture] = {}
    for viewer in viewers:
        size = (viewer.width, viewer.height)
        canvas = Canvas(viewer.width, viewer.height, fps)
        common = commons.get(size)
        if common is None:
            common = commons[size] = picture(layout, canvas, scene)
        key = VariantKey(viewer.width, viewer.height, tier=viewer.tier)
        tiles = common
        pid = viewer.participant
        if pid is not None and any(tile.source_id == pid for tile in common):
            own = picture(layout, canvas, scene, previous, pid)
            if own != common:
                key, tiles = VariantKey(viewer.width, viewer.height, pid, viewer.tier), own
        chosen[viewer] = key
        pictures[key] = tiles
    return Assignment(chosen, pictures)


def picture_json(tiles: Picture) -> list[dict[str, object]]:
    """Tiles as the channel to a video process carries them."""
    return [
        {
            "x": t.x,
            "y": t.y,
            "w": t.w,
            "h": t.h,
            "source": t.source_id,
            "label": t.label,
            "highlight": t.highlight,
            "talking": t.talking,
        }
        for t in tiles
    ]


def picture_from_json(data: Iterable[Mapping[str, object]]) -> Picture:
    """The inverse of `picture_json`; raises KeyError, TypeError or ValueError."""
    return tuple(
        Tile(
            int(str(d["x"])),
            int(str(d["y"])),
            int(str(d["w"])),
            int(str(d["h"])),
            None if d.get("source") is None else str(d["source"]),
            str(d.get("label", "")),
            highlight=bool(d.get("highlight")),
            talking=bool(d.get("talking")),
        )
        for d in data
    )
