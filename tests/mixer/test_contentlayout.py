"""Shared content in the composed picture (mixer.contentlayout): the large region is the
content's, the people go to the strip, in every variant, the sharer's own included."""

from __future__ import annotations

from mixer.contentlayout import with_content
from mixer.layout import Canvas, Layout, Region, Tile
from mixer.variants import VariantKey, Viewer, assign, picture
from mixer.wall import Scene

CANVAS = Canvas(640, 360, 10)
SCENE = Scene(("a", "b", "c"), speaker="b", names={"a": "Alice", "b": "Bob", "c": "Cam"})
CONTENT = "a/content"


def large(tiles: tuple[Tile, ...]) -> Tile:
    return max(tiles, key=lambda t: t.w * t.h)


def test_without_content_nothing_changes() -> None:
    layout = Layout("grid")
    assert with_content(layout, SCENE, None) == (layout, SCENE)


def test_a_grid_becomes_the_focus_on_the_content_with_everyone_in_the_strip() -> None:
    layout, scene = with_content(Layout("grid"), SCENE, CONTENT, "Alice · content")
    tiles = picture(layout, CANVAS, scene)
    main = large(tiles)
    assert (main.source_id, main.x, main.y, main.w) == (CONTENT, 0, 0, 640)
    assert main.label == "Alice · content"
    strip = [t for t in tiles if t is not main]
    assert [t.source_id for t in strip] == ["a", "b", "c"]
    assert all(t.y == main.h and t.w < 640 / 3 for t in strip)
    assert next(t for t in strip if t.source_id == "b").talking  # labels still say who talks


def test_the_content_stays_large_whoever_talks_and_whatever_the_focus_follows() -> None:
    for base in (Layout("focus"), Layout("focus", main="floor"), Layout("focus", main="c")):
        layout, scene = with_content(base, Scene(SCENE.sources, "c", "b"), CONTENT)
        assert large(picture(layout, CANVAS, scene)).source_id == CONTENT


def test_pip_keeps_its_insets_over_the_content() -> None:
    layout, scene = with_content(Layout("pip"), SCENE, CONTENT)
    tiles = picture(layout, CANVAS, scene)
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
    layout, scene = with_content(custom, SCENE, CONTENT, "shared")
    tiles = picture(layout, CANVAS, scene)
    assert [(t.source_id, t.label) for t in tiles] == [
        (CONTENT, "shared"),
        ("b", "Bob"),
        ("c", "Cam"),
    ]
    # without a content region the content must still be seen: the focus takes over
    plain = Layout("custom", regions=(Region(0, 0, 640, 360, "c"),))
    layout, scene = with_content(plain, SCENE, CONTENT)
    assert large(picture(layout, CANVAS, scene)).source_id == CONTENT


def test_every_variant_shows_the_content_the_sharers_own_too() -> None:
    layout, scene = with_content(Layout("grid"), SCENE, CONTENT)
    viewers = [Viewer("a", 640, 360), Viewer("b", 640, 360), Viewer(None, 640, 360)]
    result = assign(layout, 10, scene, viewers, previous="a")
    assert len(result.pictures) == 3  # the common picture, and one without each shown viewer
    for key, tiles in result.pictures.items():
        assert large(tiles).source_id == CONTENT, key
        if key.without is not None:
            assert key.without not in [t.source_id for t in tiles]
    sharer = result.pictures[VariantKey(640, 360, "a")]
    assert [t.source_id for t in sharer] == [CONTENT, "b", "c"]


def test_the_content_is_not_also_a_camera_tile() -> None:
    # a WHIP publisher sharing its only video: its source is its participant id
    layout, scene = with_content(Layout("grid"), SCENE, "a")
    tiles = picture(layout, CANVAS, scene)
    assert [t.source_id for t in tiles] == ["a", "b", "c"]
    assert large(tiles).source_id == "a"


def test_rules_compose_the_content_applied_last_wins_the_large_region() -> None:
    def roll_call(layout: Layout, scene: Scene) -> tuple[Layout, Scene]:
        return Layout("focus", main="c"), scene  # another rule of the same shape

    layout, scene = with_content(*roll_call(Layout("grid"), SCENE), CONTENT)
    tiles = picture(layout, CANVAS, scene)
    assert large(tiles).source_id == CONTENT
    assert "c" in [t.source_id for t in tiles]
