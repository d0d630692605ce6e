"""Real phones (pjsua2) moved between rooms without redialling, in both modes (rooms on two
media workers, and rooms in the server process): the same call hears its new room, is heard
there, and its hang-up ends it in the room it is in now."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("pjsua2", exc_type=ImportError)

from bench.serverproc import ServerProcess  # noqa: E402
from tests.interop.phone import Phone  # noqa: E402
from tests.interop.test_sip_calls import (  # noqa: E402, F401  (fixtures)
    CONFIG,
    Room,
    assert_hears,
    assert_silent,
    assert_stopped_cleanly,
    dial_in,
    hang_up,
    make_room,
    phones,
    record,
    wait_for,
    wavs,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=[2, 0], ids=["workers", "single-process"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    process = ServerProcess(
        tmp_path_factory.mktemp(f"sip-move-{request.param}"), config=CONFIG, workers=request.param
    )
    try:
        yield process
    finally:
        assert_stopped_cleanly(process)


def test_a_phone_moved_hears_its_new_room_and_hangs_up_there(
    make_room: Callable[..., Room],  # noqa: F811
    phones: Callable[..., Phone],  # noqa: F811
    wavs: dict[int, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    alpha, bravo = make_room(), make_room()
    server = alpha.server
    alice, bob, carol = phones("alice"), phones("bob"), phones("carol")
    a_call, b_call, c_call = dial_in(alice, alpha), dial_in(bob, bravo), dial_in(carol, alpha)
    alice.cmd("play", call=a_call, wav=str(wavs[440]))
    bob.cmd("play", call=b_call, wav=str(wavs[1000]))
    carol.cmd("play", call=c_call, wav=str(wavs[1600]))
    me = alpha.member("alice")
    if server.workers:
        workers = {
            r.name: server.client.get(f"/api/v1/rooms/{r.name}").json() for r in (alpha, bravo)
        }
        assert (
            workers[alpha.name]["shards"][0]["worker"] != workers[bravo.name]["shards"][0]["worker"]
        )
    a_heard = record(alice, a_call, tmp_path / "a0.wav", 1.5)
    assert_hears(*a_heard, 1600.0, 1000.0, 440.0)

    moved = server.client.post(
        f"/api/v1/rooms/{alpha.name}/participants/{me['id']}/move", json={"to": bravo.name}
    )
    assert moved.status_code == 200, moved.text
    alpha.events.wait("participant.left", participant=me["id"], reason="moved")
    bravo.events.wait("participant.moved", participant=me["id"])
    entry = bravo.member("alice")
    assert (entry["id"], entry["kind"], entry["call_id"]) == (me["id"], "sip", me["call_id"])
    a_heard = record(alice, a_call, tmp_path / "a1.wav", 2.0)
    b_heard = record(bob, b_call, tmp_path / "b1.wav", 2.0)
    c_heard = record(carol, c_call, tmp_path / "c1.wav", 2.0)
    assert_hears(*a_heard, 1000.0, 1600.0, 440.0)  # bravo's bob, not alpha's carol
    assert_hears(*b_heard, 440.0, 1000.0, 1600.0)
    assert_silent(*c_heard, 440.0, 1000.0)  # carol, alone in alpha, hears nobody
    calls = {c["user"]: c for c in server.client.get("/api/v1/calls").json()}
    assert calls["alice"]["room"] == bravo.name

    hang_up(alice, a_call)  # its BYE ends it in bravo, where it is now
    bravo.events.wait("participant.left", participant=me["id"], reason="hangup")
    wait_for(
        lambda: "alice" not in {p.get("user") for p in bravo.roster()}, 3, "alice gone from bravo"
    )
    assert {p.get("user") for p in bravo.roster()} == {"bob"}
    hang_up(bob, b_call)
    hang_up(carol, c_call)
