"""Parking and pick-up (tests/e2e/test_parking.py) in the single-process mode."""

from __future__ import annotations

from tests.e2e.test_parking import (
    pytestmark,
    test_a_parked_call_hears_music_and_is_picked_up_into_another_room,
)

SERVER_ENV = {"MEDIACORE_RTP_TIMEOUT": "3", "MEDIACORE_SERVER_WORKERS": "0"}

__all__ = ["pytestmark", "test_a_parked_call_hears_music_and_is_picked_up_into_another_room"]
