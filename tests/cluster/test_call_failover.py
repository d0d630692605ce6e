"""Real phones (pjsua2) in a room of a two-node cluster: their calls are recorded in Redis, and
when the room's node is killed (`kill -9`) the survivor reopens the room and re-INVITEs the
phones in their dialogs, so they hear each other again without calling back. The gap from the
kill to the first tone heard again is measured and printed."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis

pytest.importorskip("pjsua2", exc_type=ImportError)

from bench.serverproc import TOKEN, ServerProcess  # noqa: E402
from mediacore.audio import tone_levels_by_block  # noqa: E402
from tests.cluster.kamailio import kamailio  # noqa: E402
from tests.interop.phone import Phone, read_wav, write_tone_wav  # noqa: E402
from tests.interop.test_sip_calls import RoomEvents  # noqa: E402
from tests.waiting import wait_until  # noqa: E402

pytestmark = pytest.mark.slow

TONE_DBFS = -20.0
HEARD_DBFS = TONE_DBFS - 6.0  # a block carries the tone when it is at least this loud
ROOM = "command"  # the config room: the first node to start owns it
GAP_LIMIT = 20.0  # seconds from the kill to the tone again (dead_after 3 s, then the take-over)


def _config(redis_url: str, node: str) -> str:
    return f"""
[cluster]
redis = "{redis_url}"
node = "{node}"
advertise = "127.0.0.1"

[[sip.users]]
user = "alice"
password = "alice-pw"
role = "commander"

[[sip.users]]
user = "bob"
password = "bob-pw"
role = "commander"

[[sip.users]]
user = "carol"
password = "carol-pw"
role = "commander"
"""


@contextlib.contextmanager
def _node(folder: Path, redis_url: str, name: str, workers: int) -> Iterator[ServerProcess]:
    process = ServerProcess(folder / name, config=_config(redis_url, name), workers=workers)
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def phones() -> Iterator[Callable[..., Phone]]:
    """Phones with an account of the cluster's (they answer digest challenges), unregistered."""
    with contextlib.ExitStack() as stack:

        def make(user: str, sip_port: int = 0) -> Phone:
            phone = stack.enter_context(Phone(user=user, sip_port=sip_port))
            phone.cmd("codecs", order=["PCMU"], only=True)
            phone.cmd("account", user=user, password=f"{user}-pw", registrar="", register=False)
            return phone

        yield make


def _dial(phone: Phone, server: ServerProcess) -> int:
    since = phone.mark()
    call = int(phone.cmd("call", uri=f"sip:{ROOM}@127.0.0.1:{server.sip_port}")["call"])
    phone.wait_call_state(call, "CONFIRMED", 5, since)
    phone.wait_media(call, "ACTIVE", 5, since)
    return call


def _records(client: redis.Redis, node: str) -> list[dict[str, Any]]:
    ids = client.smembers(f"mc:calls:{node}")
    return [client.hgetall(f"mc:call:{node}:{call_id}") for call_id in sorted(ids)]  # type: ignore[union-attr]


def _participant_of(client: redis.Redis, node: str, direction: str) -> str:
    """The participant of `node`'s one call in `direction`, once recorded."""
    found = wait_until(
        lambda: [r for r in _records(client, node) if r["direction"] == direction],
        5.0,
        f"an {direction} call recorded",
    )
    return str(found[0]["participant"])


def _tones(folder: Path) -> dict[int, Path]:
    return {
        hz: write_tone_wav(folder / f"{hz}.wav", float(hz), 5.0, rate=8000, level_dbfs=TONE_DBFS)
        for hz in (440, 1000)
    }


def test_calls_into_a_room_are_recorded_in_redis_and_withdrawn_at_hang_up(
    redis_url: str, tmp_path: Path, phones: Callable[..., Phone]
) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    with _node(tmp_path, redis_url, "n1", workers=0) as node:
        alice = phones("alice")
        call = _dial(alice, node)
        records = wait_until(lambda: _records(client, "n1"), 5.0, "the call's record")
        assert len(records) == 1
        record = records[0]
        assert (record["node"], record["room"], record["direction"]) == ("n1", ROOM, "inbound")
        assert record["kind"] == "sip" and record["codec"].startswith("PCMU")
        assert record["peer"] == f"udp:127.0.0.1:{alice.sip_port}"
        assert record["call_id"] and record["local_tag"] and record["remote_tag"]
        roster = node.client.get(f"/api/v1/rooms/{ROOM}/participants").json()
        assert record["participant"] in {entry["id"] for entry in roster}
        since = alice.mark()
        alice.cmd("hangup", call=call)
        alice.wait_call_state(call, "DISCONNECTED", 5, since)
        wait_until(lambda: not _records(client, "n1"), 5.0, "the record withdrawn")


def test_phones_carry_on_through_the_survivor_after_their_node_is_killed(
    redis_url: str, tmp_path: Path, phones: Callable[..., Phone]
) -> None:
    """Alice called the room, Bob and Carol were dialled by it. After `kill -9` of the room's
    node the survivor re-INVITEs Alice and Bob in their dialogs (they hear each other again,
    the gap measured), and dials Carol again, whose phone restarted and forgot its call."""
    # The survivor's part that notices the death and reopens the room (clusterfailover.py).
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    wavs = _tones(tmp_path)
    with (
        _node(tmp_path, redis_url, "n1", workers=0) as first,
        _node(tmp_path, redis_url, "n2", workers=1) as survivor,
    ):
        assert client.hget(f"mc:room:{ROOM}", "node") == "n1"
        events = _events(survivor)
        alice, bob, carol = phones("alice"), phones("bob"), phones("carol")
        bob.cmd("auto_answer", code=200, play=str(wavs[1000]))
        carol.cmd("auto_answer", code=200)
        a_call = _dial(alice, first)
        alice.cmd("play", call=a_call, wav=str(wavs[440]))
        b_call, bob_id = _dial_out(first, bob, "bob")
        _, carol_id = _dial_out(first, carol, "carol")
        alice_id = _participant_of(client, "n1", "inbound")
        # Set after joining, carried with the calls (neither changes what Alice hears).
        standing = {alice_id: {"muted": True, "gain_db": -3.0}, bob_id: {"hear_not": [alice_id]}}
        for participant, changes in standing.items():
            patched = first.client.patch(
                f"/api/v1/rooms/{ROOM}/participants/{participant}", json=changes
            )
            assert patched.status_code == 200, patched.text
        records = wait_until(
            lambda: (
                len(_records(client, "n1")) == 3
                and all(
                    r["changes"] != "{}"
                    for r in _records(client, "n1")
                    if r["participant"] in standing
                )
                and _records(client, "n1")
            ),
            5.0,
            "three calls recorded, with their changes",
        )
        assert sorted(r["direction"] for r in records) == ["inbound", "outbound", "outbound"]
        listening = _Listening(alice, a_call, tmp_path / "alice.wav")
        time.sleep(1.5)  # alice hears bob through n1
        since_a, since_b = alice.mark(), bob.mark()
        killed_at = time.monotonic()
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait()
        carol_port = carol.sip_port
        carol.kill()  # her phone restarts on its address and forgets the call
        carol = phones("carol", sip_port=carol_port)
        carol.cmd("auto_answer", code=200)
        # The survivor reopens the room and re-INVITEs the phones in their dialogs.
        alice.wait_media(a_call, "ACTIVE", GAP_LIMIT, since_a)
        bob.wait_media(b_call, "ACTIVE", GAP_LIMIT, since_b)
        reinvited = time.monotonic() - killed_at
        assert client.hget(f"mc:room:{ROOM}", "node") == "n2"
        time.sleep(3.0)
        gap = listening.gap(1000.0, killed_at)
        print(f"\nkill -9 to bob's tone heard again by alice: {gap:.1f} s "
              f"(re-INVITE answered after {reinvited:.1f} s)")  # fmt: skip
        # Same participants, same calls; Carol called again as a new participant.
        resumed = events.wait("call.resumed", participant=bob_id)
        assert (resumed["from_node"], resumed["to_node"]) == ("n1", "n2")
        redialled = events.wait("call.redialled", timeout=GAP_LIMIT, participant=carol_id)
        c_call = carol.wait_event(lambda e: e["event"] == "incoming", 5)["call"]
        carol.wait_call_state(c_call, "CONFIRMED", 5)
        roster = {p["id"] for p in survivor.client.get(f"/api/v1/rooms/{ROOM}/participants").json()}
        assert bob_id in roster and redialled["now"] in roster and len(roster) == 3
        for participant, changes in standing.items():
            entry = survivor.client.get(f"/api/v1/rooms/{ROOM}/participants/{participant}").json()
            assert {key: entry[key] for key in changes} == changes, entry
        wait_until(lambda: len(_records(client, "n2")) == 3, 5.0, "the survivor's records")
        assert _records(client, "n1") == []
        for phone, call in ((alice, a_call), (bob, b_call), (carol, c_call)):
            since = phone.mark()
            phone.cmd("hangup", call=call)
            phone.wait_call_state(call, "DISCONNECTED", 5, since)
        wait_until(lambda: not _records(client, "n2"), 5.0, "the survivor's records withdrawn")
        events.close()


def test_a_node_restarted_after_a_crash_carries_its_calls_on(
    redis_url: str, tmp_path: Path, phones: Callable[..., Phone]
) -> None:
    """A node alone, killed and started again at once (before anyone could take its rooms):
    its new process reopens the room and re-INVITEs the calls its old one left."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    wavs = _tones(tmp_path)
    with _node(tmp_path, redis_url, "n1", workers=0) as first:
        alice, bob = phones("alice"), phones("bob")
        bob.cmd("auto_answer", code=200, play=str(wavs[1000]))
        a_call = _dial(alice, first)
        b_call, bob_id = _dial_out(first, bob, "bob")
        wait_until(lambda: len(_records(client, "n1")) == 2, 5.0, "both calls recorded")
        listening = _Listening(alice, a_call, tmp_path / "alice.wav")
        time.sleep(1.5)
        since = alice.mark()
        killed_at = time.monotonic()
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait()
        with _node(tmp_path, redis_url, "n1", workers=0) as again:
            alice.wait_media(a_call, "ACTIVE", GAP_LIMIT, since)
            time.sleep(3.0)
            gap = listening.gap(1000.0, killed_at)
            print(f"\nrestarted after kill -9, bob's tone heard again by alice: {gap:.1f} s")
            assert bob_id in {p["id"] for p in again.roster(ROOM)}
            wait_until(lambda: len(_records(client, "n1")) == 2, 5.0, "both calls recorded again")
            for phone, call in ((alice, a_call), (bob, b_call)):
                since = phone.mark()
                phone.cmd("hangup", call=call)
                phone.wait_call_state(call, "DISCONNECTED", 5, since)


def test_a_call_through_kamailio_is_re_invited_through_it_after_its_node_is_killed(
    redis_url: str, tmp_path: Path, phones: Callable[..., Phone]
) -> None:
    """Alice calls the room through Kamailio (it record-routes): the survivor's re-INVITE
    follows the recorded route set through Kamailio, and her later BYE reaches the survivor."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    wavs = _tones(tmp_path)
    with (
        kamailio(tmp_path, redis_url) as proxy,
        _node(tmp_path, redis_url, "n1", workers=0) as first,
        _node(tmp_path, redis_url, "n2", workers=0) as survivor,
    ):
        alice, bob = phones("alice"), phones("bob")
        bob.cmd("auto_answer", code=200, play=str(wavs[1000]))
        since = alice.mark()
        a_call = int(alice.cmd("call", uri=f"sip:{ROOM}@{proxy.address}")["call"])
        alice.wait_call_state(a_call, "CONFIRMED", 5, since)
        b_call, _ = _dial_out(first, bob, "bob")
        inbound = lambda: [r for r in _records(client, "n1") if r["direction"] == "inbound"]  # noqa: E731
        (record,) = wait_until(inbound, 5.0, "alice's call recorded")
        assert proxy.address in record["route_set"], record
        listening = _Listening(alice, a_call, tmp_path / "alice.wav")
        time.sleep(1.5)
        since = alice.mark()
        killed_at = time.monotonic()
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait()
        alice.wait_media(a_call, "ACTIVE", GAP_LIMIT, since)
        time.sleep(3.0)
        gap = listening.gap(1000.0, killed_at)
        print(f"\nthrough Kamailio, kill -9 to bob's tone heard again by alice: {gap:.1f} s")
        since = alice.mark()
        alice.cmd("hangup", call=a_call)
        alice.wait_call_state(a_call, "DISCONNECTED", 5, since)
        wait_until(lambda: len(_records(client, "n2")) == 1, 5.0, "alice's BYE on the survivor")
        assert len(survivor.roster(ROOM)) == 1
        since = bob.mark()
        bob.cmd("hangup", call=b_call)
        bob.wait_call_state(b_call, "DISCONNECTED", 5, since)


def test_a_node_back_from_a_crash_recovers_its_recordings_and_tells_the_cluster(
    redis_url: str, tmp_path: Path
) -> None:
    with (
        _node(tmp_path, redis_url, "n1", workers=0) as first,
        _node(tmp_path, redis_url, "n2", workers=0) as survivor,
    ):
        started = first.client.post(f"/api/v1/rooms/{ROOM}/recordings")
        assert started.status_code == 201, started.text
        recording = started.json()["id"]
        events = _events(survivor)
        time.sleep(1.0)
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait()
        with _node(tmp_path, redis_url, "n1", workers=0) as back:
            recovered = events.wait("recording.recovered", timeout=10.0, id=recording)
            assert recovered["recovered_by"] == "n1" and recovered["ok"], recovered
            found = back.client.get(f"/api/v1/recordings/{recording}")
            assert found.status_code == 200, found.text
            assert found.json()["state"] == "recovered", found.text
        events.close()


class _Listening:
    """What a phone hears on a call from now on, recorded, to find when a tone came back."""

    def __init__(self, phone: Phone, call: int, path: Path) -> None:
        self.phone, self.call, self.path = phone, call, path
        phone.cmd("record", call=call, wav=str(path))
        self.started = time.monotonic()

    def gap(self, frequency: float, killed_at: float) -> float:
        """Seconds from `killed_at` to the first 100 ms block with the tone again; asserts it
        was heard before, and steadily after."""
        since = self.phone.mark()
        self.phone.cmd("stop_record", call=self.call)
        self.phone.wait_event(
            lambda e: e["event"] == "recorded" and e["call"] == self.call, 5, since
        )
        pcm, rate = read_wav(self.path)
        levels = tone_levels_by_block(pcm, frequency, rate, block_seconds=0.1)
        kill_block = int((killed_at - self.started) / 0.1)
        assert np.median(levels[:kill_block]) > HEARD_DBFS, "the tone was not heard before"
        back = [i for i in range(kill_block + 5, len(levels)) if levels[i] > HEARD_DBFS]
        assert back, "the tone was never heard again"
        assert np.median(levels[back[0] + 5 :]) > HEARD_DBFS, "the tone is not steady again"
        return back[0] * 0.1 - (killed_at - self.started)


def _events(server: ServerProcess) -> RoomEvents:
    return RoomEvents(f"ws://127.0.0.1:{server.http_port}/api/v1/events?token={TOKEN}")


def _dial_out(server: ServerProcess, phone: Phone, user: str) -> tuple[int, str]:
    """The room dials `phone` (answering by itself); its call index and participant id."""
    since = phone.mark()
    response = server.client.post(
        f"/api/v1/rooms/{ROOM}/dial",
        json={"uri": f"sip:desk-{user}@127.0.0.1:{phone.sip_port}", "name": user},
    )
    assert response.status_code == 201, response.text
    call = int(phone.wait_event(lambda e: e["event"] == "incoming", 5, since)["call"])
    phone.wait_call_state(call, "CONFIRMED", 5, since)
    phone.wait_media(call, "ACTIVE", 5, since)
    return call, str(response.json()["id"])
