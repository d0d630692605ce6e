"""One-to-one calls (单呼) with real phones (pjsua2, registered users), in both modes (rooms on
media workers, and rooms in the server process): both parties hear each other by tone, a
dispatcher barges in (强插) and is heard by both, DELETE hangs both up (强拆), one side hanging
up ends the call, a participant already in a room is moved in and back, and bad requests get
clear errors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("pjsua2", exc_type=ImportError)

from bench.serverproc import ServerProcess  # noqa: E402
from mediacore.audio import tone, tone_levels_by_block  # noqa: E402
from tests.interop.phone import Phone, PhoneError  # noqa: E402
from tests.interop.test_sip_calls import (  # noqa: E402, F401  (fixtures)
    CONFIG,
    HEARD_DB,
    SKIP_SECONDS,
    TONE_DBFS,
    Room,
    RoomEvents,
    assert_hears,
    assert_stopped_cleanly,
    hang_up,
    make_room,
    phones,
    record,
    wait_for,
    wavs,
)
from tests.webrtc.test_webrtc_e2e import rtp_leg  # noqa: E402

pytestmark = pytest.mark.slow

EXPERT = "expert-token-for-call-tests"
CALL_CONFIG = CONFIG + f'\n[[auth.tokens]]\ntoken = "{EXPERT}"\nrole = "expert"\n'


# Media workers are the default users run; in the single-process mode the calls' rooms are in
# the server process (rooms.LocalRooms): the first two tests run there too. Moves of phones,
# legs and radio gateways in that mode: tests/e2e/test_move.py and tests/interop/test_sip_move.py.
WORKERS_ONLY = pytest.mark.parametrize("server", [2], ids=["workers"], indirect=True)


@pytest.fixture(scope="module", params=[2, 0], ids=["workers", "single-process"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    process = ServerProcess(
        tmp_path_factory.mktemp(f"calls-{request.param}"),
        config=CALL_CONFIG,
        workers=request.param,
    )
    try:
        yield process
    finally:
        assert_stopped_cleanly(process)


@pytest.fixture
def events(server: ServerProcess) -> Iterator[RoomEvents]:
    stream = RoomEvents(server.events_url())
    yield stream
    stream.close()


def median_level(pcm: Any, rate: int, frequency: float) -> float:
    """The median 100 ms level of `frequency` after the jitter buffer's start."""
    blocks = tone_levels_by_block(pcm[int(SKIP_SECONDS * rate) :], frequency, rate, 0.1)
    return float(np.median(blocks))


def answering(phone: Phone, wav: Path) -> None:
    phone.cmd("auto_answer", code=200, delay_ms=200, play=str(wav))


def incoming(phone: Phone, since: int = 0) -> int:
    call = int(phone.wait_event(lambda e: e["event"] == "incoming", 5, since)["call"])
    phone.wait_call_state(call, "CONFIRMED", 5, since)
    phone.wait_media(call, "ACTIVE", 5, since)
    return call


def start_call(server: ServerProcess, a: str, b: str) -> dict[str, Any]:
    response = server.client.post("/api/v1/calls", json={"a": a, "b": b})
    assert response.status_code == 201, response.text
    return dict(response.json())


def party_states(server: ServerProcess, call: str) -> list[str]:
    return [p["state"] for p in server.client.get(f"/api/v1/calls/{call}").json()["parties"]]


async def test_two_phones_talk_a_dispatcher_barges_in_and_delete_hangs_both_up(
    server: ServerProcess,
    events: RoomEvents,
    phones: Callable[..., Phone],  # noqa: F811
    make_room: Callable[..., Room],  # noqa: F811
    wavs: dict[int, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    alice, bob = phones("alice"), phones("bob")
    answering(alice, wavs[440])
    answering(bob, wavs[1600])
    call = start_call(server, "alice", "sip:bob@127.0.0.1")
    cid, room = call["id"], call["room"]
    assert room.startswith("call-") and [p["kind"] for p in call["parties"]] == ["sip", "sip"]
    a_call, b_call = incoming(alice), incoming(bob)
    wait_for(lambda: party_states(server, cid) == ["answered", "answered"], 5, "both answered")
    summary = server.client.get(f"/api/v1/rooms/{room}").json()
    assert summary["call"] == cid and summary["participants"] == 2
    assert events.wait("call.started", id=cid)["room"] == room
    assert {e["state"] for e in events.of("call.party", id=cid)} >= {"dialling", "answered"}
    a_heard = record(alice, a_call, tmp_path / "a.wav", 2.0)
    b_heard = record(bob, b_call, tmp_path / "b.wav", 2.0)
    assert_hears(*a_heard, 1600.0, 440.0)
    assert_hears(*b_heard, 440.0, 1600.0)

    # 强插: a dispatcher's leg in its own room is moved in and heard by both.
    ops = make_room()
    dispatcher, dispatcher_id = await rtp_leg(server, ops.name, "dispatcher")
    barged = server.client.post(f"/api/v1/calls/{cid}/barge", json={"participant": dispatcher_id})
    assert barged.status_code == 200, barged.text
    assert (barged.json()["kind"], barged.json()["from"]) == ("barge", ops.name)
    entry = {p["id"]: p for p in server.roster(room)}[dispatcher_id]
    assert entry["priority"] == 2
    playing = dispatcher.play(dispatcher.packetize(tone(1000.0, 2.5, 8000, TONE_DBFS)))
    task = asyncio.ensure_future(playing)
    await asyncio.sleep(0.3)
    a_heard, b_heard = await asyncio.gather(
        asyncio.to_thread(record, alice, a_call, tmp_path / "a2.wav", 1.8),
        asyncio.to_thread(record, bob, b_call, tmp_path / "b2.wav", 1.8),
    )
    await task
    for heard, other in ((a_heard, 1600.0), (b_heard, 440.0)):  # the dispatcher and the other
        for frequency in (1000.0, other):
            assert median_level(*heard, frequency) == pytest.approx(TONE_DBFS, abs=HEARD_DB)

    # 强拆: both phones are hung up, the dispatcher goes back to its room, the room closes.
    a_since, b_since = alice.mark(), bob.mark()
    ended = server.client.delete(f"/api/v1/calls/{cid}")
    assert ended.status_code == 204, ended.text
    alice.wait_call_state(a_call, "DISCONNECTED", 5, a_since)
    bob.wait_call_state(b_call, "DISCONNECTED", 5, b_since)
    assert events.wait("call.ended", id=cid)["reason"] == "ended"
    assert server.client.get(f"/api/v1/rooms/{room}").status_code == 404
    assert dispatcher_id in {p["id"] for p in ops.roster()}
    final = server.client.get(f"/api/v1/calls/{cid}").json()
    assert final["state"] == "ended" and [p["state"] for p in final["parties"]] == ["left"] * 3
    listed = server.client.get("/api/v1/calls/private").json()
    assert cid in {c["id"] for c in listed}
    assert server.client.delete(f"/api/v1/calls/{cid}").status_code == 204  # ended: stays so
    dispatcher.close()


async def test_one_side_hanging_up_ends_the_call_and_a_moved_party_goes_back(
    server: ServerProcess,
    events: RoomEvents,
    phones: Callable[..., Phone],  # noqa: F811
    make_room: Callable[..., Room],  # noqa: F811
    wavs: dict[int, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    ops = make_room()
    leg, leg_id = await rtp_leg(server, ops.name, "field-unit")
    bob = phones("bob")
    answering(bob, wavs[1600])
    call = start_call(server, leg_id, "bob")
    cid, room = call["id"], call["room"]
    assert call["parties"][0] == {
        "party": leg_id,
        "kind": "participant",
        "participant": leg_id,
        "state": "answered",
        "from": ops.name,
        "reason": None,
    }
    b_call = incoming(bob)
    wait_for(lambda: party_states(server, cid) == ["answered", "answered"], 5, "bob answered")
    assert leg_id not in {p["id"] for p in ops.roster()}
    task = asyncio.ensure_future(leg.play(leg.packetize(tone(440.0, 2.5, 8000, TONE_DBFS))))
    await asyncio.sleep(0.3)
    b_heard = await asyncio.to_thread(record, bob, b_call, tmp_path / "b.wav", 1.8)
    await task
    assert_hears(*b_heard, 440.0, 1600.0)

    hang_up(bob, b_call)  # one side leaves: the call ends, the leg goes back to its room
    assert events.wait("call.ended", id=cid)["reason"] == "hangup"
    wait_for(
        lambda: leg_id in {p["id"] for p in ops.roster()}, 5, "the field unit back in its room"
    )
    wait_for(
        lambda: server.client.get(f"/api/v1/rooms/{room}").status_code == 404, 5, "room closed"
    )
    assert party_states(server, cid) == ["left", "left"]
    leg.close()


@WORKERS_ONLY
async def test_bad_call_requests_get_clear_errors(
    server: ServerProcess,
    phones: Callable[..., Phone],  # noqa: F811
    make_room: Callable[..., Room],  # noqa: F811
) -> None:
    ops = make_room()
    leg, leg_id = await rtp_leg(server, ops.name, "unit")
    cases = [
        ({"a": "alice", "b": "not a party!"}, 400, "bad-party"),
        ({"a": "p-00000000aa", "b": "alice"}, 404, "unknown-party"),
        ({"a": "radio:nowhere", "b": "alice"}, 404, "unknown-gateway"),
        ({"a": "12345", "b": leg_id}, 404, "no-trunk"),
        ({"a": "mallory", "b": leg_id}, 404, "unknown-user"),
        ({"a": leg_id, "b": leg_id}, 400, "bad-party"),
        ({"a": leg_id, "b": "carol"}, 404, "not-registered"),
    ]
    for body, status, code in cases:
        answer = server.client.post("/api/v1/calls", json=body)
        assert (answer.status_code, answer.json().get("error")) == (status, code), (
            body,
            answer.text,
        )
    # The refused call moved the leg back: it is where it was.
    wait_for(lambda: leg_id in {p["id"] for p in ops.roster()}, 3, "the leg in its room")
    assert server.client.post("/api/v1/calls", json={"a": "alice"}).status_code == 422
    assert server.client.delete("/api/v1/calls/c-00000000").status_code == 404
    assert server.client.get("/api/v1/calls/c-00000000").status_code == 404
    expert = {"Authorization": f"Bearer {EXPERT}"}
    refused = server.client.post("/api/v1/calls", json={"a": "alice", "b": "bob"}, headers=expert)
    assert refused.status_code == 403
    assert not [
        c for c in server.client.get("/api/v1/calls/private").json() if c["state"] == "active"
    ]
    leg.close()


def test_a_private_call_with_a_radio_gateway_borrows_it_from_its_room(
    tmp_path: Path,
    wavs: dict[int, Path],  # noqa: F811
) -> None:
    """A configured gateway (a pjsua2 phone standing in for it: it answers the radio INVITE
    and sends plain audio) is moved from its room into the call and back, never redialled."""
    with Phone(user="radio") as radio, Phone(user="alice") as alice:
        radio.cmd("codecs", order=["PCMU"], only=True)
        radio.cmd("auto_answer", code=200, play=str(wavs[1600]))
        config = CALL_CONFIG + (
            f'\n[[rooms]]\nname = "tower"\n\n[[radio.gateways]]\nname = "grs-1"\n'
            f'uri = "sip:radio@127.0.0.1:{radio.sip_port}"\nroom = "tower"\nmode = "txrx"\n'
        )
        server = ServerProcess(tmp_path / "server", config=config, workers=2)
        try:
            gateway = wait_for(
                lambda: next((p for p in server.roster("tower") if p["kind"] == "radio"), None),
                10,
                "the gateway in its room",
            )
            radio_call = incoming(radio)
            alice.cmd("codecs", order=["PCMU"], only=True)
            since = alice.mark()
            alice.cmd(
                "account",
                user="alice",
                password="alice-pw",
                registrar=f"sip:127.0.0.1:{server.sip_port}",
                register=True,
            )
            alice.wait_event(lambda e: e["event"] == "reg" and e["code"] == 200, 5, since)
            answering(alice, wavs[440])
            call = start_call(server, "radio:grs-1", "alice")
            assert call["parties"][0]["participant"] == gateway["id"]
            a_call = incoming(alice)
            room = call["room"]
            assert gateway["id"] in {p["id"] for p in server.roster(room)}
            assert server.roster("tower") == []
            # The radio hears only the floor holder: alice takes the floor and is heard.
            alice_id = call_participant(server, call["id"], 1)
            granted = server.client.post(
                f"/api/v1/rooms/{room}/floor", json={"participant": alice_id, "action": "request"}
            )
            assert granted.json()["result"] == "granted", granted.text
            heard = record(radio, radio_call, tmp_path / "radio.wav", 2.0)
            assert_hears(*heard, 440.0, 1600.0)
            attempts = gateways(server)[0]["attempts"]
            a_since = alice.mark()
            assert server.client.delete(f"/api/v1/calls/{call['id']}").status_code == 204
            alice.wait_call_state(a_call, "DISCONNECTED", 5, a_since)
            wait_for(
                lambda: [p["id"] for p in server.roster("tower")] == [gateway["id"]],
                5,
                "the gateway back in its room",
            )
            with pytest.raises(PhoneError):  # its call carries on: no hang-up, no redial
                radio.wait_call_state(radio_call, "DISCONNECTED", 2.5, radio.mark())
            assert gateways(server)[0]["attempts"] == attempts
        finally:
            assert_stopped_cleanly(server)


def call_participant(server: ServerProcess, call: str, index: int) -> str:
    return str(
        wait_for(
            lambda: server.client.get(f"/api/v1/calls/{call}").json()["parties"][index][
                "participant"
            ],
            5,
            "the party's participant",
        )
    )


def gateways(server: ServerProcess) -> list[dict[str, Any]]:
    return list(server.client.get("/api/v1/registrations").json()["radio_gateways"])
