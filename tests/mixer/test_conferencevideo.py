"""The room's `video` setting: defaults, the wall's layout kinds, and errors that say why."""

from __future__ import annotations

import pytest

from mixer.conferencevideo import DEFAULTS, normalized, parse_conference_video
from mixer.layout import LayoutError


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
