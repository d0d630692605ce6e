"""Shared content (双流) in the composed picture: the content takes the large region.

A layout rule: a pure function from (layout, scene) to (layout, scene), so that it composes
with other rules of the same shape (a roll call's focus, a tour) applied before it; applied
last, the content wins the large region and the others keep their places among the people.
While content is shared:
- grid and focus become a focus on the content, every camera in the strip below (the wall's
  focus layout, reused);
- pip keeps its insets, over the content;
- custom keeps its regions, and one bound to "content" shows it; a custom layout without such
  a region becomes the focus too (the content must be seen).
The content is no one's camera: it is in every viewer's picture, the sharer's own included.
Without content the layout and scene are untouched (a "content" region shows the slate)."""

from __future__ import annotations

from dataclasses import replace

from mixer.layout import Layout
from mixer.wall import Scene

CONTENT = "content"  # what a custom region binds to, as "speaker" and "floor"


def with_content(
    layout: Layout, scene: Scene, content: str | None, label: str = ""
) -> tuple[Layout, Scene]:
    """The layout and scene to paint while `content` (a video source id; None: nothing is
    shared) is the room's content, labelled `label` (default: its id)."""
    if content is None:
        return layout, scene
    people = tuple(source for source in scene.sources if source != content)
    names = {**scene.names, content: label} if label else scene.names
    shown = Scene((content, *people), scene.speaker, scene.floor, names)
    if layout.kind == "custom" and any(region.source == CONTENT for region in layout.regions):
        regions = tuple(
            replace(region, source=content) if region.source == CONTENT else region
            for region in layout.regions
        )
        return replace(layout, regions=regions), shown
    return Layout("pip" if layout.kind == "pip" else "focus", main=content), shown
