"""A video terminal's composed picture (tests/e2e/test_video_terminals.py) in the
single-process mode: the leg asks the server's conferences directly, not over a channel."""

from __future__ import annotations

from tests.e2e.test_video_terminals import (
    ROOM_SETTINGS,
    pytestmark,
    test_a_terminal_sees_the_others_in_the_layout_at_its_size_never_itself,
)

SERVER_ENV = {"MEDIACORE_RTP_TIMEOUT": "3", "MEDIACORE_SERVER_WORKERS": "0"}

__all__ = [
    "ROOM_SETTINGS",
    "pytestmark",
    "test_a_terminal_sees_the_others_in_the_layout_at_its_size_never_itself",
]
