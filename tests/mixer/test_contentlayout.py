"""Shared content in the composed picture (mixer.contentlayout): the large region is the
content's, the people go to the strip, in every variant, the sharer's own included."""

from __future__ import annotations

from mixer.contentlayout import ContentRule, content_labels, content_layout
from mixer.layout import Canvas, Layout, Region, Tile
from mixer.picturerule import ruled_layout, ruled_picture
from mixer.variants import Picture, VariantKey, Viewer, assign, picture
from mixer.wall import Scene

CANVAS = Canvas(640, 360, 10)
SCENE = Scene(("a", "b", "c"), speaker="b", names={"a": "Alice", "b": "Bob", "c": "Cam"})
CONTENT = "a/content"


def large(tiles: Picture) -> Tile:
    return max(tiles, key=lambda t: t.w * t.h)


def shown(layout: Layout, scene: Scene = SCENE) -> Picture:
    return picture(content_layout(layout, CONTENT), CANVAS, scene)


def test_without_content_nothing_changes() -> None:
    for layout in (Layout("grid"), Layout("custom", regions=(Region(0, 0, 64, 64, "content"),))):
        assert content_layout(layout, None) is layout
    tiles = picture(Layout("grid"), CANVAS, SCENE)
    assert content_labels(tiles, None, "x") is tiles


def test_a_grid_becomes_the_focus_on_the_content_with_everyone_in_the_strip() -> None:
    tiles = content_labels(shown(Layout("grid")), CONTENT, "Alice · content")
    main = large(tiles)
    assert (main.source_id, main.x, main.y, main.w, main.label) == (
        CONTENT,
        0,
        0,
        640,
        "Alice · content",
    )
    strip = [t for t in tiles if t is not main]
    assert [t.source_id for t in strip] == ["a", "b", "c"]
    assert all(t.y == main.h and t.w < 640 / 3 for t in strip)
    assert next(t for t in strip if t.source_id == "b").talking  # labels still say who talks


def test_the_content_stays_large_whoever_talks_and_whatever_the_focus_follows() -> None:
    for base in (Layout("focus"), Layout("focus", main="floor"), Layout("focus", main="c")):
        assert large(shown(base, Scene(SCENE.sources, "c", "b"))).source_id == CONTENT


def test_pip_keeps_its_insets_over_the_content() -> None:
    tiles = shown(Layout("pip"))
    assert tiles[0].source_id == CONTENT and (tiles[0].w, tiles[0].h) == (640, 360)
    assert [t.source_id for t in tiles[1:]] == ["a", "b", "c"]


def test_a_custom_region_bound_to_content_shows_it_and_the_others_stay() -> None:
    custom = Layout(
        "custom",
        regions=(
            Region(0, 0, 480, 360, "content"),
            Region(480, 0, 160, 180, "speaker"),
            Region(480, 180, 160, 180, "c", "Cam"),
        ),
    )
    tiles = content_labels(shown(custom), CONTENT, "shared")
    assert [(t.source_id, t.label) for t in tiles] == [
        (CONTENT, "shared"),
        ("b", "Bob"),
        ("c", "Cam"),
    ]
    # without a content region the content must still be seen: the focus takes over
    plain = Layout("custom", regions=(Region(0, 0, 640, 360, "c"),))
    assert large(shown(plain)).source_id == CONTENT


def test_every_variant_shows_the_content_the_sharers_own_too() -> None:
    viewers = [Viewer("a", 640, 360), Viewer("b", 640, 360), Viewer(None, 640, 360)]
    result = assign(content_layout(Layout("grid"), CONTENT), 10, SCENE, viewers, "a")
    assert len(result.pictures) == 3  # the common picture, and one without each shown viewer
    for key, tiles in result.pictures.items():
        assert large(tiles).source_id == CONTENT, key
        if key.without is not None:
            assert key.without not in [t.source_id for t in tiles]
    sharer = result.pictures[VariantKey(640, 360, "a")]
    assert [t.source_id for t in sharer] == [CONTENT, "b", "c"]


def test_the_content_is_not_also_a_camera_tile() -> None:
    # a WHIP publisher sharing its only video: its source is its participant id
    tiles = picture(content_layout(Layout("grid"), "a"), CANVAS, SCENE)
    assert [t.source_id for t in tiles] == ["a", "b", "c"]
    assert large(tiles).source_id == "a"


def test_as_the_last_rule_the_content_wins_the_large_region_from_a_roll_call() -> None:
    class RollCall:  # another rule: the called participant in the focus
        def layout(self, room: str, layout: Layout) -> Layout:
            return Layout("focus", main="c")

        def picture(self, room: str, tiles: Picture, scene: Scene) -> Picture:
            return tiles

    sharing = {"r": (CONTENT, "Alice · content / 共享")}
    rules = [RollCall(), ContentRule(sharing.get)]
    layout = ruled_layout(rules, "r", Layout("grid"))
    tiles = ruled_picture(rules, "r", picture(layout, CANVAS, SCENE), SCENE)
    assert (large(tiles).source_id, large(tiles).label) == (CONTENT, "Alice · content / 共享")
    assert "c" in [t.source_id for t in tiles]
    # another room shares nothing: the roll call's focus
    assert ruled_layout(rules, "other", Layout("grid")) == Layout("focus", main="c")
