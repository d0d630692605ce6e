"""Requests that name their room in the body (texts, alarms, broadcasts, one-to-one calls), or
by an id, sent to the node that does not have the room: two real nodes, one Redis, and every
answer the one the room's node gives (clusterbodies.py)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import redis

from mediacore.server.clustertrust import HEADER
from tests.cluster.nodes import start_node
from tests.cluster.redisserver import redis_server
from tests.e2e.server import ServerProcess, free_tcp_port
from tests.server.test_api import offer
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

EXPERT_TOKEN = "expert-token-for-tests"
CONFIG = f"""
[[auth.tokens]]
token = "{EXPERT_TOKEN}"
role = "expert"
name = "listener"
"""
EAST = "east"  # placed on n2; "command" (the config room) is n1's


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ...]]:
    """n1 (rooms in a media worker) and n2 (rooms in its own process), shared by the tests."""
    folder = tmp_path_factory.mktemp("bodies")
    with redis_server(folder) as url:
        first = start_node(folder, url, "n1", "127.0.0.2", workers=1, config=CONFIG)
        try:
            second = start_node(folder, url, "n2", "127.0.0.3", config=CONFIG)
            try:
                wait_until(lambda: len(_nodes(first)) == 2, 10, "both nodes up")
                placed = first.client.post("/api/v1/rooms", json={"name": EAST, "node": "n2"})
                assert placed.status_code == 201, placed.text
                directory = redis.Redis.from_url(url, decode_responses=True)
                claimed = lambda: directory.hget(f"mc:room:{EAST}", "node") == "n2"  # noqa: E731
                wait_until(claimed, 10, "the room in the directory")
                directory.close()
                yield first, second
            finally:
                second.stop()
        finally:
            first.stop()


def _nodes(server: ServerProcess) -> list[object]:
    response = server.client.get("/api/v1/nodes")
    return list(response.json()) if response.status_code == 200 else []


def _leg(server: ServerProcess, room: str) -> str:
    """A plain RTP participant in `room`, added through `server`'s API."""
    participant, _ = server.join(room, offer(port=free_tcp_port()))
    return participant


def test_a_text_to_a_room_is_sent_by_the_rooms_node(cluster: tuple[ServerProcess, ...]) -> None:
    first, second = cluster
    # n1 alone would say 404 unknown-party: the answer is n2's, whose room has no phones.
    for server in cluster:
        sent = server.client.post("/api/v1/messages", json={"to": EAST, "text": "evacuate"})
        assert sent.status_code == 409 and sent.json()["error"] == "no-phones", sent.text


def test_an_alarm_about_a_room_of_another_node_is_raised_and_acknowledged_anywhere(
    cluster: tuple[ServerProcess, ...],
) -> None:
    first, second = cluster
    raised = first.client.post("/api/v1/alarms", json={"room": EAST, "text": "smoke"})
    assert raised.status_code == 201, raised.text
    alarm = raised.json()
    assert alarm["room"] == EAST
    assert second.client.get(f"/api/v1/alarms/{alarm['id']}").status_code == 200
    read = first.client.get(f"/api/v1/alarms/{alarm['id']}")
    assert read.status_code == 200 and read.json()["text"] == "smoke", read.text
    acknowledged = first.client.post(f"/api/v1/alarms/{alarm['id']}/ack")
    assert acknowledged.status_code == 200, acknowledged.text
    assert second.client.get(f"/api/v1/alarms/{alarm['id']}").json()["state"] == "acknowledged"
    here = first.client.post("/api/v1/alarms", json={"room": "command", "text": "later"}).json()
    listed = [a["id"] for a in first.client.get("/api/v1/alarms").json()]
    assert listed == [a["id"] for a in second.client.get("/api/v1/alarms").json()]
    assert listed == [here["id"], alarm["id"]]  # every node's, newest first
    missing = first.client.get("/api/v1/alarms/a-nowhere")
    assert missing.status_code == 404 and missing.json()["error"] == "alarm-not-found"


def test_a_broadcast_is_made_by_the_broadcasters_node(cluster: tuple[ServerProcess, ...]) -> None:
    first, second = cluster
    speaker = _leg(second, EAST)
    started = first.client.post(
        "/api/v1/broadcasts", json={"participant": speaker, "rooms": [EAST]}
    )
    assert started.status_code == 201, started.text
    broadcast = started.json()
    assert (broadcast["participant"], broadcast["room"]) == (speaker, EAST)
    entry = first.client.get(f"/api/v1/rooms/{EAST}/participants/{speaker}").json()
    assert entry["priority"] == 3  # the broadcaster's emergency priority, on n2
    listed = first.client.get("/api/v1/broadcasts")
    assert [b["id"] for b in listed.json()] == [broadcast["id"]], listed.text
    assert first.client.delete(f"/api/v1/broadcasts/{broadcast['id']}").status_code == 204
    assert second.client.get("/api/v1/broadcasts").json() == []
    # Its voice cannot reach a room of another node: refused whole, nothing started.
    both = {"participant": speaker, "rooms": [EAST, "command"]}
    for server in cluster:
        refused = server.client.post("/api/v1/broadcasts", json=both)
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"] == "rooms-on-other-nodes"
    here = {"participant": speaker, "rooms": ["command"]}  # n1's room, n2's broadcaster
    for server in cluster:
        refused = server.client.post("/api/v1/broadcasts", json=here)
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"] == "rooms-on-other-nodes"
    assert second.client.get("/api/v1/broadcasts").json() == []
    gone = first.client.post(
        "/api/v1/broadcasts", json={"participant": "p-0000000000", "rooms": "all"}
    )
    assert gone.status_code == 404 and gone.json()["error"] == "participant-not-found"


def test_a_one_to_one_call_between_participants_of_another_node(
    cluster: tuple[ServerProcess, ...],
) -> None:
    first, second = cluster
    a, b = _leg(second, EAST), _leg(second, EAST)
    started = first.client.post("/api/v1/calls", json={"a": a, "b": b})
    assert started.status_code == 201, started.text
    call = started.json()
    wait_until(
        lambda: {p["id"] for p in second.roster(call["room"])} == {a, b}, 10, "both in the call"
    )
    read = first.client.get(f"/api/v1/calls/{call['id']}")
    assert read.status_code == 200 and read.json()["room"] == call["room"], read.text
    assert first.client.delete(f"/api/v1/calls/{call['id']}").status_code == 204
    back = wait_until(lambda: {p["id"] for p in second.roster(EAST)} >= {a, b} or None, 10, "back")
    assert back
    unknown = first.client.post("/api/v1/calls", json={"a": a, "b": "p-0000000000"})
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown-party"


def test_only_callers_allowed_the_route_are_sent_on_and_forged_marks_are_refused(
    cluster: tuple[ServerProcess, ...],
) -> None:
    first, _ = cluster
    expert = {"Authorization": f"Bearer {EXPERT_TOKEN}"}
    body = {"participant": "p-0000000000", "rooms": [EAST]}
    refused = httpx.post(f"{first.url}/api/v1/broadcasts", json=body, headers=expert)
    assert refused.status_code == 403, refused.text  # n1's own route, before any routing
    anonymous = httpx.post(f"{first.url}/api/v1/messages", json={"to": EAST, "text": "x"})
    assert anonymous.status_code == 401
    forged = first.client.post("/api/v1/alarms", json={"room": EAST}, headers={HEADER: "n2:1:00"})
    assert forged.status_code == 403 and forged.json()["error"] == "forged-forward", forged.text
