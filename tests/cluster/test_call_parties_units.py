"""How a one-to-one call finds a participant of another node (clusterparties.py) and how
that node answers (clustershards.py's party route): every other live node asked at once,
bounded, the answers read as found, busy, none or silent."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from mediacore.server import clusterparties
from mediacore.server.callparties import CallRefused
from mediacore.server.clusterparties import ClusterParties, party_path
from mediacore.server.privatecalls import Home
from tests.cluster.test_span_units import Asgi

YARD = {"room": "yard", "rate": 16000, "ptime": 20}


class Nodes:
    """Node a (this one) and what each other node answers: a result, an exception, "slow"."""

    name = "a"

    def __init__(self, answers: dict[str, Any], owner: str | None = "a") -> None:
        self.answers = answers
        self.asked: list[tuple[str, str]] = []
        self.room_owner = owner

    def others(self) -> list[str]:
        return sorted(self.answers)

    async def post(self, node: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        self.asked.append((node, path))
        answer = self.answers[node]
        if answer == "slow":
            await asyncio.sleep(10)
        if isinstance(answer, Exception):
            raise answer
        return 200, {"result": answer}

    async def owner(self, room: str) -> str | None:
        return self.room_owner


def parties(answers: dict[str, Any], owner: str | None = "a") -> ClusterParties:
    return ClusterParties(Nodes(answers, owner))  # type: ignore[arg-type]


async def test_the_node_whose_room_has_the_participant_is_found() -> None:
    found = parties({"b": None, "c": YARD})
    assert await found.find("p-1") == Home("yard", 16000, 20, "c")
    assert found.nodes.asked == [("b", party_path("p-1")), ("c", party_path("p-1"))]  # type: ignore[attr-defined]
    # a node that did not answer does not matter once another has it
    assert await parties({"b": httpx.ConnectError("no"), "c": YARD}).find("p-1") is not None
    assert await parties({"b": None, "c": None}).find("p-1") is None
    assert await parties({}).find("p-1") is None  # a node alone
    assert await parties({"b": {"room": 3}}).find("p-1") is None  # not an answer


async def test_busy_there_or_a_silent_node_is_a_clear_refusal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(CallRefused) as busy:
        await parties({"b": {"busy": True}, "c": YARD}).find("p-1")
    assert (busy.value.status, busy.value.code) == (409, "busy")
    monkeypatch.setattr(clusterparties, "PARTY_WAIT", 0.05)
    for silent in ("slow", httpx.ConnectError("refused")):
        with pytest.raises(CallRefused) as down:
            await parties({"b": silent, "c": None}).find("p-1")
        assert (down.value.status, down.value.code) == (503, "node-down")
        assert "'b'" in str(down.value)


async def test_a_call_s_room_waits_briefly_for_the_directory_to_name_this_node(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(clusterparties, "CLAIM_WAIT", 0.1)
    nodes = Nodes({}, owner=None)
    waiting = asyncio.get_running_loop().create_task(ClusterParties(nodes).claimed("call-1"))  # type: ignore[arg-type]
    await asyncio.sleep(0.03)
    assert not waiting.done()
    nodes.room_owner = "a"
    await asyncio.wait_for(waiting, 1.0)
    nodes.room_owner = None  # never named: it gives up after CLAIM_WAIT
    await asyncio.wait_for(ClusterParties(nodes).claimed("call-1"), 1.0)  # type: ignore[arg-type]


async def test_a_node_answers_where_its_participant_is_to_other_nodes_only() -> None:
    asgi = Asgi()
    assert await asgi.post(party_path("p-1"), {}) == (
        200,
        {"result": {"room": "home", "rate": 8000, "ptime": 20}},
    )
    assert await asgi.post(party_path("p-2"), {}) == (200, {"result": None})
    assert (await asgi.post(party_path("p-1"), {}, mark=None, read=False))[0] == 403
    assert (await asgi.post(party_path("p-1") + "/x", {}))[0] == 404
