import json

import pytest

from mixer.layout import Canvas, Layout, LayoutError, Tile, parse_wall, resolve

HD = Canvas(1920, 1080, 25)
UHD = Canvas(3840, 2160, 25)


def ids(n: int) -> list[str]:
    return [f"cam{i}" for i in range(n)]


def rects(tiles: list[Tile]) -> list[tuple[int, int, int, int]]:
    return [(t.x, t.y, t.w, t.h) for t in tiles]


def assert_inside_even_and_disjoint(tiles: list[Tile], canvas: Canvas) -> None:
    for t in tiles:
        assert all(v % 2 == 0 for v in (t.x, t.y, t.w, t.h)), t
        assert t.w > 0 and t.h > 0
        assert t.x + t.w <= canvas.width and t.y + t.h <= canvas.height, t


@pytest.mark.parametrize("canvas", [HD, UHD], ids=["1080p", "2160p"])
@pytest.mark.parametrize("n,cols,rows", [(1, 1, 1), (4, 2, 2), (9, 3, 3), (16, 4, 4)])
def test_auto_grid_splits_the_canvas_into_equal_cells(
    canvas: Canvas, n: int, cols: int, rows: int
) -> None:
    tiles = resolve(Layout("grid"), canvas, ids(n), None, None)
    w, h = canvas.width // cols, canvas.height // rows
    expected = [(c * w, r * h, w, h) for r in range(rows) for c in range(cols)]
    assert rects(tiles) == expected
    assert [t.source_id for t in tiles] == ids(n)
    assert sum(t.w * t.h for t in tiles) == canvas.width * canvas.height
    assert_inside_even_and_disjoint(tiles, canvas)


def test_three_by_three_on_1080p_has_even_aligned_edges() -> None:
    tiles = resolve(Layout("grid"), HD, ids(9), None, None)
    assert rects(tiles)[:3] == [(0, 0, 640, 360), (640, 0, 640, 360), (1280, 0, 640, 360)]


def test_fixed_grid_keeps_its_cells_and_leaves_empty_ones_unbound() -> None:
    wall = parse_wall(
        {"canvas": {"width": 1920, "height": 1080, "fps": 25}, "layout": {"kind": "grid-9"}}
    )
    tiles = resolve(wall.layout, wall.canvas, ids(4), None, None)
    assert len(tiles) == 9
    assert [t.source_id for t in tiles] == [*ids(4), None, None, None, None, None]
    # More sources than cells: the first ones fill it.
    assert len(resolve(wall.layout, wall.canvas, ids(16), None, None)) == 9


def test_grid_with_no_sources_shows_one_unbound_cell() -> None:
    assert rects(resolve(Layout("grid"), HD, [], None, None)) == [(0, 0, 1920, 1080)]


@pytest.mark.parametrize("canvas", [HD, UHD], ids=["1080p", "2160p"])
@pytest.mark.parametrize("n", [1, 4, 9, 16])
def test_focus_puts_the_speaker_big_and_the_rest_in_a_bottom_strip(canvas: Canvas, n: int) -> None:
    sources = ids(n)
    speaker = sources[-1]
    tiles = resolve(Layout("focus"), canvas, sources, speaker, None)
    W, H = canvas.width, canvas.height
    assert tiles[0].source_id == speaker and tiles[0].talking
    if n == 1:
        assert rects(tiles) == [(0, 0, W, H)]
        return
    strip = H // 4
    assert rects(tiles)[0] == (0, 0, W, H - strip)
    others = tiles[1:]
    assert [t.source_id for t in others] == sources[:-1]
    cell = (W // max(4, n - 1)) & ~1
    assert {(t.y, t.w, t.h) for t in others} == {(H - strip, cell, strip)}
    xs = [t.x for t in others]
    assert xs == sorted(xs) and all(b - a == cell for a, b in zip(xs, xs[1:], strict=False))
    # The strip is centred.
    assert abs(xs[0] - (W - (xs[-1] + cell))) <= 2
    assert_inside_even_and_disjoint(tiles, canvas)


def test_focus_without_speaker_follows_the_floor_then_the_first_source() -> None:
    assert resolve(Layout("focus"), HD, ids(4), None, "cam2")[0].source_id == "cam2"
    assert resolve(Layout("focus"), HD, ids(4), None, None)[0].source_id == "cam0"
    pinned = Layout("focus", main="cam3")
    assert resolve(pinned, HD, ids(4), "cam1", None)[0].source_id == "cam3"


@pytest.mark.parametrize("canvas", [HD, UHD], ids=["1080p", "2160p"])
@pytest.mark.parametrize("n", [1, 4, 9, 16])
def test_pip_fills_the_canvas_with_up_to_three_insets_bottom_right(canvas: Canvas, n: int) -> None:
    tiles = resolve(Layout("pip"), canvas, ids(n), None, None)
    W, H = canvas.width, canvas.height
    assert rects(tiles)[0] == (0, 0, W, H)
    insets = tiles[1:]
    assert len(insets) == min(n - 1, 3)
    iw, ih, margin = W // 4, H // 4, (min(W, H) // 40) & ~1
    for i, t in enumerate(insets):
        assert (t.x, t.y, t.w, t.h) == (W - (i + 1) * (iw + margin), H - ih - margin, iw, ih)
    assert_inside_even_and_disjoint(tiles, canvas)


@pytest.mark.parametrize("canvas", [HD, UHD], ids=["1080p", "2160p"])
def test_custom_regions_bind_ids_speaker_and_floor(canvas: Canvas) -> None:
    wall = parse_wall(
        {
            "canvas": {"width": canvas.width, "height": canvas.height, "fps": 30},
            "layout": {
                "kind": "custom",
                "regions": [
                    {"x": 0, "y": 0, "w": 1281, "h": 721, "source": "speaker"},
                    {"x": 1281, "y": 0, "w": 639, "h": 360, "source": "floor", "label": "指挥长"},
                    {"x": 1280, "y": 360, "w": 640, "h": 360, "source": "unknown-cam"},
                ],
            },
        }
    )
    tiles = resolve(wall.layout, wall.canvas, ids(4), "cam1", "cam2", names={"cam1": "消防一队"})
    assert rects(tiles) == [(0, 0, 1280, 720), (1280, 0, 640, 360), (1280, 360, 640, 360)]
    assert [t.source_id for t in tiles] == ["cam1", "cam2", "unknown-cam"]
    assert [t.label for t in tiles] == ["消防一队", "指挥长", "unknown-cam"]
    assert [t.talking for t in tiles] == [True, False, False]
    assert [t.highlight for t in tiles] == [False, True, False]
    # Nobody talking: the speaker region is unbound (the slate), not an error.
    assert resolve(wall.layout, wall.canvas, ids(4), None, None)[0].source_id is None


def test_a_full_wall_with_outputs_parses() -> None:
    wall = parse_wall(
        {
            "canvas": {"width": 7680, "height": 2160, "fps": 50},
            "layout": {"kind": "grid-16"},
            "room": "command",
            "outputs": [
                {"kind": "srt", "url": "srt://led1:9000", "region": [0, 0, 3840, 2160]},
                {"kind": "srt", "url": "srt://led2:9000", "region": [3840, 0, 3840, 2160]},
                {"kind": "whep"},
            ],
        }
    )
    assert wall.canvas == Canvas(7680, 2160, 50.0)
    assert [o.region for o in wall.outputs] == [
        (0, 0, 3840, 2160),
        (3840, 0, 3840, 2160),
        (0, 0, 7680, 2160),
    ]
    assert wall.room == "command"


GOOD_CANVAS = {"width": 1920, "height": 1080, "fps": 25}


@pytest.mark.parametrize(
    "wall,message",
    [
        ({"canvas": {**GOOD_CANVAS, "width": 8000}, "layout": {"kind": "grid"}}, "canvas.width"),
        ({"canvas": {**GOOD_CANVAS, "height": 0}, "layout": {"kind": "grid"}}, "canvas.height"),
        ({"canvas": {**GOOD_CANVAS, "width": 1921}, "layout": {"kind": "grid"}}, "even"),
        ({"canvas": {**GOOD_CANVAS, "fps": 120}, "layout": {"kind": "grid"}}, "canvas.fps"),
        ({"canvas": {**GOOD_CANVAS, "fps": 0}, "layout": {"kind": "grid"}}, "canvas.fps"),
        ({"canvas": {**GOOD_CANVAS, "width": "1920"}, "layout": {"kind": "grid"}}, "integer"),
        ({"canvas": GOOD_CANVAS, "layout": {"kind": "mosaic"}}, "unknown layout.kind 'mosaic'"),
        ({"canvas": GOOD_CANVAS, "layout": {"kind": "grid-0"}}, "1 to 64 cells"),
        ({"canvas": GOOD_CANVAS, "layout": {"kind": "custom"}}, "non-empty layout.regions"),
        (
            {
                "canvas": GOOD_CANVAS,
                "layout": {
                    "kind": "custom",
                    "regions": [{"x": 1000, "y": 0, "w": 1000, "h": 100, "source": "a"}],
                },
            },
            "layout.regions[0] (1000,0 1000x100) lies outside the 1920x1080 canvas",
        ),
        (
            {
                "canvas": GOOD_CANVAS,
                "layout": {"kind": "custom", "regions": [{"x": 0, "y": 0, "w": 10, "h": 10}]},
            },
            "layout.regions[0].source",
        ),
        (
            {
                "canvas": GOOD_CANVAS,
                "layout": {"kind": "grid"},
                "outputs": [{"kind": "rtmp", "url": "rtmp://x/y", "region": [960, 0, 1920, 1080]}],
            },
            "outputs[0].region (960,0 1920x1080) lies outside the 1920x1080 canvas",
        ),
        (
            {"canvas": GOOD_CANVAS, "layout": {"kind": "grid"}, "outputs": [{"kind": "hls"}]},
            "outputs[0].kind must be one of rtmp, srt, rtp, whep",
        ),
        (
            {"canvas": GOOD_CANVAS, "layout": {"kind": "grid"}, "outputs": [{"kind": "rtmp"}]},
            "outputs[0].url is required",
        ),
        (
            {
                "canvas": GOOD_CANVAS,
                "layout": {"kind": "grid"},
                "outputs": [{"kind": "rtmp", "url": "srt://led:9000"}],
            },
            "outputs[0].url: a rtmp output needs a rtmp:// or rtmps:// url",
        ),
        (
            {
                "canvas": GOOD_CANVAS,
                "layout": {"kind": "grid"},
                "outputs": [{"kind": "rtp", "url": "rtp://127.0.0.1"}],
            },
            "an rtp url needs a port",
        ),
        (
            {"canvas": GOOD_CANVAS, "layout": {"kind": "grid"}, "outputs": [{"kind": "whep"}]},
            "a whep output needs the wall's room",
        ),
        (
            {"canvas": GOOD_CANVAS, "layout": {"kind": "grid"}, "room": 7},
            "room must be a room name",
        ),
        (
            {
                "canvas": GOOD_CANVAS,
                "layout": {"kind": "grid"},
                "outputs": [{"kind": "rtp", "url": "rtp://x:5004", "region": [1, 0, 100, 100]}],
            },
            "even",
        ),
        ({"layout": {"kind": "grid"}}, "canvas must be an object"),
    ],
)
def test_bad_definitions_are_refused_with_a_message_naming_the_field(
    wall: object, message: str
) -> None:
    with pytest.raises(LayoutError) as caught:
        parse_wall(wall)
    assert message in str(caught.value)


# Found by `bench fuzz` (the api-bodies target): definitions the API kept and then could not
# send back (Starlette writes JSON with allow_nan=False, as UTF-8), so PUT and every later GET
# of the wall answered 500.
UNSENDABLE_WALLS = [
    '{"canvas": {"width": 3840, "height": 1080, "fps": 25}, "layout": {"kind": "grid", '
    '"regions": []}, "outquts": [{"x": "x\\udfff", "y": 0, "width": 1920, "height": 1080}], '
    '"room": "incident-7"}',
    '{"canvas": {"width": 3840, "height": 1080, "fps": 25}, "layout": {"kind": "grid", '
    '"regions": []}, "outquts": "x\\udfff", "\\ud800": NaN}',
    '{"canvas": {"width": 1920, "height": 1080}, "layout": {"kind": "grid", "x": Infinity}}',
]


@pytest.mark.parametrize("text", UNSENDABLE_WALLS, ids=["surrogate", "surrogate-nan", "inf"])
def test_a_definition_that_cannot_be_sent_back_is_refused(text: str) -> None:
    with pytest.raises(LayoutError, match="finite numbers and Unicode text"):
        parse_wall(json.loads(text))
