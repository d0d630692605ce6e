"""Where a recording of the cluster is served: which node to send a request about it to.

A recording's id ends with the name of the node that made it (recorder/recordingid.py), an
export job's with the node that renders it. A recording is served:

- here, when this node has it (its own, or one of a dead node's it has taken over from the
  shared store, clusterstore.py);
- by the node that made it, while that node is alive;
- while it is dead, by the survivor holding the claim on its recordings
  (`mc:own:recordings:<node>`, clusterstore.py), when the cluster has a shared store;
- by nobody otherwise: the caller is told the node is down (503).

Recordings made before the node joined a cluster carry no node name: they are looked for on
every live node (clusterforward.py asks them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from mediacore.server import clusterredis as keys
from mediacore.server.clusternode import ClusterNode
from mediacore.server.clusterview import NodeRecord
from recorder.recordingid import origin_node

RECORDINGS_KIND = "recordings"  # mc:own:recordings:<node>: who serves a dead node's recordings


@dataclass(frozen=True, slots=True)
class Place:
    """Where a request about a recording or export goes: `node` (None: here, or unknown when
    `anywhere`), or nowhere when `down` names the dead node that made it."""

    node: NodeRecord | None = None
    down: str = ""
    anywhere: bool = False  # no node in its name and not here: ask the live nodes


class RecordingPlaces:
    def __init__(
        self, node: ClusterNode, redis: aioredis.Redis, held_here: Callable[[str], bool]
    ) -> None:
        """`held_here`: whether this node serves the recording now."""
        self.node = node
        self.redis = redis
        self.held_here = held_here

    async def recording(self, recording_id: str) -> Place:
        if self.held_here(recording_id):
            return Place()
        origin = origin_node(recording_id)
        if origin is None:
            return Place(anywhere=True)
        if origin == self.node.name:
            return Place()  # ours, and not found: this node's 404
        view = self.node.view
        if view.alive(origin):
            return Place(view.records[origin])
        try:
            holder = await self.redis.get(keys.own_key(RECORDINGS_KIND, origin))
        except (RedisError, OSError):
            holder = None
        if holder and holder != self.node.name and view.alive(str(holder)):
            return Place(view.records[str(holder)])
        return Place(down=origin)

    def export(self, job_id: str) -> Place:
        """Export jobs live in the memory of the node rendering them."""
        origin = origin_node(job_id)
        if origin is None or origin == self.node.name:
            return Place()
        view = self.node.view
        return Place(view.records[origin]) if view.alive(origin) else Place(down=origin)
