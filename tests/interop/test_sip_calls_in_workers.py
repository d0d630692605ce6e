"""The same real phones (pjsua2) against a server whose rooms run in two media workers, with a
room grown onto both: SIP dialogs stay in the server process, each call's media leg runs in the
worker of its room's shard, and what every phone hears is measured as in test_sip_calls.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("pjsua2", exc_type=ImportError)

from bench.serverproc import ServerProcess  # noqa: E402
from tests.interop.test_sip_calls import (  # noqa: E402, F401  (collected here again)
    CONFIG,
    make_room,
    phones,
    test_dial_out_to_a_registered_phone_that_answers_then_kick_hangs_it_up,
    test_hold_stops_the_audio_to_the_phone_and_resume_brings_it_back,
    test_pin_room_prompts_admits_the_right_pin_and_hangs_up_after_three_wrong_ones,
    test_rfc2833_and_sip_info_digits_become_dtmf_events,
    test_two_registered_phones_hear_each_other_across_codecs_and_never_themselves,
    wavs,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # One leg per shard: the second phone of a room lands on the other worker.
    process = ServerProcess(
        tmp_path_factory.mktemp("sip-workers"),
        config=CONFIG,
        MEDIACORE_SERVER_WORKERS="2",
        MEDIACORE_SERVER_MAX_LEGS_PER_SHARD="1",
    )
    try:
        yield process
    finally:
        code = process.stop()
        log = process.log_path.read_text()
        assert code == 0, f"server exited {code}:\n{log[-4000:]}"
        assert '"level": "error"' not in log, log[-4000:]
