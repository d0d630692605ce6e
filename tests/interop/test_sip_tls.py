"""SIP over TLS with real pjsua2 phones: a phone that checks the server's certificate (the one
the server made) registers on the TLS port, calls a room with `;transport=tls` and is heard
there; the room dials it back out over the TLS connection it registered on, and dials a
`;transport=tls` URI over a new connection, only to a phone whose certificate it trusts."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("pjsua2", exc_type=ImportError)

from bench.serverproc import ServerProcess  # noqa: E402
from mediacore.server.certificates import self_signed  # noqa: E402
from tests.interop.phone import Phone  # noqa: E402
from tests.interop.test_sip_calls import (  # noqa: E402
    Room,
    RoomEvents,
    assert_hears,
    assert_stopped_cleanly,
    dial_in,
    exchange_tones,
    hang_up,
    record,
    wavs,
)

pytestmark = pytest.mark.slow

PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw"}
USERS = "".join(
    f'[[sip.users]]\nuser = "{user}"\npassword = "{password}"\nrole = "operator"\n\n'
    for user, password in PASSWORDS.items()
)


def _pair(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as files."""
    cert_pem, key_pem = self_signed(["127.0.0.1"])
    cert, key = folder / f"{name}-cert.pem", folder / f"{name}-key.pem"
    cert.write_bytes(cert_pem)
    key.write_bytes(key_pem)
    return cert, key


@pytest.fixture(scope="module")
def phone_pairs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """Certificates of phones the server calls: one it trusts, one it has never seen."""
    folder = tmp_path_factory.mktemp("phone-certs")
    return {"trusted": _pair(folder, "trusted"), "stranger": _pair(folder, "stranger")}


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, phone_pairs: dict[str, tuple[Path, Path]]
) -> Iterator[ServerProcess]:
    config = f'[sip]\ntls_ca_file = "{phone_pairs["trusted"][0]}"\n\n{USERS}'
    process = ServerProcess(tmp_path_factory.mktemp("sip-tls"), config=config)
    try:
        yield process
    finally:
        assert_stopped_cleanly(process)


__all__ = ["wavs"]  # the tones fixture, shared with test_sip_calls


@pytest.fixture
def room(server: ServerProcess, request: pytest.FixtureRequest) -> Iterator[Room]:
    name = request.node.name.replace("_", "-")[:40]
    assert server.client.post("/api/v1/rooms", json={"name": name}).status_code == 201
    events = RoomEvents(server.events_url(name))
    yield Room(server, name, events)
    events.close()
    server.client.delete(f"/api/v1/rooms/{name}")


@pytest.fixture
def phones(server: ServerProcess) -> Iterator[Callable[..., Phone]]:
    """Registered PCMU phones: over TLS (checking the server's certificate) or UDP."""
    with contextlib.ExitStack() as stack:

        def make(user: str, transport: str) -> Phone:
            tls = transport == "tls"
            phone = stack.enter_context(
                Phone(user=user, transport=transport, ca_file=server.ca_file if tls else None)
            )
            phone.cmd("codecs", order=["PCMU"], only=True)
            port = server.sip_tls_port if tls else server.sip_port
            since = phone.mark()
            phone.cmd(
                "account",
                user=user,
                password=PASSWORDS[user],
                registrar=f"sip:127.0.0.1:{port}" + (";transport=tls" if tls else ""),
            )
            reg = phone.wait_event(lambda e: e["event"] == "reg", 5, since)
            assert reg["code"] == 200 and reg["active"], reg
            return phone

        yield make


def _calls(room: Room) -> dict[str, str]:
    """Each call of the room's transport, by its account (or dialled URI's user)."""
    calls = room.server.client.get("/api/v1/calls").json()
    return {
        call["user"] or call["uri"].split("@")[0].split(":")[-1]: call["transport"]
        for call in calls
        if call["room"] == room.name
    }


def test_a_phone_registers_and_calls_a_room_over_tls_and_is_heard(
    room: Room, phones: Callable[..., Phone], wavs: dict[int, Path], tmp_path: Path
) -> None:
    alice, bob = phones("alice", "tls"), phones("bob", "udp")
    bindings = room.server.client.get("/api/v1/registrations").json()["users"]
    (binding,) = [b for b in bindings if b["user"] == "alice"]
    assert binding["source"].startswith("tls:") and "transport=tls" in binding["contact"].lower()
    since = alice.mark()
    a_call = alice.cmd(
        "call", uri=f"sip:{room.name}@127.0.0.1:{room.server.sip_tls_port};transport=tls"
    )["call"]
    alice.wait_call_state(a_call, "CONFIRMED", 5, since)
    alice.wait_media(a_call, "ACTIVE", 5, since)
    b_call = dial_in(bob, room)
    assert _calls(room) == {"alice": "tls", "bob": "udp"}
    # Each hears the other (alice's call signalled over TLS), never itself.
    exchange_tones((alice, a_call, "PCMU"), (bob, b_call, "PCMU"), wavs, tmp_path)
    hang_up(alice, a_call)
    hang_up(bob, b_call)


def test_the_room_dials_out_to_a_phone_registered_over_tls(
    room: Room, phones: Callable[..., Phone], wavs: dict[int, Path], tmp_path: Path
) -> None:
    alice, bob = phones("alice", "tls"), phones("bob", "udp")
    alice.cmd("auto_answer", code=200)
    response = room.server.client.post(
        f"/api/v1/rooms/{room.name}/dial", json={"uri": "sip:alice@127.0.0.1", "name": "Alice"}
    )
    assert response.status_code == 201, response.text
    room.events.wait("call.answered", participant=response.json()["id"])
    a_call = alice.wait_event(lambda e: e["event"] == "incoming", 5)["call"]
    alice.wait_media(a_call, "ACTIVE", 5)
    b_call = dial_in(bob, room)
    assert _calls(room) == {"alice": "tls", "bob": "udp"}
    bob.cmd("play", call=b_call, wav=str(wavs[1600]))
    pcm, rate = record(alice, a_call, tmp_path / "alice.wav", 2.0)
    assert_hears(pcm, rate, 1600.0)
    hang_up(alice, a_call)
    hang_up(bob, b_call)


@pytest.mark.parametrize("who", ["trusted", "stranger"])
def test_a_transport_tls_uri_is_dialled_over_tls_only_to_a_certificate_the_server_trusts(
    room: Room, phone_pairs: dict[str, tuple[Path, Path]], who: str
) -> None:
    with Phone(user="guest", transport="tls", tls_pair=phone_pairs[who]) as phone:
        phone.cmd("codecs", order=["PCMU"], only=True)
        phone.cmd("auto_answer", code=200)
        uri = f"sip:guest@127.0.0.1:{phone.sip_port};transport=tls"
        response = room.server.client.post(
            f"/api/v1/rooms/{room.name}/dial", json={"uri": uri, "name": "Guest"}
        )
        assert response.status_code == 201, response.text
        participant = response.json()["id"]
        if who == "trusted":
            room.events.wait("call.answered", participant=participant)
            call = phone.wait_event(lambda e: e["event"] == "incoming", 5)["call"]
            phone.wait_media(call, "ACTIVE", 5)
            assert _calls(room) == {"guest": "tls"}
            hang_up(phone, call)
        else:  # the handshake fails: the INVITE never leaves, the call fails at once
            failed = room.events.wait("call.failed", participant=participant, timeout=5)
            assert failed["status"] == 503
            assert not [e for e in phone.events if e["event"] == "incoming"]
