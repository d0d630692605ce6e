"""The roll call's focus rule: the named participant in every layout's focus region."""

from __future__ import annotations

from mixer.focus import focus_on
from mixer.layout import Canvas, parse_layout, resolve

CANVAS = Canvas(640, 360, 10)
SOURCES = ["a", "b", "c"]


def main_of(layout: dict[str, object]) -> str | None:
    focused = focus_on(parse_layout(layout, CANVAS), "c")
    tiles = resolve(focused, CANVAS, SOURCES, speaker="a", floor="b")
    return max(tiles, key=lambda t: t.w * t.h).source_id


def test_focus_and_pip_show_the_participant_whoever_talks() -> None:
    assert main_of({"kind": "focus"}) == "c"
    assert main_of({"kind": "focus", "main": "floor"}) == "c"
    assert main_of({"kind": "pip"}) == "c"


def test_a_grid_becomes_a_focus_around_the_participant_with_the_others_in_the_strip() -> None:
    focused = focus_on(parse_layout({"kind": "grid-9"}, CANVAS), "c")
    tiles = resolve(focused, CANVAS, SOURCES, speaker="a", floor=None)
    assert [t.source_id for t in tiles] == ["c", "a", "b"]
    assert tiles[0].w == 640


def test_custom_regions_of_the_speaker_or_else_the_largest_region_show_the_participant() -> None:
    speaker = {
        "kind": "custom",
        "regions": [
            {"x": 0, "y": 0, "w": 100, "h": 100, "source": "speaker"},
            {"x": 100, "y": 0, "w": 400, "h": 300, "source": "a"},
        ],
    }
    tiles = resolve(focus_on(parse_layout(speaker, CANVAS), "c"), CANVAS, SOURCES, "a", None)
    assert [t.source_id for t in tiles] == ["c", "a"]
    fixed = {**speaker, "regions": [{**r, "source": "b"} for r in speaker["regions"]]}  # type: ignore[attr-defined]
    tiles = resolve(focus_on(parse_layout(fixed, CANVAS), "c"), CANVAS, SOURCES, "a", None)
    assert [t.source_id for t in tiles] == ["b", "c"]
