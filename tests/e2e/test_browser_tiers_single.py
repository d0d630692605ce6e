"""The browser tier test of test_browser_tiers.py against a server in the single-process mode
(`[server] workers = 0`): the peer's connection, its REMB and the composed picture's tiers all
in the server process itself."""

from __future__ import annotations

import pytest

from tests.e2e.test_browser_tiers import (  # (collected here again)
    test_a_browser_that_reports_a_full_link_gets_the_quarter_tier,
)

pytestmark = pytest.mark.slow
SERVER_CONFIG = "[server]\nworkers = 0\n"
TESTS = (test_a_browser_that_reports_a_full_link_gets_the_quarter_tier,)
