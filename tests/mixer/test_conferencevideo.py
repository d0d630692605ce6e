"""The room's `video` setting: defaults, the wall's layout kinds, and errors that say why."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mixer.conferencevideo import DEFAULTS, normalized, parse_conference_video
from mixer.layout import LayoutError
from tests.ingest.test_parsers_fuzzed import JSON


def test_defaults_fill_every_missing_key() -> None:
    assert normalized({}) == DEFAULTS
    video = normalized({"layout": {"kind": "focus"}, "width": 640, "height": 360, "fps": 10})
    parsed = parse_conference_video(video)
    assert (parsed.canvas.width, parsed.canvas.height, parsed.canvas.fps) == (640, 360, 10.0)
    assert parsed.layout.kind == "focus"


def test_one_plus_n_is_the_focus_layout() -> None:
    assert normalized({"layout": {"kind": "1+N"}})["layout"]["kind"] == "focus"


@pytest.mark.parametrize(
    ("video", "words"),
    [
        ([], "must be an object"),
        ({"colour": "red"}, "unknown keys"),
        ({"width": 3840, "height": 2160}, "at most 1920x1088"),
        ({"width": 641}, "even"),
        ({"fps": 0}, "fps"),
        ({"layout": {"kind": "spiral"}}, "unknown layout.kind"),
        ({"layout": {"kind": "custom", "regions": []}}, "regions"),
    ],
)
def test_bad_settings_say_what_is_wrong(video: object, words: str) -> None:
    with pytest.raises(LayoutError, match=words):
        normalized(video)


VIDEO_KEYS = st.fixed_dictionaries(
    {},
    optional={
        "layout": st.one_of(
            JSON,
            st.fixed_dictionaries(
                {"kind": st.one_of(JSON, st.sampled_from(["grid", "1+N", "focus", "custom"]))},
                optional={"regions": JSON, "main": JSON},
            ),
        ),
        "width": st.one_of(JSON, st.integers(-2, 4000)),
        "height": st.one_of(JSON, st.integers(-2, 3000)),
        "fps": JSON,
    },
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(JSON, VIDEO_KEYS))
def test_any_json_is_a_setting_or_a_layout_error(data: Any) -> None:
    try:
        parse_conference_video(normalized(data))
    except LayoutError:
        pass
