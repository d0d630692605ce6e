"""Content sharing (tests/e2e/test_content_sharing.py) in the single-process mode."""

from __future__ import annotations

from tests.e2e.test_content_sharing import (
    pytestmark,
    test_a_shared_screen_is_the_large_picture_and_a_track_until_it_stops,
)

SERVER_ENV = {"MEDIACORE_RTP_TIMEOUT": "3", "MEDIACORE_SERVER_WORKERS": "0"}

__all__ = ["pytestmark", "test_a_shared_screen_is_the_large_picture_and_a_track_until_it_stops"]
