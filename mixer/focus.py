"""One participant in the focus of a conference layout, whoever talks (a roll call's rule).

`focus_on(layout, participant)` is the layout that shows `participant` in the big picture: a
focus or pip layout's main picture is bound to it (instead of the speaker or floor holder); a
custom layout's regions bound to "speaker" are bound to it, or its largest region when none
is; a grid becomes a focus layout around it for as long as the rule applies (one large
picture and a strip of the others). The other tiles stay as the layout resolves them. A small
pure rule: other rules (content sharing) compose with it by applying theirs after or before."""

from __future__ import annotations

from dataclasses import replace

from mixer.layout import SPEAKER, Layout


def focus_on(layout: Layout, participant: str) -> Layout:
    """The layout with `participant` in its focus region."""
    if layout.kind in ("focus", "pip"):
        return replace(layout, main=participant)
    if layout.kind == "custom":
        regions = layout.regions
        if any(r.source == SPEAKER for r in regions):
            bound = tuple(
                replace(r, source=participant) if r.source == SPEAKER else r for r in regions
            )
        else:
            largest = max(range(len(regions)), key=lambda i: regions[i].w * regions[i].h)
            bound = tuple(
                replace(r, source=participant) if i == largest else r for i, r in enumerate(regions)
            )
        return replace(layout, regions=bound)
    return Layout("focus", main=participant)
