"""Real SIP phones (pjsua2) against a real server: dial-in with digest, PIN rooms, dial-out,
hold, DTMF and TCP, with what every phone hears measured.

One server serves the whole module; each test opens its own room over the API, so tests never
hear each other, and follows that room's events on the WebSocket."""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

# ImportError too, not just a missing module: a wheel whose native library fails to load.
pytest.importorskip("pjsua2", exc_type=ImportError)

from websockets.exceptions import ConnectionClosed  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from bench.serverproc import ServerProcess  # noqa: E402
from mediacore.audio import dominant_frequency, tone_levels_by_block  # noqa: E402
from tests.interop.phone import Phone, read_wav, write_tone_wav  # noqa: E402

pytestmark = pytest.mark.slow

# Level of every tone a phone plays. Not louder: pjmedia's G.722 (below) hears 6 dB loud, and
# when its decoder sees what could clip (a transient after a late packet is dropped, on a busy
# machine) it lowers its shift for good, decoder and encoder both, and every level moves 6 dB.
TONE_DBFS = -20.0
HEARD_DB = 3.0  # a tone heard through the room is within this of the level expected
# pjmedia's G.722 (the phones) shifts PCM by 2 bits around the codec (PJMEDIA_G722_DEFAULT_PCM_SHIFT
# = 2) where FFmpeg's (the server's) scales like a 1-bit shift: a G.722 phone's audio reaches the
# room 6 dB low, and it hears the room 6 dB loud (pjproject issue #4419). Phone to phone cancels.
PJMEDIA_G722_DB = 6.02
SILENT_DBFS = TONE_DBFS - 30.0  # below this a tone is "not heard"
SKIP_SECONDS = 0.5  # jitter buffers fill at the start of a recording: not measured
PIN = "2468"
RING_TIMEOUT = 2  # [sip] ring_timeout: dial-out gives up after this many seconds
PROMPT_HZ = 880.0
PROMPT_DBFS = -12.0  # the server's PIN prompt beeps

PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw", "dave": "dave-pw"}
CONFIG = f"""
[sip]
ring_timeout = {RING_TIMEOUT}

[[sip.users]]
user = "alice"
password = "alice-pw"
role = "commander"
name = "Alice"

[[sip.users]]
user = "bob"
password = "bob-pw"
role = "operator"

[[sip.users]]
user = "carol"
password = "carol-pw"
role = "expert"

[[sip.users]]
user = "dave"
password = "dave-pw"
role = "reviewer"
"""

Event = dict[str, Any]


# --- fixtures ---------------------------------------------------------------------------------


@contextlib.contextmanager
def serving(folder: Path, config: str, **environment: str) -> Iterator[ServerProcess]:
    """A server for a module of phone tests; it must exit 0 having logged no error."""
    process = ServerProcess(folder, config=config, **environment)
    try:
        yield process
    finally:
        assert_stopped_cleanly(process)


def assert_stopped_cleanly(process: ServerProcess) -> None:
    """Stops the server: it must exit 0 with no error in its log."""
    code = process.stop()
    log = process.log_path.read_text()
    assert code == 0, f"server exited {code}:\n{log[-4000:]}"
    assert '"level": "error"' not in log, log[-4000:]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with serving(tmp_path_factory.mktemp("sip-server"), CONFIG) as process:
        yield process


@pytest.fixture(scope="module")
def wavs(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """5 s tones by frequency (the looping player leaves a short gap at each wrap)."""
    folder = tmp_path_factory.mktemp("tones")
    return {
        440: write_tone_wav(folder / "440.wav", 440.0, 5.0, rate=8000, level_dbfs=TONE_DBFS),
        1000: write_tone_wav(folder / "1000.wav", 1000.0, 5.0, rate=16000, level_dbfs=TONE_DBFS),
        1600: write_tone_wav(folder / "1600.wav", 1600.0, 5.0, rate=8000, level_dbfs=TONE_DBFS),
    }


_room_numbers = itertools.count(1)


class RoomEvents:
    """The event stream of one room, read on a thread; events pile up in order."""

    def __init__(self, url: str) -> None:
        self.events: list[Event] = []
        self._cond = threading.Condition()
        self._exit = contextlib.ExitStack()
        self._socket = self._exit.enter_context(connect(url, open_timeout=5, close_timeout=2))
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        time.sleep(0.1)  # the server subscribes just after the handshake: let it

    def _read(self) -> None:
        try:
            for message in self._socket:
                with self._cond:
                    self.events.append(json.loads(message))
                    self._cond.notify_all()
        except ConnectionClosed:
            pass

    def all(self) -> list[Event]:
        with self._cond:
            return list(self.events)

    def of(self, kind: str, **match: Any) -> list[Event]:
        with self._cond:
            return [
                e
                for e in self.events
                if e["type"] == kind and all(e.get(k) == v for k, v in match.items())
            ]

    def wait(self, kind: str, timeout: float = 5.0, **match: Any) -> Event:
        """The first event of `kind` whose fields equal `match`, waiting up to `timeout`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = self.of(kind, **match)
                if found:
                    return found[0]
                left = deadline - time.monotonic()
                if left <= 0:
                    types = [(e["type"], e.get("reason")) for e in self.events[-15:]]
                    raise AssertionError(f"no {kind} {match} within {timeout} s; saw {types}")
                self._cond.wait(left)

    def close(self) -> None:
        self._exit.close()
        self._reader.join(2)


class Room:
    """A room of one test: its name, its events, and its server."""

    def __init__(self, server: ServerProcess, name: str, events: RoomEvents) -> None:
        self.server = server
        self.name = name
        self.events = events

    @property
    def uri(self) -> str:
        return f"sip:{self.name}@127.0.0.1:{self.server.sip_port}"

    def roster(self) -> list[Event]:
        return self.server.roster(self.name)

    def member(self, user: str, timeout: float = 5.0) -> Event:
        """The roster entry of `user`'s call, waiting for it to appear."""
        return wait_for(
            lambda: next((p for p in self.roster() if p.get("user") == user), None),
            timeout,
            f"{user} in the roster of {self.name}",
        )

    def calls(self) -> list[Event]:
        response = self.server.client.get("/api/v1/calls")
        assert response.status_code == 200, response.text
        return [call for call in response.json() if call["room"] == self.name]


@pytest.fixture
def make_room(
    server: ServerProcess, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Room]]:
    rooms: list[Room] = []

    def make(pin: str = "") -> Room:
        stem = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:40].strip("-")
        name = f"r{next(_room_numbers)}-{stem}"
        body: dict[str, Any] = {"name": name}
        if pin:
            body["pin"] = pin
        response = server.client.post("/api/v1/rooms", json=body)
        assert response.status_code == 201, response.text
        room = Room(server, name, RoomEvents(server.events_url(name)))
        rooms.append(room)
        return room

    yield make
    for room in rooms:
        room.events.close()
        server.client.delete(f"/api/v1/rooms/{room.name}")


@pytest.fixture
def phones(server: ServerProcess) -> Iterator[Callable[..., Phone]]:
    """Makes phones (closed after the test); with `user`, registered with that account.

    A closing phone unregisters and waits (up to 2 s) for the final answer, digest challenge
    included, so the registrar forgets it."""
    with contextlib.ExitStack() as stack:

        def make(
            user: str | None = None,
            codec: str = "PCMU",
            transport: str = "udp",
            register: bool = True,
            password: str | None = None,
        ) -> Phone:
            phone = stack.enter_context(Phone(user=user or "guest", transport=transport))
            phone.cmd("codecs", order=[codec], only=True)
            if user is not None:
                since = phone.mark()
                phone.cmd(
                    "account",
                    user=user,
                    password=PASSWORDS[user] if password is None else password,
                    registrar=f"sip:127.0.0.1:{server.sip_port}" if register else "",
                    register=register,
                )
                if register:
                    reg = phone.wait_event(lambda e: e["event"] == "reg", 5, since)
                    assert reg["code"] == 200 and reg["active"], reg
            return phone

        yield make


# --- helpers ----------------------------------------------------------------------------------


def wait_for(probe: Callable[[], Any], timeout: float, what: str) -> Any:
    """Polls `probe` until it returns something truthy; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def dial_in(phone: Phone, room: Room, timeout: float = 5.0) -> int:
    """The phone calls the room and waits for the answer. Returns the phone's call index."""
    since = phone.mark()
    call = phone.cmd("call", uri=room.uri)["call"]
    phone.wait_call_state(call, "CONFIRMED", timeout, since)
    phone.wait_media(call, "ACTIVE", timeout, since)
    return int(call)


def hang_up(phone: Phone, call: int) -> None:
    since = phone.mark()
    phone.cmd("hangup", call=call)
    phone.wait_call_state(call, "DISCONNECTED", 5, since)


def stop_recording(phone: Phone, call: int, path: Path) -> tuple[Any, int]:
    """Stops the recording of `call` and reads it once complete. Returns (pcm, rate)."""
    since = phone.mark()
    phone.cmd("stop_record", call=call)
    # The phone reports "recorded" once the WAV's header has its final sizes.
    phone.wait_event(lambda e: e["event"] == "recorded" and e["call"] == call, 5, since)
    return read_wav(path)


def record(phone: Phone, call: int, path: Path, seconds: float) -> tuple[Any, int]:
    """Records what the phone hears on `call` for `seconds`. Returns (pcm, rate)."""
    phone.cmd("record", call=call, wav=str(path))
    time.sleep(seconds)
    return stop_recording(phone, call, path)


def steady(pcm: Any, rate: int) -> Any:
    part = pcm[int(SKIP_SECONDS * rate) :]
    assert part.size >= rate, f"only {part.size / rate:.2f} s of steady recording"
    return part


def expected_dbfs(sender_codec: str = "PCMU", listener_codec: str = "PCMU") -> float:
    """The level a phone should hear a tone that another phone plays at TONE_DBFS."""
    level = TONE_DBFS
    if sender_codec == "G722":
        level -= PJMEDIA_G722_DB
    if listener_codec == "G722":
        level += PJMEDIA_G722_DB
    return level


def assert_hears(
    pcm: Any, rate: int, frequency: float, *not_heard: float, level: float = TONE_DBFS
) -> None:
    """A steady tone at `frequency` near `level` dBFS, and none of `not_heard`.

    Measured in 100 ms blocks: over the whole recording a single-bin reading drops after any
    phase jump (a jitter buffer dropping or stretching a frame on a busy machine)."""
    pcm = steady(pcm, rate)
    assert dominant_frequency(pcm, rate) == pytest.approx(frequency, abs=10.0)
    blocks = tone_levels_by_block(pcm, frequency, rate, block_seconds=0.1)
    heard = float(np.median(blocks))
    assert abs(heard - level) <= HEARD_DB, f"{frequency} Hz heard at {heard:.1f} dBFS, not {level}"
    # Steady, not just loud on the whole: nearly every block carries the tone. On a busy 2-core
    # machine one late tick, or a frame a jitter buffer drops or stretches right after a move
    # or a worker restart, costs two or three 100 ms blocks of a short recording.
    assert (abs(blocks - level) <= HEARD_DB).mean() >= 0.8, blocks.round(1)
    assert_silent(pcm, rate, *not_heard, skip=False)


def exchange_tones(
    a: tuple[Phone, int, str], b: tuple[Phone, int, str], wavs: dict[int, Path], folder: Path
) -> None:
    """Phone a (its call, its codec) plays 440 Hz and phone b 1600 Hz into one room for 2 s:
    each hears the other at the level its codecs give, and never itself."""
    (a_phone, a_call, a_codec), (b_phone, b_call, b_codec) = a, b
    a_phone.cmd("play", call=a_call, wav=str(wavs[440]))
    b_phone.cmd("play", call=b_call, wav=str(wavs[1600]))
    a_rec, b_rec = folder / "a.wav", folder / "b.wav"
    a_phone.cmd("record", call=a_call, wav=str(a_rec))
    b_phone.cmd("record", call=b_call, wav=str(b_rec))
    time.sleep(2.0)
    a_heard = stop_recording(a_phone, a_call, a_rec)
    b_heard = stop_recording(b_phone, b_call, b_rec)
    assert_hears(*a_heard, 1600.0, 440.0, level=expected_dbfs(b_codec, a_codec))
    assert_hears(*b_heard, 440.0, 1600.0, level=expected_dbfs(a_codec, b_codec))


def assert_silent(pcm: Any, rate: int, *frequencies: float, skip: bool = True) -> None:
    """None of `frequencies` in any 100 ms block (after the first SKIP_SECONDS if `skip`)."""
    if skip:
        pcm = steady(pcm, rate)
    for frequency in frequencies:
        loudest = tone_levels_by_block(pcm, frequency, rate, block_seconds=0.1).max()
        assert loudest < SILENT_DBFS, f"{frequency} Hz heard at {loudest:.1f} dBFS"


# --- tests ------------------------------------------------------------------------------------


def test_two_registered_phones_hear_each_other_across_codecs_and_never_themselves(
    make_room: Callable[..., Room],
    phones: Callable[..., Phone],
    wavs: dict[int, Path],
    tmp_path: Path,
) -> None:
    room = make_room()
    alice = phones("alice", codec="PCMU")
    bob = phones("bob", codec="G722")
    registered = room.server.client.get("/api/v1/registrations").json()["users"]
    assert {"alice", "bob"} <= {binding["user"] for binding in registered}
    a_call, b_call = dial_in(alice, room), dial_in(bob, room)
    alice.cmd("play", call=a_call, wav=str(wavs[440]))
    bob.cmd("play", call=b_call, wav=str(wavs[1000]))

    roster = {entry["user"]: entry for entry in room.roster()}
    assert set(roster) == {"alice", "bob"}
    assert all(entry["kind"] == "sip" for entry in roster.values())
    assert roster["alice"]["codec"] == "PCMU/8000"
    assert roster["bob"]["codec"].startswith("G722/")
    assert roster["alice"]["name"] == "Alice"  # the account's display name
    calls = {call["user"]: call for call in room.calls()}
    assert calls["alice"]["call_direction"] == calls["bob"]["call_direction"] == "inbound"
    assert calls["alice"]["call_state"] == "confirmed" and not calls["alice"]["held"]
    joined = {e["participant"]["id"] for e in room.events.of("participant.joined")}
    assert joined == {entry["id"] for entry in roster.values()}

    a_rec, b_rec = tmp_path / "a.wav", tmp_path / "b.wav"
    alice.cmd("record", call=a_call, wav=str(a_rec))
    bob.cmd("record", call=b_call, wav=str(b_rec))
    time.sleep(2.5)
    a_heard, b_heard = stop_recording(alice, a_call, a_rec), stop_recording(bob, b_call, b_rec)
    assert_hears(*a_heard, 1000.0, 440.0, level=expected_dbfs("G722", "PCMU"))
    assert_hears(*b_heard, 440.0, 1000.0, level=expected_dbfs("PCMU", "G722"))

    hang_up(alice, a_call)
    hang_up(bob, b_call)
    for entry in roster.values():
        room.events.wait("participant.left", participant=entry["id"], reason="hangup")
    assert room.roster() == []
    wait_for(lambda: room.calls() == [], 3, "the calls list to empty")

    bob.close()  # a phone switched off unregisters, answering the digest challenge
    registered = room.server.client.get("/api/v1/registrations").json()["users"]
    assert "bob" not in {binding["user"] for binding in registered}


def test_wrong_password_reviewer_role_and_unknown_room_are_refused(
    make_room: Callable[..., Room], phones: Callable[..., Phone]
) -> None:
    room = make_room()
    intruder = phones("alice", register=False, password="not-alices-password")
    reviewer = phones("dave", register=False)  # right password, but reviewers may not join
    for phone, code in ((intruder, 403), (reviewer, 403)):
        since = phone.mark()
        call = phone.cmd("call", uri=room.uri)["call"]
        ended = phone.wait_call_state(call, "DISCONNECTED", 5, since)
        assert ended["code"] == code, ended
        assert not [
            e for e in phone.events[since:] if e["event"] == "call" and e["state"] == "CONFIRMED"
        ]
    since = reviewer.mark()
    call = reviewer.cmd("call", uri=f"sip:no-such-room@127.0.0.1:{room.server.sip_port}")["call"]
    assert reviewer.wait_call_state(call, "DISCONNECTED", 5, since)["code"] == 404
    time.sleep(0.3)
    assert room.roster() == []
    assert room.events.of("participant.joined") == []


def test_dial_out_to_a_registered_phone_that_answers_then_kick_hangs_it_up(
    make_room: Callable[..., Room],
    phones: Callable[..., Phone],
    wavs: dict[int, Path],
    tmp_path: Path,
) -> None:
    room = make_room()
    bob = phones("bob", codec="PCMU")
    bob.cmd("auto_answer", code=200, delay_ms=300)  # rings a moment first
    alice = phones("alice", codec="G722")

    response = room.server.client.post(
        f"/api/v1/rooms/{room.name}/dial", json={"uri": "sip:bob@127.0.0.1", "name": "Bob"}
    )
    assert response.status_code == 201, response.text
    participant = response.json()["id"]
    room.events.wait("call.answered", participant=participant)
    progress = [
        e["type"]
        for e in room.events.all()
        if e["type"].startswith("call.") and e["participant"] == participant
    ]
    assert progress == ["call.dialing", "call.ringing", "call.answered"]
    b_call = bob.wait_event(lambda e: e["event"] == "incoming", 5)["call"]
    bob.wait_call_state(b_call, "CONFIRMED", 5)
    bob.wait_media(b_call, "ACTIVE", 5)
    (entry,) = [p for p in room.roster() if p["id"] == participant]
    assert entry["kind"] == "sip" and entry["name"] == "Bob"
    assert entry["call_direction"] == "outbound" and entry["call_state"] == "confirmed"

    a_call = dial_in(alice, room)
    alice.cmd("play", call=a_call, wav=str(wavs[1000]))
    pcm, rate = record(bob, b_call, tmp_path / "bob.wav", 2.0)
    assert_hears(pcm, rate, 1000.0, level=expected_dbfs("G722", "PCMU"))

    since = bob.mark()
    kicked = room.server.client.delete(f"/api/v1/rooms/{room.name}/participants/{participant}")
    assert kicked.status_code == 204, kicked.text
    bob.wait_call_state(b_call, "DISCONNECTED", 5, since)
    room.events.wait("participant.left", participant=participant, reason="kicked")
    assert [p["user"] for p in room.roster()] == ["alice"]
    wait_for(lambda: len(room.calls()) == 1, 3, "the kicked call to leave the calls list")
    hang_up(alice, a_call)


def test_dial_out_that_is_busy_unanswered_or_kicked_while_ringing_fails_cleanly(
    make_room: Callable[..., Room], phones: Callable[..., Phone]
) -> None:
    room = make_room()
    carol = phones("carol")

    def dial(user: str) -> tuple[str, int]:
        """Dials `user`; returns (participant, carol's call index once it rings there)."""
        since = carol.mark()
        response = room.server.client.post(
            f"/api/v1/rooms/{room.name}/dial", json={"uri": f"sip:{user}@127.0.0.1"}
        )
        assert response.status_code == 201, response.text
        incoming = carol.wait_event(lambda e: e["event"] == "incoming", 5, since)
        return response.json()["id"], int(incoming["call"])

    carol.cmd("auto_answer", code=486)
    participant, call = dial("carol")
    failed = room.events.wait("call.failed", participant=participant)
    assert failed["reason"] == "busy" and failed["status"] == 486, failed
    room.events.wait("participant.left", participant=participant, reason="busy")
    carol.wait_call_state(call, "DISCONNECTED", 5)
    assert room.roster() == [] and room.calls() == []

    carol.cmd("auto_answer", code=None)  # rings (180) and never answers
    participant, call = dial("carol")
    room.events.wait("call.ringing", participant=participant)
    (entry,) = room.roster()
    assert entry["call_state"] == "ringing", entry
    failed = room.events.wait("call.failed", participant=participant, timeout=RING_TIMEOUT + 3)
    assert failed["reason"] == "no-answer", failed
    room.events.wait("participant.left", participant=participant, reason="no-answer")
    assert carol.wait_call_state(call, "DISCONNECTED", 5)["code"] == 487  # CANCELled

    participant, call = dial("carol")
    room.events.wait("call.ringing", participant=participant)
    since = carol.mark()
    kicked = room.server.client.delete(f"/api/v1/rooms/{room.name}/participants/{participant}")
    assert kicked.status_code == 204, kicked.text
    assert carol.wait_call_state(call, "DISCONNECTED", 5, since)["code"] == 487
    room.events.wait("participant.left", participant=participant, reason="kicked")
    assert room.events.of("call.answered") == []
    assert room.roster() == [] and room.calls() == []

    # dave is a configured account that never registered.
    refused = room.server.client.post(
        f"/api/v1/rooms/{room.name}/dial", json={"uri": "sip:dave@127.0.0.1"}
    )
    assert refused.status_code == 404, refused.text
    assert refused.json()["error"] == "not-registered"
    assert room.roster() == []


def test_hold_stops_the_audio_to_the_phone_and_resume_brings_it_back(
    make_room: Callable[..., Room],
    phones: Callable[..., Phone],
    wavs: dict[int, Path],
    tmp_path: Path,
) -> None:
    room = make_room()
    alice, bob = phones("alice"), phones("bob")
    a_call, b_call = dial_in(alice, room), dial_in(bob, room)
    bob.cmd("play", call=b_call, wav=str(wavs[1000]))
    participant = room.member("alice")["id"]
    assert_hears(*record(alice, a_call, tmp_path / "before.wav", 1.6), 1000.0)

    since = alice.mark()
    alice.cmd("hold", call=a_call)
    alice.wait_media(a_call, "LOCAL_HOLD", 5, since)
    held = room.events.wait("call.updated", held=True)
    assert held["call_id"] == room.member("alice")["call_id"]
    (call,) = [c for c in room.calls() if c["user"] == "alice"]
    assert call["held"] is True and call["direction"] == "recvonly", call
    assert_silent(*record(alice, a_call, tmp_path / "held.wav", 1.6), 1000.0)

    since = alice.mark()
    alice.cmd("unhold", call=a_call)
    alice.wait_media(a_call, "ACTIVE", 5, since)
    room.events.wait("call.updated", held=False)
    (call,) = [c for c in room.calls() if c["user"] == "alice"]
    assert call["held"] is False and call["direction"] == "sendrecv", call
    assert_hears(*record(alice, a_call, tmp_path / "after.wav", 1.6), 1000.0)
    assert [p["id"] for p in room.roster() if p.get("user") == "alice"] == [participant]
    hang_up(alice, a_call)
    hang_up(bob, b_call)


def test_rfc2833_and_sip_info_digits_become_dtmf_events(
    make_room: Callable[..., Room], phones: Callable[..., Phone]
) -> None:
    room = make_room()
    alice = phones("alice")
    a_call = dial_in(alice, room)
    participant = room.member("alice")["id"]

    def digits_seen(count: int) -> str:
        def probe() -> str:
            events = room.events.of("dtmf", participant=participant)
            return "".join(e["digit"] for e in events) if len(events) >= count else ""

        return str(wait_for(probe, 5, f"{count} dtmf events"))

    alice.cmd("dtmf", call=a_call, digits="159", method="rfc2833")
    assert digits_seen(3) == "159"
    alice.cmd("dtmf", call=a_call, digits="*#0", method="info")
    assert digits_seen(6) == "159*#0"
    time.sleep(0.3)  # nothing more arrives: each digit once, end packets not counted again
    events = room.events.of("dtmf", participant=participant)
    assert len(events) == 6
    assert all(e["duration_ms"] > 0 for e in events), events
    hang_up(alice, a_call)


def test_pin_room_prompts_admits_the_right_pin_and_hangs_up_after_three_wrong_ones(
    make_room: Callable[..., Room],
    phones: Callable[..., Phone],
    wavs: dict[int, Path],
    tmp_path: Path,
) -> None:
    room = make_room(pin=PIN)
    alice = phones("alice")  # an account: joins without the PIN
    a_call = dial_in(alice, room)
    alice.cmd("play", call=a_call, wav=str(wavs[1600]))
    assert [p["user"] for p in room.roster()] == ["alice"]

    guest = phones()  # no account, no registration
    g_call = dial_in(guest, room)
    # The prompt: 880 Hz double beeps every 3 s; the room's 1600 Hz is not heard meanwhile.
    pcm, rate = record(guest, g_call, tmp_path / "prompt.wav", 1.2)
    beeps = tone_levels_by_block(pcm, PROMPT_HZ, rate, block_seconds=0.05)
    assert abs(beeps.max() - PROMPT_DBFS) <= HEARD_DB, beeps.round(1)
    assert_silent(pcm[int(0.2 * rate) :], rate, 1600.0, skip=False)
    assert len(room.roster()) == 1

    guest.cmd("dtmf", call=g_call, digits=PIN + "#", method="rfc2833")
    entry = wait_for(
        lambda: next((p for p in room.roster() if p["id"] != room.member("alice")["id"]), None),
        5,
        "the guest in the roster",
    )
    assert entry["kind"] == "sip" and entry["user"] is None
    joined = [e["participant"]["id"] for e in room.events.of("participant.joined")]
    assert entry["id"] in joined
    assert_hears(*record(guest, g_call, tmp_path / "in.wav", 1.6), 1600.0, PROMPT_HZ)
    # The PIN is a secret: its digits never reach the room as dtmf events, nor does the "#"
    # that ended it, though that arrives after the PIN let the guest in.
    assert room.events.of("dtmf") == []

    # A second guest gets the PIN wrong three times (each ended with #) and is hung up.
    wrong = phones()
    w_call = dial_in(wrong, room)
    since = wrong.mark()
    for attempt in range(3):
        wrong.cmd("dtmf", call=w_call, digits="1357#", method="rfc2833")
        if attempt < 2:
            time.sleep(1.3)  # five digits of 160 ms with gaps, then a margin
            ended = [
                e for e in wrong.events[since:] if e["event"] == "call" and e["call"] == w_call
            ]
            assert ended == [], f"hung up after {attempt + 1} wrong PIN(s): {ended}"
    wrong.wait_call_state(w_call, "DISCONNECTED", 5, since)
    assert len(room.roster()) == 2
    hang_up(guest, g_call)
    hang_up(alice, a_call)


def test_dial_in_over_tcp_carries_audio_both_ways(
    make_room: Callable[..., Room],
    phones: Callable[..., Phone],
    wavs: dict[int, Path],
    tmp_path: Path,
) -> None:
    room = make_room()
    alice = phones("alice", codec="G722", transport="tcp")
    bob = phones("bob", codec="PCMU")
    # (An earlier phone of alice's may have left a UDP binding: see `phones`.)
    bindings = room.server.client.get("/api/v1/registrations").json()["users"]
    assert [
        b
        for b in bindings
        if b["user"] == "alice"
        and b["source"].startswith("tcp:")
        and "transport=tcp" in b["contact"].lower()
    ], bindings
    a_call, b_call = dial_in(alice, room), dial_in(bob, room)
    transports = {call["user"]: call["transport"] for call in room.calls()}
    assert transports == {"alice": "tcp", "bob": "udp"}
    exchange_tones((alice, a_call, "G722"), (bob, b_call, "PCMU"), wavs, tmp_path)
    participant = room.member("alice")["id"]
    hang_up(alice, a_call)
    room.events.wait("participant.left", participant=participant, reason="hangup")
    hang_up(bob, b_call)
