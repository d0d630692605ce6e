"""Who is in the cluster, who is alive, who is least loaded: decided from the nodes' hashes.

Sans-I/O: `NodeRecord` is one `mc:node:<name>` hash as Redis returns it (strings), and
`ClusterView` answers every question about liveness and placement from a set of records and a
clock, so the rules are tested with a fake clock and no Redis (clusternode.py does the I/O).

A node is *dead* when it has not announced itself for `dead_after_ms`, or when its hash is
gone (it stopped cleanly and withdrew it, or it expired) while its name is still in
`mc:nodes`."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

UP, DRAINING, DEAD = "up", "draining", "dead"


def _number(fields: Mapping[str, str], key: str) -> float:
    try:
        value = float(fields.get(key, "0"))
    except ValueError:
        return 0.0
    return value if math.isfinite(value) else 0.0


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """One node's announcement (`mc:node:<name>`)."""

    name: str
    address: str = ""
    http: str = ""  # base URL of its API, e.g. http://10.0.0.11:8080
    sip: str = ""  # ADDR:PORT of its SIP listener
    state: str = UP  # what the node says of itself: up or draining
    rooms: int = 0
    legs: int = 0
    cores: int = 1
    load: float = 0.0  # 0..1: CPU share of the node's process tree
    started: int = 0  # Unix seconds
    last_seen: int = 0  # Unix milliseconds; 0: never, or withdrawn
    cert: str = ""  # PEM of its HTTPS certificate: the one other nodes trust when forwarding

    @classmethod
    def from_hash(cls, name: str, fields: Mapping[str, str]) -> NodeRecord:
        """The record from a hash; missing or garbled numbers read as 0, never raise."""
        return cls(
            name=name,
            address=fields.get("address", ""),
            http=fields.get("http", ""),
            sip=fields.get("sip", ""),
            state=fields.get("state", UP),
            rooms=int(_number(fields, "rooms")),
            legs=int(_number(fields, "legs")),
            cores=max(1, int(_number(fields, "cores"))),
            load=min(1.0, max(0.0, _number(fields, "load"))),
            started=int(_number(fields, "started")),
            last_seen=int(_number(fields, "last_seen")),
            cert=fields.get("cert", ""),
        )

    def to_hash(self) -> dict[str, str]:
        return {
            "name": self.name,
            "address": self.address,
            "http": self.http,
            "sip": self.sip,
            "state": self.state,
            "rooms": str(self.rooms),
            "legs": str(self.legs),
            "cores": str(self.cores),
            "load": f"{self.load:.3f}",
            "started": str(self.started),
            "last_seen": str(self.last_seen),
            "cert": self.cert,
        }


class ClusterView:
    """The nodes as last read, judged against `clock` (Unix milliseconds)."""

    def __init__(
        self, dead_after_ms: int, clock: Callable[[], float], records: Iterable[NodeRecord] = ()
    ) -> None:
        self.dead_after_ms = dead_after_ms
        self.clock = clock
        self.records: dict[str, NodeRecord] = {}
        self.update(records)

    def update(self, records: Iterable[NodeRecord]) -> None:
        """Replace what is known with a fresh reading (every node of `mc:nodes`)."""
        self.records = {record.name: record for record in records}

    def state(self, name: str) -> str:
        record = self.records.get(name)
        if record is None or self.clock() - record.last_seen > self.dead_after_ms:
            return DEAD
        return DRAINING if record.state == DRAINING else UP

    def alive(self, name: str) -> bool:
        return self.state(name) != DEAD

    def live(self) -> list[NodeRecord]:
        """The nodes that are up (draining nodes take no new rooms), by name."""
        return [r for _, r in sorted(self.records.items()) if self.state(r.name) == UP]

    def dead(self) -> list[str]:
        return sorted(name for name in self.records if self.state(name) == DEAD)

    def least_loaded(self, exclude: frozenset[str] = frozenset()) -> NodeRecord | None:
        """Where a new room goes: the live node with the least CPU load (in steps of 5 %, so
        noise does not flip it), then the fewest legs, then the fewest rooms, then by name;
        not one of `exclude` (a room growing onto another node)."""
        return min(
            (r for r in self.live() if r.name not in exclude),
            key=lambda r: (round(r.load * 20), r.legs, r.rooms, r.name),
            default=None,
        )

    def listing(self) -> list[dict[str, Any]]:
        """GET /api/v1/nodes: every node, the dead ones too, by name."""
        return [
            {
                "name": record.name,
                "address": record.address,
                "state": self.state(record.name),
                "rooms": record.rooms,
                "legs": record.legs,
                "last_seen": record.last_seen,
                "http": record.http,
                "sip": record.sip,
                "load": record.load,
                "cores": record.cores,
            }
            for _, record in sorted(self.records.items())
        ]


def orphans(view: ClusterView, owners: Mapping[str, str]) -> dict[str, str]:
    """{room: dead owner} for the rooms of `owners` ({room: node}) whose node is dead."""
    return {room: node for room, node in sorted(owners.items()) if not view.alive(node)}


def takes_over(view: ClusterView, me: str, orphaned_since_ms: float, grace_ms: int) -> bool:
    """Whether node `me` claims a dead node's room now: the least-loaded live node claims at
    once; any live node does once the room has been orphaned `grace_ms` (the nodes' readings
    of the loads may differ, and the one they agree on may itself die). The claim itself
    (SET NX) lets only one of them win."""
    least = view.least_loaded()
    if least is None or view.state(me) != UP:
        return False
    return least.name == me or view.clock() - orphaned_since_ms >= grace_ms
