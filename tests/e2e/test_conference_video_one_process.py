"""The composed picture (tests/e2e/test_conference_video.py) in the single-process mode."""

from __future__ import annotations

from tests.e2e.test_conference_video import (
    pytestmark,
    test_everyone_sees_the_others_and_a_layout_switch_reaches_every_picture,
)

SERVER_ENV = {"MEDIACORE_RTP_TIMEOUT": "3", "MEDIACORE_SERVER_WORKERS": "0"}

__all__ = ["pytestmark", "test_everyone_sees_the_others_and_a_layout_switch_reaches_every_picture"]
