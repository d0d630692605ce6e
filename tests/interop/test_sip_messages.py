"""Texts (短信, SIP MESSAGE) between real phones (pjsua2) and the server, in worker mode: a
phone texts the dispatch consoles, a room (into its recording's timeline) and another phone;
the consoles text a phone, a room's phones and a phone that is off, and follow the delivery
states on the WebSocket and in the history."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

pytest.importorskip("pjsua2", exc_type=ImportError)

from bench.serverproc import ServerProcess  # noqa: E402
from tests.interop.phone import Phone  # noqa: E402
from tests.interop.test_sip_calls import CONFIG as CALLS_CONFIG  # noqa: E402
from tests.interop.test_sip_calls import (  # noqa: E402, F401  (fixtures, used by name)
    Room,
    RoomEvents,
    make_room,
    phones,
    serving,
    wait_for,
)

pytestmark = pytest.mark.slow

MESSAGE_TIMEOUT = 3  # [sip] message_timeout: a text to a phone that is off fails after this
CONFIG = CALLS_CONFIG.replace("[sip]\n", f"[sip]\nmessage_timeout = {MESSAGE_TIMEOUT}\n", 1)
TEXT = "请到二号门集合 / meet at gate 2"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with serving(tmp_path_factory.mktemp("sip-messages"), CONFIG) as process:
        yield process


@pytest.fixture
def events(server: ServerProcess) -> Iterator[RoomEvents]:
    """Every event of the server (texts to the consoles belong to no room)."""
    stream = RoomEvents(server.events_url())
    yield stream
    stream.close()


def sip_uri(server: ServerProcess, user: str) -> str:
    return f"sip:{user}@127.0.0.1:{server.sip_port}"


def text_from(phone: Phone, uri: str, text: str) -> dict[str, object]:
    """Send `text` from `phone` and wait for the final answer to it."""
    since = phone.mark()
    phone.cmd("message", uri=uri, text=text)
    return phone.wait_event(lambda e: e["event"] == "im_status", 10, since)


def texted(phone: Phone, text: str, since: int = 0, timeout: float = 10) -> dict[str, object]:
    return phone.wait_event(lambda e: e["event"] == "im" and e["body"] == text, timeout, since)


def post(server: ServerProcess, to: str, text: str) -> dict[str, object]:
    response = server.client.post("/api/v1/messages", json={"to": to, "text": text})
    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["status"] == "sending"
    return dict(answer)


def test_a_phone_texts_the_consoles_a_room_and_another_phone(
    server: ServerProcess,
    phones: Callable[..., Phone],  # noqa: F811
    make_room: Callable[..., Room],  # noqa: F811
    events: RoomEvents,
) -> None:
    alice, bob = phones("alice"), phones("bob")
    room = make_room()
    answer = text_from(alice, sip_uri(server, "dispatch"), TEXT)
    assert answer["code"] == 200, answer
    console = events.wait("message.received", target="console")
    assert console["room"] is None and console["text"] == TEXT
    assert console["user"] == "alice" and console["from_name"] == "Alice"

    answer = text_from(alice, room.uri, "in the room")
    assert answer["code"] == 200, answer
    in_room = room.events.wait("message.received", target="room")
    assert in_room["room"] == room.name and in_room["text"] == "in the room"

    since = bob.mark()
    answer = text_from(alice, sip_uri(server, "bob"), "hello bob")
    assert answer["code"] == 202, answer  # accepted; relayed to bob after
    got = texted(bob, "hello bob", since)
    assert "alice@" in str(got["from"]) and got["content_type"].startswith("text/plain")
    relayed = events.wait("message.received", target="user")
    delivered = events.wait("message.status", id=relayed["id"], status="delivered")
    assert delivered["code"] == 200
    # bob answers alice (at the server: pjsua drops the port of the From it shows)
    since = alice.mark()
    assert text_from(bob, sip_uri(server, "alice"), "ok, bob")["code"] == 202
    texted(alice, "ok, bob", since)

    history = server.client.get("/api/v1/messages", params={"party": "alice"}).json()
    texts = [(m["direction"], m["target"], m["text"], m["status"]) for m in history]
    assert ("in", "console", TEXT, "received") in texts
    assert ("in", "room", "in the room", "received") in texts
    assert ("in", "user", "hello bob", "delivered") in texts
    in_room_only = server.client.get("/api/v1/messages", params={"room": room.name}).json()
    assert [m["text"] for m in in_room_only] == ["in the room"]


def test_the_consoles_text_a_phone_and_a_rooms_phones_and_get_answers(
    server: ServerProcess,
    phones: Callable[..., Phone],  # noqa: F811
    make_room: Callable[..., Room],  # noqa: F811
    events: RoomEvents,
) -> None:
    alice, bob = phones("alice"), phones("bob")
    since = bob.mark()
    sent = post(server, "bob", TEXT)
    got = texted(bob, TEXT, since)
    assert "sip:dispatch@127.0.0.1" in str(got["from"])
    states = [events.wait("message.status", id=sent["id"], status=s) for s in ("sent", "delivered")]
    assert states[1]["code"] == 200 and states[1]["to"] == "bob"

    # the phone answers the text it got: the consoles hear it
    assert text_from(bob, sip_uri(server, "dispatch"), "copy that")["code"] == 200
    reply = events.wait("message.received", target="console", text="copy that")
    assert reply["user"] == "bob"

    # a room's phones: both calls in the room get it, each delivered
    room = make_room()
    for phone, user in ((alice, "alice"), (bob, "bob")):
        call = phone.cmd("call", uri=room.uri)["call"]
        phone.wait_call_state(call, "CONFIRMED", 10)
        room.member(user)
    marks = {id(phone): phone.mark() for phone in (alice, bob)}
    sent = post(server, room.name, "everyone in the room")
    assert sent["room"] == room.name and len(sent["recipients"]) == 2
    for phone in (alice, bob):
        texted(phone, "everyone in the room", marks[id(phone)])
    wait_for(
        lambda: len(room.events.of("message.status", id=sent["id"], status="delivered")) == 2,
        10,
        "both phones' deliveries in the room's events",
    )
    assert room.events.wait("message.sent", id=sent["id"])["text"] == "everyone in the room"


def test_a_text_to_a_phone_that_is_off_fails(
    server: ServerProcess,
    phones: Callable[..., Phone],  # noqa: F811
    events: RoomEvents,
) -> None:
    carol = phones("carol")
    carol.kill()  # gone without unregistering: its registration still points at it
    started = time.monotonic()
    sent = post(server, "carol", "are you there?")
    events.wait("message.status", id=sent["id"], status="sent")
    failed = events.wait("message.status", MESSAGE_TIMEOUT + 5, id=sent["id"], status="failed")
    assert failed["code"] == 408
    assert time.monotonic() - started < MESSAGE_TIMEOUT + 5
    history = server.client.get("/api/v1/messages", params={"party": "carol"}).json()
    assert history[-1]["status"] == "failed" and history[-1]["code"] == 408


def test_a_text_into_a_recorded_room_is_on_its_timeline(
    server: ServerProcess,
    phones: Callable[..., Phone],  # noqa: F811
    make_room: Callable[..., Room],  # noqa: F811
) -> None:
    alice = phones("alice")
    room = make_room()
    started = server.client.post(f"/api/v1/rooms/{room.name}/recordings")
    assert started.status_code == 201, started.text
    recording = started.json()["id"]
    assert text_from(alice, room.uri, "noted for the record")["code"] == 200
    room.events.wait("message.received")
    time.sleep(0.5)  # the worker writes it down
    stopped = server.client.post(f"/api/v1/recordings/{recording}/stop")
    assert stopped.status_code == 200, stopped.text
    manifest = server.client.get(f"/api/v1/recordings/{recording}").json()
    texts = [e for e in manifest["timeline"] if e["type"] == "message.received"]
    assert [e["text"] for e in texts] == ["noted for the record"]
    assert texts[0]["user"] == "alice"


def test_a_text_inside_a_call_goes_into_the_calls_room(
    server: ServerProcess,
    phones: Callable[..., Phone],  # noqa: F811
    make_room: Callable[..., Room],  # noqa: F811
) -> None:
    alice = phones("alice")
    room = make_room()
    call = alice.cmd("call", uri=room.uri)["call"]
    alice.wait_call_state(call, "CONFIRMED", 10)
    since = alice.mark()
    alice.cmd("call_message", call=call, text="from inside the call")
    status = alice.wait_event(lambda e: e["event"] == "im_status", 10, since)
    assert status["code"] == 200, status
    event = room.events.wait("message.received", text="from inside the call")
    assert event["room"] == room.name and event["user"] == "alice"


def test_a_reviewer_phone_may_not_text_into_a_room(
    server: ServerProcess,
    phones: Callable[..., Phone],  # noqa: F811
    make_room: Callable[..., Room],  # noqa: F811
) -> None:
    dave = phones("dave")
    room = make_room()
    assert text_from(dave, room.uri, "let me in")["code"] == 403
    assert text_from(dave, sip_uri(server, "dispatch"), "may I?")["code"] == 200
