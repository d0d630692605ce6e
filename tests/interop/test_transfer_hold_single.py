"""Hold and transfer tests of test_transfer_hold.py against a server in the single-process mode
(`[server] workers = 0`): rooms, legs and hold music in the server process itself.

What differs from the worker mode is the room side: a leg leaving and rejoining the mix, music
on hold played in this process, a call's leg taken over by the call that replaces it. Those
tests run here; the other transfers differ only in their SIP (the same in both modes), their
room side being a dial-out into the room (test_group_dial.py runs one in this mode too)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("pjsua2", exc_type=ImportError)

from bench.serverproc import ServerProcess  # noqa: E402
from tests.interop.test_sip_calls import CONFIG, make_room, phones, serving, wavs  # noqa: E402
from tests.interop.test_transfer_hold import (  # noqa: E402  (collected here again)
    stack,
    test_a_dispatcher_hold_plays_music_to_the_phone_and_resume_brings_the_room_back,
    test_a_phone_that_holds_leaves_the_mix_and_comes_back_on_resume,
    test_an_attended_transfer_invite_with_replaces_takes_over_the_call,
)

pytestmark = pytest.mark.slow
FIXTURES = (make_room, phones, wavs, stack)  # taken by name by the tests collected here
TESTS = (
    test_a_dispatcher_hold_plays_music_to_the_phone_and_resume_brings_the_room_back,
    test_a_phone_that_holds_leaves_the_mix_and_comes_back_on_resume,
    test_an_attended_transfer_invite_with_replaces_takes_over_the_call,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with serving(
        tmp_path_factory.mktemp("transfer-single"), CONFIG, MEDIACORE_SERVER_WORKERS="0"
    ) as process:
        yield process
