"""Plans (预案) with real phones: one request dials a whole group into a room.

pjsua2 phones registered as users answer, answer busy then answer the retry, ring unanswered,
or are not registered at all; a member already in the room is not called again. The event
sequence is read on the room's WebSocket, what answered members hear in the room is measured,
a ringing group dial is cancelled, a radio gateway (sipp, ED-137) is a member, and bad requests
get their 4xx. Run against a server with media workers; the first test also against one
without (rooms in the server process), the dialling itself being the same in both."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("pjsua2", exc_type=ImportError)

from bench.serverproc import ServerProcess  # noqa: E402
from bench.sipprun import sipp_available, start_sipp  # noqa: E402
from tests.interop.phone import Phone  # noqa: E402
from tests.interop.test_sip_calls import (  # noqa: E402, F401  (fixtures used by name)
    CONFIG,
    Room,
    RoomEvents,
    assert_hears,
    dial_in,
    hang_up,
    make_room,
    phones,
    record,
    serving,
    wait_for,
    wavs,
)

pytestmark = pytest.mark.slow

ERIN = "erin-pw"
PLANS_CONFIG = (
    CONFIG
    + f"""
[[sip.users]]
user = "erin"
password = "{ERIN}"
role = "operator"
"""
)
RING_S = 2.0  # the groups' ring timeout
Event = dict[str, Any]


WORKERS_ONLY = pytest.mark.parametrize("server", ["workers"], indirect=True)


@pytest.fixture(scope="module", params=["workers", "single-process"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    workers = "2" if request.param == "workers" else "0"
    folder = tmp_path_factory.mktemp(f"plans-{request.param}")
    with serving(folder, PLANS_CONFIG, MEDIACORE_SERVER_WORKERS=workers) as process:
        yield process


def login(server: ServerProcess, user: str, password: str) -> httpx.Client:
    """An API client with the session token of `user` (its [[sip.users]] role)."""
    response = server.client.post("/api/v1/login", json={"user": user, "password": password})
    assert response.status_code == 200, response.text
    token = response.json()["token"]
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"})


def progress(room: Room, job: str, party: str) -> list[str]:
    return [e["state"] for e in room.events.of("dial.progress", job=job, party=party)]


def incoming(phone: Phone) -> list[int]:
    return [int(e["call"]) for e in phone.events if e["event"] == "incoming"]


def test_a_group_is_dialled_at_once_with_retries_and_the_answered_hear_the_room(
    server: ServerProcess,
    make_room: Callable[..., Room],  # noqa: F811  (the fixtures imported above)
    phones: Callable[..., Phone],  # noqa: F811
    wavs: dict[int, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    room = make_room()
    alice = phones("alice")  # already in the room, playing a tone: never called
    bob = phones("bob")  # busy, then answers the retry
    carol = phones("carol")  # answers after ringing a moment
    erin = phones("erin", password=ERIN)  # rings and never answers
    # dave is a configured user that never registered: fails on every attempt
    a_call = dial_in(alice, room)
    alice.cmd("play", call=a_call, wav=str(wavs[1000]))
    bob.cmd("auto_answer", code=486)
    carol.cmd("auto_answer", code=200, delay_ms=300)
    erin.cmd("auto_answer", code=None)

    commander = login(server, "alice", "alice-pw")  # commanders define groups
    members = ["alice", "bob", "carol", "dave", "erin"]
    body = {"members": members, "retries": 1, "retry_delay_s": 2, "ring_timeout_s": RING_S}
    put = commander.put("/api/v1/groups/first-response", json=body)
    assert put.status_code == 201, put.text

    operator = login(server, "bob", "bob-pw")  # operators dial them
    response = operator.post(f"/api/v1/rooms/{room.name}/dial", json={"group": "first-response"})
    assert response.status_code == 202, response.text
    job = response.json()["id"]
    assert [m["party"] for m in response.json()["members"]] == members

    busy = room.events.wait("dial.progress", job=job, party="bob", state="busy")
    assert busy["attempt"] == 1 and busy["status"] == 486
    bob.cmd("auto_answer", code=200, delay_ms=300)  # the retry comes 2 s later
    finished = room.events.wait("dial.finished", job=job, timeout=4 * RING_S + 10)
    assert finished["summary"] == {"answered": 3, "failed": 1, "no-answer": 1}, finished

    assert progress(room, job, "alice") == ["answered"]
    assert [p for p in progress(room, job, "bob")] == [
        "dialling",
        "busy",
        "retrying",
        "dialling",
        "ringing",
        "answered",
    ]
    assert progress(room, job, "carol") == ["dialling", "ringing", "answered"]
    assert progress(room, job, "erin") == [
        "dialling",
        "ringing",
        "no-answer",
        "retrying",
        "dialling",
        "ringing",
        "no-answer",
    ]
    assert progress(room, job, "dave") == ["dialling", "failed", "retrying", "dialling", "failed"]
    started = room.events.wait("dial.started", job=job)
    assert started["by"] and started["group"] == "first-response"
    types = [e["type"] for e in room.events.all() if e.get("job") == job]
    assert types[0] == "dial.started" and types[-1] == "dial.finished"

    state = server.client.get(f"/api/v1/rooms/{room.name}/dials/{job}").json()
    members_now = {m["party"]: m for m in state["members"]}
    assert state["state"] == "finished"
    assert members_now["alice"]["already"] and members_now["alice"]["attempt"] == 0
    assert members_now["bob"]["attempt"] == 2 and members_now["dave"]["reason"] == "not-registered"
    roster = {p["id"]: p for p in room.roster()}
    answered = {members_now[name]["participant"] for name in ("alice", "bob", "carol")}
    assert set(roster) == answered
    assert incoming(alice) == [] and len(incoming(erin)) == 2  # alice never called

    # Those who answered are in the room: they hear alice's tone.
    b_call, c_call = incoming(bob)[-1], incoming(carol)[-1]
    assert len(incoming(bob)) == 2
    assert_hears(*record(bob, b_call, tmp_path / "bob.wav", 2.0), 1000.0)
    assert_hears(*record(carol, c_call, tmp_path / "carol.wav", 2.0), 1000.0)
    for phone, call in ((alice, a_call), (bob, b_call), (carol, c_call)):
        hang_up(phone, call)
    wait_for(lambda: room.roster() == [], 5, "the room to empty")


@WORKERS_ONLY
def test_cancelling_a_group_dial_hangs_up_what_rings(
    server: ServerProcess,
    make_room: Callable[..., Room],  # noqa: F811
    phones: Callable[..., Phone],  # noqa: F811
) -> None:
    room = make_room()
    erin = phones("erin", password=ERIN)
    erin.cmd("auto_answer", code=None)  # rings until cancelled
    body = {"members": ["erin"], "retries": 3, "ring_timeout_s": 30}
    assert server.client.put("/api/v1/groups/ringing", json=body).status_code in (200, 201)
    response = server.client.post(f"/api/v1/rooms/{room.name}/dial", json={"group": "ringing"})
    assert response.status_code == 202, response.text
    job = response.json()["id"]
    room.events.wait("dial.progress", job=job, party="erin", state="ringing")
    (call,) = incoming(erin)
    since = erin.mark()
    cancelled = server.client.delete(f"/api/v1/rooms/{room.name}/dials/{job}")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["members"][0]["state"] == "cancelled"
    assert erin.wait_call_state(call, "DISCONNECTED", 5, since)["code"] == 487
    finished = room.events.wait("dial.finished", job=job)  # after every dial.progress
    assert finished["cancelled"] and finished["summary"] == {"cancelled": 1}
    assert progress(room, job, "erin") == ["dialling", "ringing", "cancelled"]
    wait_for(lambda: room.roster() == [], 5, "the cancelled call to leave")
    time.sleep(0.5)
    assert len(incoming(erin)) == 1  # no retry after a cancel


@WORKERS_ONLY
def test_bad_group_requests_get_their_4xx(
    server: ServerProcess,
    make_room: Callable[..., Room],  # noqa: F811
) -> None:
    room = make_room()
    operator = login(server, "bob", "bob-pw")
    refused = operator.put("/api/v1/groups/mine", json={"members": ["alice"]})
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    missing = operator.post(f"/api/v1/rooms/{room.name}/dial", json={"group": "no-such-plan"})
    assert missing.status_code == 404 and missing.json()["error"] == "group-not-found"
    bad = server.client.put("/api/v1/groups/bad", json={"members": ["alice", "mallory"]})
    assert bad.status_code == 400 and bad.json()["error"] == "bad-members"
    assert "mallory" in bad.json()["detail"]
    assert room.events.of("dial.started") == [] and room.roster() == []


@pytest.mark.skipif(not sipp_available(), reason="sipp is not installed")
def test_a_radio_gateway_member_is_called_as_a_radio_leg(tmp_path: Path) -> None:
    radio = start_sipp("uas_radio_answer", workdir=tmp_path / "sipp", calls=1, timeout=30.0)
    config = f"""
[[rooms]]
name = "incident"

[[radio.gateways]]
name = "tower"
uri = "sip:radio@127.0.0.1:{radio.local_port}"
room = "tower-home"
priority = 2

[[dispatch.groups]]
name = "radios"
members = ["radio:tower"]
retries = 0
"""
    with serving(tmp_path / "server", config) as server:
        listed = server.client.get("/api/v1/groups/radios").json()
        assert listed["source"] == "config"
        edit = server.client.put("/api/v1/groups/radios", json={"members": ["radio:tower"]})
        assert edit.status_code == 409
        events = RoomEvents(server.events_url("incident"))
        try:
            response = server.client.post("/api/v1/rooms/incident/dial", json={"group": "radios"})
            assert response.status_code == 202, response.text
            job = response.json()["id"]
            events.wait("dial.finished", job=job, timeout=10)
            states = [e["state"] for e in events.of("dial.progress", job=job)]
            assert states == ["dialling", "ringing", "answered"]
            (entry,) = server.roster("incident")
            assert entry["kind"] == "radio" and entry["name"] == "tower"
            assert entry["priority"] == 2 and entry["radio"] == "ed137"
            kicked = server.client.delete(f"/api/v1/rooms/incident/participants/{entry['id']}")
            assert kicked.status_code == 204
        finally:
            events.close()
        result = radio.wait(15)
        assert result.ok, result.describe()
