"""Where a request about a clustered room is served: this node, the room's intake, its owner.

A room is owned by one node (`mc:room:<room>` `node`, `http`); while it has a shard on another
node, the owner also writes that node as the room's *intake* (`intake`, `intake_http`), the node
that takes the room's new legs. So:

- a request that adds a leg to the room (`POST .../rtp`, `.../whip`, `.../whep`, the WebRTC
  signalling WebSocket `.../webrtc`) is served here when this node holds a shard of the room,
  else by the intake node while there is a live one, else by the owner;
- anything else about the room is served by the owner (here when this node owns it).

Pure: `route` decides from the directory entry and what the caller knows of this node;
clusterforward.py reads the entry and passes the request on."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

# The tail of /api/v1/rooms/{room}/... that adds a leg, by request kind.
_LEG_TAILS = {"http": frozenset({"rtp", "whip", "whep"}), "websocket": frozenset({"webrtc"})}
_TAIL = re.compile(r"^/api/v1/rooms/[^/]+/([^/]+)/?$")


@dataclass(frozen=True, slots=True)
class RoomEntry:
    """A room's directory entry (`mc:room:<room>`): its owner and, maybe, its intake node."""

    node: str
    http: str
    intake: str = ""
    intake_http: str = ""

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> RoomEntry | None:
        """The entry in a `mc:room:<room>` hash; None when the room is not placed."""
        if not fields.get("node"):
            return None
        intake, intake_http = fields.get("intake", ""), fields.get("intake_http", "")
        if not intake or not intake_http:
            intake = intake_http = ""  # half an intake is none
        return cls(fields["node"], fields.get("http", ""), intake, intake_http)


@dataclass(frozen=True, slots=True)
class Route:
    """Where a request goes: `node` "" is this node's own routes; `down` a dead owner."""

    node: str = ""
    http: str = ""
    down: bool = False

    @property
    def here(self) -> bool:
        return not self.node


HERE = Route()


def adds_leg(kind: str, method: str, path: str) -> bool:
    """Whether the request (scope type `kind`: "http" or "websocket") adds a leg to a room."""
    found = _TAIL.match(path)
    if found is None or (kind == "http" and method != "POST"):
        return False
    return found.group(1) in _LEG_TAILS.get(kind, frozenset())


def route(
    entry: RoomEntry | None,
    *,
    here: str,
    hosted: bool,
    leg: bool,
    alive: Callable[[str], bool],
) -> Route:
    """Where a request about a room goes. `here`: this node's name; `hosted`: whether this node
    has the room open (as its owner or holding a shard of it); `leg`: whether the request adds a
    leg; `alive`: whether a node is up."""
    if entry is None:
        return HERE  # not placed anywhere: this node's routes answer (an unknown room: 404)
    if leg:
        if hosted:
            return HERE
        if entry.intake and entry.intake != here and alive(entry.intake):
            return Route(entry.intake, entry.intake_http)
    if entry.node == here:
        return HERE
    if not alive(entry.node):
        return Route(entry.node, entry.http, down=True)
    return Route(entry.node, entry.http)
