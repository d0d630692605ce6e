"""The same real phones (pjsua2) against a server whose rooms run in two media workers, with a
room grown onto both: SIP dialogs stay in the server process, each call's media leg runs in the
worker of its room's shard, and what every phone hears is measured as in test_sip_calls.py."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pjsua2", exc_type=ImportError)

from bench.serverproc import ServerProcess  # noqa: E402
from mediacore.audio import tone_levels_by_block  # noqa: E402
from tests.interop.phone import Phone, PhoneError  # noqa: E402
from tests.interop.test_sip_calls import (  # noqa: E402, F401  (collected here again)
    CONFIG,
    HEARD_DB,
    TONE_DBFS,
    Room,
    assert_hears,
    dial_in,
    hang_up,
    make_room,
    phones,
    record,
    steady,
    test_dial_out_to_a_registered_phone_that_answers_then_kick_hangs_it_up,
    test_hold_stops_the_audio_to_the_phone_and_resume_brings_it_back,
    test_pin_room_prompts_admits_the_right_pin_and_hangs_up_after_three_wrong_ones,
    test_rfc2833_and_sip_info_digits_become_dtmf_events,
    test_two_registered_phones_hear_each_other_across_codecs_and_never_themselves,
    wait_for,
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
        errors = [line for line in log.splitlines() if '"level": "error"' in line]
        # The one error a test here causes on purpose: the worker it kills.
        assert all('"child process died"' in line for line in errors), log[-4000:]


def test_calls_carry_on_through_a_killed_worker_by_re_invite(
    make_room: Callable[..., Room],  # noqa: F811  (the fixtures imported above)
    phones: Callable[..., Phone],  # noqa: F811
    wavs: dict[int, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    room, other = make_room(), make_room()
    alice, bob, carol = phones("alice"), phones("bob"), phones("carol")
    a_call, b_call = dial_in(alice, room), dial_in(bob, room)
    c_call = dial_in(carol, other)
    alice.cmd("play", call=a_call, wav=str(wavs[440]))
    bob.cmd("play", call=b_call, wav=str(wavs[1000]))
    carol.cmd("play", call=c_call, wav=str(wavs[1600]))
    on = {entry["user"]: entry for entry in room.roster()}
    # Alice also monitors the other room, 6 dB down: her worker keeps the relay, and the
    # monitor must come back with her call.
    monitored = room.server.client.patch(
        f"/api/v1/rooms/{room.name}/participants/{on['alice']['id']}",
        json={"monitor": [{"room": other.name, "gain_db": -6}]},
    )
    assert monitored.status_code == 200, monitored.text
    assert on["alice"]["worker"] != on["bob"]["worker"]  # one leg per shard
    workers = room.server.client.get("/api/v1/workers").json()
    victim = next(w for w in workers if w["id"] == on["alice"]["worker"])
    since = alice.mark()
    killed_at = time.monotonic()
    os.kill(victim["pid"], signal.SIGKILL)
    # The server re-INVITEs alice to a new leg on the restarted worker: the same participant
    # joins again and the call never drops.
    room.events.wait("participant.left", participant=on["alice"]["id"], reason="worker-lost")
    rejoined = room.events.wait("room.restored", timeout=5.0)
    assert rejoined["worker"] == victim["id"]
    wait_for(
        lambda: any(p["id"] == on["alice"]["id"] for p in room.roster()),
        5.0 - (time.monotonic() - killed_at),
        "alice's call back in its room within 5 s of the kill",
    )
    alice.wait_media(a_call, "ACTIVE", 5, since)  # the re-INVITE's answer is in use
    with pytest.raises(PhoneError):
        alice.wait_call_state(a_call, "DISCONNECTED", 0.2, since)
    time.sleep(1.5)  # the phones' jitter buffers take to the new stream (SSRC, timestamps)
    a_heard = record(alice, a_call, tmp_path / "a.wav", 2.5)
    b_heard = record(bob, b_call, tmp_path / "b.wav", 2.5)
    assert_hears(*a_heard, 1000.0, 440.0)
    assert_hears(*b_heard, 440.0, 1000.0, 1600.0)
    # Carol's room through the restored monitor, at its gain.
    pcm, rate = a_heard
    levels = tone_levels_by_block(steady(pcm, rate), 1600.0, rate, block_seconds=0.1)
    monitor = float(np.median(levels))
    assert abs(monitor - (TONE_DBFS - 6)) <= HEARD_DB, f"monitored room at {monitor:.1f} dBFS"
    back = next(p for p in room.roster() if p["id"] == on["alice"]["id"])
    assert back["monitor"] == [{"room": other.name, "gain_db": -6.0}], back
    hang_up(alice, a_call)
    hang_up(bob, b_call)
    hang_up(carol, c_call)
