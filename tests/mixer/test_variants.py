"""Who sees which composed picture (mixer.variants) and the layout geometry of each picture."""

from __future__ import annotations

from mixer.layout import Canvas, Layout, Region
from mixer.variants import (
    SpeakerHistory,
    VariantKey,
    Viewer,
    assign,
    picture,
    picture_from_json,
    picture_json,
)
from mixer.variantswitch import VariantSwitch
from mixer.wall import Scene

CANVAS = Canvas(640, 360, 10)
GRID = Layout("grid")
FOCUS = Layout("focus")


def shown(tiles: tuple[object, ...]) -> list[str | None]:
    return [t.source_id for t in tiles]  # type: ignore[attr-defined]


def viewer(pid: str | None, width: int = 640, height: int = 360) -> Viewer:
    return Viewer(pid, width, height)


def test_a_viewer_whose_camera_is_shown_gets_the_picture_without_itself() -> None:
    scene = Scene(("a", "b", "c"), names={"a": "Alice", "b": "Bob", "c": "Cam"})
    result = assign(GRID, 10, scene, [viewer("a"), viewer("b"), viewer(None)])
    common = VariantKey(640, 360)
    assert result.viewers[viewer(None)] == common
    assert result.viewers[viewer("a")] == VariantKey(640, 360, "a")
    assert shown(result.pictures[common]) == ["a", "b", "c"]
    assert shown(result.pictures[VariantKey(640, 360, "a")]) == ["b", "c"]
    assert shown(result.pictures[VariantKey(640, 360, "b")]) == ["a", "c"]
    assert VariantKey(640, 360, "a").id == "640x360-a" and common.id == "640x360"


def test_viewers_without_a_shown_camera_share_one_encode_however_many() -> None:
    scene = Scene(("a", "b"))
    players = [viewer(None)] + [viewer(f"listener{i}") for i in range(20)]
    result = assign(GRID, 10, scene, players)
    assert set(result.viewers.values()) == {VariantKey(640, 360)}
    assert len(result.pictures) == 1


def test_encodes_grow_with_shown_viewers_not_with_all_viewers() -> None:
    scene = Scene(tuple(f"p{i}" for i in range(9)))
    everyone = [viewer(f"p{i}") for i in range(9)] + [viewer(f"w{i}") for i in range(30)]
    result = assign(GRID, 10, scene, everyone)
    assert len(result.pictures) == 10  # nine pictures without oneself, one common picture


def test_a_camera_the_fixed_grid_leaves_out_sees_the_common_picture() -> None:
    scene = Scene(("a", "b", "c"))
    result = assign(Layout("grid", cells=2), 10, scene, [viewer("c")])
    assert result.viewers[viewer("c")] == VariantKey(640, 360)


def test_the_speaker_sees_the_previous_speaker_in_focus_and_the_others_see_the_speaker() -> None:
    scene = Scene(("a", "b", "c"), speaker="a")
    result = assign(FOCUS, 10, scene, [viewer("a"), viewer("c")], previous="b")
    mine = result.pictures[result.viewers[viewer("a")]]
    assert mine[0].source_id == "b" and (mine[0].w, mine[0].h) == (640, 270)
    assert not mine[0].talking  # b does not talk now: its label says so
    assert "a" not in shown(mine)
    theirs = result.pictures[result.viewers[viewer("c")]]
    assert theirs[0].source_id == "a" and theirs[0].talking
    assert "c" not in shown(theirs)


def test_the_floor_holder_is_left_out_of_its_own_floor_focus() -> None:
    scene = Scene(("a", "b"), floor="b")
    tiles = picture(Layout("focus", main="floor"), CANVAS, scene, without="b")
    assert shown(tiles) == ["a"]
    common = picture(Layout("focus", main="floor"), CANVAS, scene)
    assert common[0].source_id == "b" and common[0].highlight


def test_a_custom_region_bound_to_the_viewer_cannot_be_avoided() -> None:
    layout = Layout("custom", regions=(Region(0, 0, 320, 180, "a"), Region(320, 0, 320, 180, "b")))
    result = assign(layout, 10, Scene(("a", "b")), [viewer("a")])
    assert result.viewers[viewer("a")] == VariantKey(640, 360)  # named by the layout: shown


def test_a_custom_speaker_region_shows_the_speaker_the_one_before() -> None:
    layout = Layout("custom", regions=(Region(0, 0, 640, 360, "speaker"),))
    scene = Scene(("a", "b", "c"), speaker="a")
    result = assign(layout, 10, scene, [viewer("a"), viewer("b")], previous="c")
    assert shown(result.pictures[result.viewers[viewer("a")]]) == ["c"]
    assert result.viewers[viewer("b")] == VariantKey(640, 360)
    assert shown(result.pictures[VariantKey(640, 360)]) == ["a"]


def test_each_size_has_its_own_common_picture() -> None:
    scene = Scene(("a", "b"))
    result = assign(GRID, 10, scene, [viewer(None), viewer("w", 320, 180)])
    assert set(result.pictures) == {VariantKey(640, 360), VariantKey(320, 180)}
    small = result.pictures[VariantKey(320, 180)]
    assert [(t.x, t.y, t.w, t.h) for t in small] == [(0, 0, 160, 180), (160, 0, 160, 180)]


def test_grid_geometry_halves_then_quarters() -> None:
    two = picture(GRID, CANVAS, Scene(("a", "b")))
    assert [(t.x, t.y, t.w, t.h) for t in two] == [(0, 0, 320, 360), (320, 0, 320, 360)]
    four = picture(GRID, CANVAS, Scene(("a", "b", "c", "d")))
    assert [(t.x, t.y) for t in four] == [(0, 0), (320, 0), (0, 180), (320, 180)]
    assert all((t.w, t.h) == (320, 180) for t in four)


def test_focus_geometry_one_large_and_a_strip() -> None:
    tiles = picture(FOCUS, CANVAS, Scene(("a", "b", "c"), speaker="c"))
    assert (tiles[0].source_id, tiles[0].w, tiles[0].h) == ("c", 640, 270)
    assert [t.y for t in tiles[1:]] == [270, 270] and all(t.h == 90 for t in tiles[1:])


def test_pictures_cross_the_channel_unchanged() -> None:
    tiles = picture(FOCUS, CANVAS, Scene(("a", "b"), speaker="a", floor="b", names={"a": "甲"}))
    assert picture_from_json(picture_json(tiles)) == tiles


def test_the_speaker_stays_until_another_talks_and_the_one_before_is_kept() -> None:
    history = SpeakerHistory()
    history.update("a", ["a", "b"])
    history.update(None, ["a", "b"])
    assert (history.speaker, history.previous) == ("a", None)
    history.update("b", ["a", "b"])
    assert (history.speaker, history.previous) == ("b", "a")
    history.update(None, ["b"])  # a left
    assert (history.speaker, history.previous) == ("b", None)


def test_a_viewer_moves_to_another_variant_at_its_keyframe() -> None:
    switch = VariantSwitch()
    assert switch.choose("common")
    assert not switch.accept("common", keyframe=False)  # nothing to decode from yet
    assert switch.accept("common", keyframe=True)
    assert switch.accept("common", keyframe=False)
    assert switch.choose("without-a") and not switch.choose("without-a")
    assert switch.target == "without-a"
    assert switch.accept("common", keyframe=False)  # the old one goes on meanwhile
    assert not switch.accept("without-a", keyframe=False)
    assert switch.accept("without-a", keyframe=True)
    assert not switch.accept("common", keyframe=True)
    assert switch.switches == 2
    assert not switch.choose("without-a")


def test_viewers_at_another_tier_get_an_encode_of_their_own_shared_by_that_tier() -> None:
    """Tiers multiply encodes by the tiers in use, never by the viewers."""
    from mixer.layout import Canvas, parse_layout
    from mixer.variants import Viewer, assign
    from mixer.wall import Scene

    layout = parse_layout({"kind": "grid"}, Canvas(640, 360, 10))
    scene = Scene(("a", "b"), None, None, {"a": "A", "b": "B"})
    viewers = [
        Viewer(None, 640, 360),
        Viewer("x", 640, 360),
        Viewer("y", 640, 360, tier=2),
        Viewer("z", 640, 360, tier=2),
        Viewer("a", 640, 360, tier=2),
    ]
    assignment = assign(layout, 10, scene, viewers)
    ids = {v.participant: assignment.viewers[v].id for v in viewers}
    assert ids == {
        None: "640x360",
        "x": "640x360",
        "y": "640x360~t2",
        "z": "640x360~t2",
        "a": "640x360-a~t2",
    }
    assert len(assignment.pictures) == 3
