"""The cluster's other nodes as a one-to-one call (privatecalls.py) needs them.

A participant no room of this node has is looked for on every other live node at once, each
asked through its internal route (`POST /api/v1/cluster/parties/{id}`, clustershards.py, with
the node mark), at most PARTY_WAIT seconds: the node whose room has it answers the room and its
format, and that room's owner moves it into the call's room (ShardedRooms.move asks it, the
cross-node move does the rest). A node that says the participant is in a call of its own makes
it 409 busy; none that has it while a node did not answer is 503 node-down (it may be that
node's). A call's new room waits (CLAIM_WAIT at most) until the directory names this node its
owner: a party's node looks it up there, and so does any node asked about the call."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import quote

import httpx

from mediacore.clock import MONOTONIC
from mediacore.server.callparties import CallRefused
from mediacore.server.privatecalls import Home
from mediacore.server.shardnodes import ShardNodes

log = logging.getLogger(__name__)

PARTIES = "/api/v1/cluster/parties/"
PARTY_WAIT = 2.0  # seconds another node has to say whether it has a participant
CLAIM_WAIT = 2.0  # seconds a call's room waits for the directory to name this node its owner
_UNANSWERED = object()


def party_path(participant: str) -> str:
    return PARTIES + quote(participant, safe="")


class ClusterParties:
    def __init__(self, nodes: ShardNodes) -> None:
        self.nodes = nodes

    async def find(self, participant: str) -> Home | None:
        """The room of another node that has `participant`; None when none has it. Raises
        CallRefused 409 busy, 503 node-down."""
        others = self.nodes.others()
        answers = await asyncio.gather(*(self._ask(node, participant) for node in others))
        said = dict(zip(others, answers, strict=True))
        for node, answer in said.items():
            if isinstance(answer, dict) and answer.get("busy"):
                detail = f"{participant} is in a call on node {node!r}"
                raise CallRefused(409, "busy", detail)
        for node, answer in said.items():
            if isinstance(answer, dict):
                home = _home(node, answer)
                if home is not None:
                    return home
        silent = sorted(node for node, answer in said.items() if answer is _UNANSWERED)
        if silent:
            detail = f"no participant {participant!r} found; node(s) {silent} did not answer"
            raise CallRefused(503, "node-down", detail)
        return None

    async def claimed(self, room: str) -> None:
        deadline = MONOTONIC.now() + CLAIM_WAIT
        while await self.nodes.owner(room) != self.nodes.name and MONOTONIC.now() < deadline:
            await asyncio.sleep(0.02)

    async def _ask(self, node: str, participant: str) -> Any:
        """Node `node`'s answer (a dict, or None), or _UNANSWERED."""
        try:
            status, body = await asyncio.wait_for(
                self.nodes.post(node, party_path(participant), {}), PARTY_WAIT
            )
        except (httpx.HTTPError, OSError, ValueError, TimeoutError) as error:
            log.info("node not asked for a call's party: %s", error, extra={"node": node})
            return _UNANSWERED
        if status != 200 or not isinstance(body, dict):
            return _UNANSWERED
        return body.get("result")


def _home(node: str, answer: dict[str, Any]) -> Home | None:
    room, rate, ptime = answer.get("room"), answer.get("rate"), answer.get("ptime")
    if isinstance(room, str) and isinstance(rate, int) and isinstance(ptime, int):
        return Home(room, rate, ptime, node)
    return None
