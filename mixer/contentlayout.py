"""Shared content (双流) in the composed picture: the content takes the large region.

A picture rule (mixer.picturerule): applied after the others (a tour's slot, a roll call's
focus), the content wins the large region and the rest keeps its places among the people.
While content is shared:
- grid and focus become a focus on the content, every camera in the strip below (the wall's
  focus layout, reused);
- pip keeps its insets, over the content;
- custom keeps its regions, and those bound to "content" show it; a custom layout without
  such a region becomes the focus too (the content must be seen).
The large region is bound to the content by id, so it is in every viewer's picture, the
sharer's own included (the content is no one's camera), and never also a camera tile. Without
content the layout is untouched (a "content" region shows the slate)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from mixer.layout import Layout
from mixer.variants import Picture
from mixer.wall import Scene

CONTENT = "content"  # what a custom region binds to, as "speaker" and "floor"

# The room's shared content now: (source id, label), or None.
SharedContent = Callable[[str], tuple[str, str] | None]


def content_layout(layout: Layout, content: str | None) -> Layout:
    """The layout to resolve while `content` (a video source id; None: nothing is shared) is
    the room's content."""
    if content is None:
        return layout
    if layout.kind == "custom" and any(region.source == CONTENT for region in layout.regions):
        regions = tuple(
            replace(region, source=content) if region.source == CONTENT else region
            for region in layout.regions
        )
        return replace(layout, regions=regions)
    return Layout("pip" if layout.kind == "pip" else "focus", main=content)


def content_labels(tiles: Picture, content: str | None, label: str) -> Picture:
    """The tiles, those showing `content` labelled `label`."""
    if content is None or not label:
        return tiles
    return tuple(replace(t, label=label) if t.source_id == content else t for t in tiles)


class ContentRule:
    """The picture rule of every room: `shared(room)` says what is shared there now."""

    def __init__(self, shared: SharedContent) -> None:
        self._shared = shared

    def layout(self, room: str, layout: Layout) -> Layout:
        content = self._shared(room)
        return content_layout(layout, None if content is None else content[0])

    def picture(self, room: str, tiles: Picture, scene: Scene) -> Picture:
        content = self._shared(room)
        if content is None:
            return tiles
        return content_labels(tiles, *content)
