"""The dispatch audio tests (tests/e2e/test_dispatch_audio.py) in the single-process mode."""

from __future__ import annotations

from tests.e2e.test_dispatch_audio import (
    SERVER_CONFIG,
    pytestmark,
    test_a_broadcast_is_heard_within_a_tick_or_two_of_its_answer,
    test_a_broadcast_keys_the_radios_of_every_room_and_ends_cleanly,
    test_a_console_monitors_another_room_at_its_gain_and_transmits_into_it_on_select,
    test_a_whisper_across_shards_is_heard_only_by_its_audience,
    test_monitoring_is_refused_clearly,
)

SERVER_ENV = {"MEDIACORE_RTP_TIMEOUT": "3", "MEDIACORE_SERVER_WORKERS": "0"}

__all__ = [
    "SERVER_CONFIG",
    "pytestmark",
    "test_a_broadcast_is_heard_within_a_tick_or_two_of_its_answer",
    "test_a_broadcast_keys_the_radios_of_every_room_and_ends_cleanly",
    "test_a_console_monitors_another_room_at_its_gain_and_transmits_into_it_on_select",
    "test_a_whisper_across_shards_is_heard_only_by_its_audience",
    "test_monitoring_is_refused_clearly",
]
