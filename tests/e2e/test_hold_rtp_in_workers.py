"""test_hold_rtp.py's hold of a plain RTP leg with the configured music, in a media worker: the
worker maps the clip the server process decoded into the shared data directory."""

from __future__ import annotations

import pytest

from tests.e2e.test_hold_rtp import (  # noqa: F401  (collected here again)
    SERVER_CONFIG,
    test_a_held_rtp_leg_hears_the_configured_music_and_is_not_heard,
)

pytestmark = pytest.mark.slow
SERVER_ENV = {"MEDIACORE_RTP_TIMEOUT": "30", "MEDIACORE_SERVER_WORKERS": "1"}
