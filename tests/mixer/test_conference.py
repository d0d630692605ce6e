"""The conference runner: every variant painted once a frame into its own x264, decoded back."""

from __future__ import annotations

import time
from collections import defaultdict

import pytest

from mixer.conference import ConferenceRunner, VariantPicture
from mixer.layout import Canvas, Layout
from mixer.variants import picture
from mixer.wall import Scene
from tests.mixer.test_wall import Screen, near, solid, wait

RED, BLUE = (255, 0, 0), (0, 0, 255)
CANVAS = Canvas(320, 180, 10)


class Screens:
    """One decoder per variant, fed by the runner's sink."""

    def __init__(self) -> None:
        self.screens: dict[str, Screen] = defaultdict(Screen)

    def __call__(self, variant: str, data: bytes, pts: int, keyframe: bool) -> None:
        self.screens[variant](data, pts, keyframe)


GRID = Layout("grid")


def variant(scene: Scene, without: str | None = None, layout: Layout = GRID) -> VariantPicture:
    return VariantPicture(
        CANVAS.width, CANVAS.height, picture(layout, CANVAS, scene, without=without)
    )


@pytest.mark.slow
def test_each_variant_is_encoded_once_a_frame_and_leaves_its_viewer_out() -> None:
    screens = Screens()
    runner = ConferenceRunner("room", CANVAS.fps, screens)
    scene = Scene(("red", "blue"))
    try:
        assert runner.statistics()["encodes"] == 0  # nobody watches: nothing painted
        runner.set_variants({"common": variant(scene), "no-red": variant(scene, "red")})
        assert runner.wanted == {"red", "blue"}
        for _ in range(5):
            runner.push("red", solid(RED), time.monotonic())
            runner.push("blue", solid(BLUE), time.monotonic())
            time.sleep(0.1)
        common, no_red = screens.screens["common"], screens.screens["no-red"]
        wait(lambda: common.frames >= 3 and no_red.frames >= 3)
        assert near(common.colour(80, 90), RED) and near(common.colour(240, 90), BLUE)
        # without red: blue alone, over the whole width
        assert near(no_red.colour(80, 90), BLUE) and near(no_red.colour(240, 90), BLUE)
        time.sleep(1.0)
        per_second = runner.encodes_per_second()
        assert 12 <= per_second <= 24  # two variants at 10 fps
        # a layout switch shows from the next frames on, on the same encoders
        focus = Layout("focus", main="blue")
        switched = time.monotonic()
        runner.set_variants({"common": variant(scene, layout=focus)})
        runner.push("red", solid(RED), time.monotonic())
        runner.push("blue", solid(BLUE), time.monotonic())
        wait(lambda: near(common.colour(160, 60), BLUE), 2.0)
        assert time.monotonic() - switched < 1.0
        assert runner.layout_switches == 1
        assert runner.statistics()["variants"] == ["common"]
    finally:
        runner.stop()


@pytest.mark.slow
def test_a_720p_picture_without_oneself_in_focus() -> None:
    screens = Screens()
    runner = ConferenceRunner("room", 15, screens)
    canvas = Canvas(1280, 720, 15)
    scene = Scene(("red", "blue"), speaker="red")
    focus = Layout("focus")
    try:
        runner.set_variants(
            {
                "common": VariantPicture(1280, 720, picture(focus, canvas, scene)),
                "no-red": VariantPicture(
                    1280, 720, picture(focus, canvas, scene, previous="blue", without="red")
                ),
            }
        )
        for _ in range(10):
            runner.push("red", solid(RED, 1280, 720), time.monotonic())
            runner.push("blue", solid(BLUE, 1280, 720), time.monotonic())
            time.sleep(1 / 15)
        common, no_red = screens.screens["common"], screens.screens["no-red"]
        wait(lambda: common.frames >= 5 and no_red.frames >= 5)
        assert near(common.colour(640, 270), RED)  # the speaker, large
        assert near(no_red.colour(640, 360), BLUE)  # the speaker sees the one before, alone
        assert common.latest is not None and common.latest.shape[:2] == (720, 1280)
    finally:
        runner.stop()
