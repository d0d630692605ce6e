"""This node's calls in Redis against a real Redis: written when they change, deleted when they
end, and taken over by exactly one survivor."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest_asyncio
import redis.asyncio as aioredis

from mediacore.events import Event, EventBus
from mediacore.server.callrecord import GIVE_UP
from mediacore.server.clustercalls import ClusterCalls
from tests.cluster.sipcalls import make_call


class _Agent:
    """The user agent as ClusterCalls reads it: its calls, and the rooms they are in."""

    def __init__(self) -> None:
        self.calls: dict[tuple[str, str], Any] = {}
        self.room = SimpleNamespace(participants={})

    def rooms(self, name: str) -> Any:
        return self.room if name == "command" else None


class _Gateways:
    def gateway_of(self, participant: str) -> str:
        return ""


@pytest_asyncio.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    connection = aioredis.from_url(redis_url, decode_responses=True)
    yield connection
    await connection.aclose()


def _node(name: str, client: aioredis.Redis, bus: EventBus | None = None) -> ClusterCalls:
    agent = _Agent()
    return ClusterCalls(name, client, agent, None, _Gateways(), bus or EventBus())  # type: ignore[arg-type]


async def test_a_call_is_written_once_rewritten_when_it_changes_and_deleted_when_it_ends(
    client: aioredis.Redis,
) -> None:
    node = _node("n1", client)
    call = make_call()
    node.agent.calls[("abc123@phone", "ours")] = call
    node.agent.room.participants["p-1"] = SimpleNamespace(id="p-1", name="Desk 7", priority=0)  # type: ignore[attr-defined]
    await node.sync()
    assert await client.smembers("mc:calls:n1") == {"abc123@phone"}
    assert await client.hget("mc:call:n1:abc123@phone", "name") == "Desk 7"
    call.dialog.local_cseq += 1  # a keep-alive went out  # type: ignore[union-attr]
    await node.sync()
    assert await client.hget("mc:call:n1:abc123@phone", "local_cseq") == "42"
    call.ended = True
    await node.sync()
    assert await client.smembers("mc:calls:n1") == set()
    assert not await client.exists("mc:call:n1:abc123@phone")


async def test_only_one_survivor_takes_a_call_over_and_a_caller_it_cannot_reach_is_given_up(
    client: aioredis.Redis,
) -> None:
    dead = _node("n1", client)
    dead.agent.calls[("abc123@phone", "ours")] = make_call()
    dead.agent.room.participants["p-1"] = SimpleNamespace(id="p-1", name="Desk 7", priority=0)  # type: ignore[attr-defined]
    await dead.sync()
    heard: list[Event] = []
    bus = EventBus()
    bus.listen(heard.append)
    # The survivors have no room "command" open: the re-INVITE cannot be made, and an inbound
    # call is then given up.
    survivors = [_node("n2", client, bus), _node("n3", client, bus)]
    first, second = await asyncio.gather(*(s.take_over("command", "n1") for s in survivors))
    assert sorted([first, second], key=len) == [[], [{"participant": "p-1", "outcome": GIVE_UP}]]
    (lost,) = [e for e in heard if e.type == "call.lost"]
    assert lost.data["from_node"] == "n1" and lost.data["reason"] == "node-lost"
    assert not await client.exists("mc:call:n1:abc123@phone")
    assert await client.smembers("mc:calls:n1") == set()


async def test_other_rooms_calls_stay_for_their_own_survivor(client: aioredis.Redis) -> None:
    dead = _node("n1", client)
    dead.agent.calls[("abc123@phone", "ours")] = make_call()
    dead.agent.room.participants["p-1"] = SimpleNamespace(id="p-1", name="Desk 7", priority=0)  # type: ignore[attr-defined]
    await dead.sync()
    assert await _node("n2", client).take_over("elsewhere", "n1") == []
    assert await client.smembers("mc:calls:n1") == {"abc123@phone"}


async def test_redis_unreachable_never_raises() -> None:
    client = aioredis.from_url(
        "redis://127.0.0.1:1/0", socket_timeout=0.2, socket_connect_timeout=0.2
    )
    node = _node("n1", client)
    node.agent.calls[("abc123@phone", "ours")] = make_call()
    node.agent.room.participants["p-1"] = SimpleNamespace(id="p-1", name="Desk 7", priority=0)  # type: ignore[attr-defined]
    await node.sync()
    assert node.written == {}  # tried again next round
    assert await node.take_over("command", "n0") == []
    await node.withdraw()
    await client.aclose()
