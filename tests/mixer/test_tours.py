"""Tours (轮巡): the setting's checks, the schedule on a fake clock, and a toured slot in a
resolved picture."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mixer.conferencevideo import normalized, parse_conference_video
from mixer.layout import Canvas, LayoutError, parse_layout, resolve
from mixer.tours import Tour, TourSchedule, apply, parse_tours
from mixer.wall import Scene
from tests.ingest.test_parsers_fuzzed import JSON
from tests.mixer.test_wall import Screen, feed, near, wait, wall_runner

CANVAS = Canvas(640, 360, 10)
CUSTOM = {
    "kind": "custom",
    "regions": [
        {"x": 0, "y": 0, "w": 320, "h": 360, "source": "speaker"},
        {"x": 320, "y": 0, "w": 320, "h": 360, "source": "a", "label": "tour"},
    ],
}


def tours(data: object, layout: object = None) -> tuple[Tour, ...]:
    return parse_tours(data, parse_layout(layout or {"kind": "grid-4"}, CANVAS))


def test_a_tour_names_its_slot_by_number_or_by_a_custom_regions_label() -> None:
    [by_number] = tours([{"region": 3, "sources": ["a", "b"], "interval": 5}])
    assert (by_number.slot, by_number.sources, by_number.interval) == (3, ("a", "b"), 5.0)
    [by_label] = tours([{"region": "tour", "sources": ["c"], "interval": 2.5}], CUSTOM)
    assert (by_label.slot, by_label.region) == (1, "tour")
    assert tours(None) == ()


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ({"region": 4, "sources": ["a"], "interval": 5}, "not a slot of this layout (0 to 3)"),
        ({"region": -1, "sources": ["a"], "interval": 5}, "not a slot"),
        ({"region": "main", "sources": ["a"], "interval": 5}, "names no region"),
        ({"region": True, "sources": ["a"], "interval": 5}, "slot number"),
        ({"region": 0, "sources": [], "interval": 5}, "non-empty list"),
        ({"region": 0, "sources": "a", "interval": 5}, "non-empty list"),
        ({"region": 0, "sources": ["a", 7], "interval": 5}, "source ids"),
        ({"region": 0, "sources": ["a\n"], "interval": 5}, "source ids"),
        ({"region": 0, "sources": ["a"], "interval": 0.2}, "interval must be 1 to 3600"),
        ({"region": 0, "sources": ["a"], "interval": float("nan")}, "interval"),
        ({"region": 0, "sources": ["a"]}, "interval"),
        ({"region": 0, "sources": ["a"], "interval": 5, "speed": 1}, "unknown keys"),
        ("tour", "must be an object"),
    ],
)
def test_a_tour_that_cannot_run_is_refused_with_a_reason(bad: object, words: str) -> None:
    with pytest.raises(LayoutError, match=re.escape(words)):
        tours([bad])


def test_two_tours_of_one_slot_and_too_many_tours_are_refused() -> None:
    one = {"region": 1, "sources": ["a"], "interval": 5}
    with pytest.raises(LayoutError, match="slot 1 has a tour already"):
        tours([one, one])
    with pytest.raises(LayoutError, match="at most 16"):
        tours([{**one, "region": i} for i in range(17)], {"kind": "grid"})
    with pytest.raises(LayoutError, match="must be a list"):
        tours({"region": 1})


def test_the_rooms_video_setting_carries_tours_only_where_given() -> None:
    assert "tours" not in normalized({})
    setting = normalized(
        {"layout": CUSTOM, "tours": [{"region": 0, "sources": ["x"], "interval": 3}]}
    )
    assert parse_conference_video(setting).tours[0].sources == ("x",)
    with pytest.raises(LayoutError, match="tours"):
        normalized({"tours": [{"region": 9, "sources": ["x"], "interval": 3}], "layout": CUSTOM})


def test_the_schedule_advances_every_interval_on_a_fake_clock() -> None:
    fast = Tour(0, 0, ("a", "b", "c"), 2.0)
    slow = Tour(1, 1, ("x", "y"), 5.0)
    still = Tour(2, 2, ("z",), 1.0)
    schedule = TourSchedule((fast, slow, still), started=100.0)
    assert schedule.bindings(100.0) == {0: "a", 1: "x", 2: "z"}
    assert schedule.next_change(100.0) == 102.0
    assert schedule.bindings(101.99) == {0: "a", 1: "x", 2: "z"}
    assert schedule.bindings(102.0) == {0: "b", 1: "x", 2: "z"}
    assert schedule.next_change(104.5) == 105.0  # the slow one's turn
    assert schedule.bindings(105.0) == {0: "c", 1: "y", 2: "z"}
    assert schedule.bindings(106.0) == {0: "a", 1: "y", 2: "z"}  # round again
    assert schedule.step(fast, 99.0) == 0  # before the start: the first source
    assert TourSchedule((still,), 0.0).next_change(50.0) is None  # one source never changes


def test_a_toured_slot_shows_its_source_and_swaps_with_a_tile_that_showed_it() -> None:
    layout = parse_layout({"kind": "grid-4"}, CANVAS)
    tiles = resolve(layout, CANVAS, ["a", "b", "c"], "b", "c", {"a": "A", "b": "B", "c": "C"})
    names = {"a": "A", "b": "B", "c": "C", "d": "D"}
    toured = apply(tiles, {3: "d"}, names, speaker="b", floor="c")
    assert [t.source_id for t in toured] == ["a", "b", "c", "d"]
    assert toured[3].label == "D" and not toured[3].talking
    # a source shown elsewhere swaps places: never twice in one picture
    swapped = apply(tiles, {0: "b"}, names, speaker="b", floor="c")
    assert [t.source_id for t in swapped] == ["b", "a", "c", None]
    assert swapped[0].talking and swapped[0].label == "B" and swapped[1].label == "A"
    floor = apply(tiles, {3: "c"}, names, speaker="b", floor="c")
    assert [t.source_id for t in floor] == ["a", "b", None, "c"] and floor[3].highlight
    assert floor[2].label == ""
    # a slot the picture does not have (a grid of fewer sources) is left alone
    assert apply(tiles, {9: "d"}, names) == tuple(tiles)


TOUR_ITEMS = st.fixed_dictionaries(
    {},
    optional={
        "region": st.one_of(JSON, st.integers(-2, 70), st.sampled_from(["tour", "x", ""])),
        "sources": st.one_of(JSON, st.lists(st.one_of(st.text(max_size=4), JSON), max_size=4)),
        "interval": st.one_of(JSON, st.floats(allow_nan=True), st.integers(-5, 4000)),
    },
)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(JSON, st.lists(st.one_of(TOUR_ITEMS, JSON), max_size=5)),
    st.sampled_from([{"kind": "grid"}, {"kind": "grid-4"}, {"kind": "pip"}, CUSTOM]),
)
def test_any_json_is_tours_or_a_layout_error(data: Any, layout: dict[str, Any]) -> None:
    try:
        parsed = parse_conference_video(normalized({"layout": layout, "tours": data}))
    except LayoutError:
        return
    schedule = TourSchedule(parsed.tours, 0.0)
    assert set(schedule.bindings(1e6)) == {tour.slot for tour in parsed.tours}


def test_a_wall_shows_its_toured_slot_and_decodes_its_source() -> None:
    screen = Screen()
    runner = wall_runner(screen, {"kind": "grid-4"}, fps=10)
    try:
        runner.set_scene(Scene(("a", "b"), names={"a": "A", "c": "C"}, tours={3: "c"}))
        feed(runner, {"a": (255, 0, 0), "c": (0, 0, 255)}, 0.5)
        wait(lambda: [t.source_id for t in runner.tiles] == ["a", "b", None, "c"])
        assert runner.tiles[3].label == "C" and "c" in runner.wanted
        wait(lambda: screen.latest is not None and near(screen.colour(480, 270), (0, 0, 255)))
    finally:
        runner.stop()
