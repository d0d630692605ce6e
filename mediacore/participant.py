"""A participant: one endpoint in one room, with the state the control API changes."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from mediacore.clock import iso8601, utc_now
from mediacore.codecs.base import Pcm
from mediacore.endpoint import Endpoint

Duplex = Literal["full", "half"]
PRIORITIES = range(0, 4)  # 0 normal, 1 dispatcher, 2 commander, 3 emergency


class AudioFeed(Protocol):
    """Audio a participant hears besides its room's mix (a room it monitors), at its room's
    rate, gain applied."""

    def read(self, now: float) -> Pcm | None: ...


class FrameSink(Protocol):
    """Where a participant's own frames go besides its room (a room it transmits into)."""

    def push(self, pcm: Pcm, now: float) -> None: ...


def new_participant_id() -> str:
    return "p-" + secrets.token_hex(5)


@dataclass(slots=True, eq=False)
class Participant:
    name: str
    endpoint: Endpoint
    id: str = field(default_factory=new_participant_id)
    duplex: Duplex = "full"
    priority: int = 0
    muted: bool = False
    deaf: bool = False
    gain_db: float = 0.0
    # Written by the mixer each tick; read by the API.
    talking: bool = False
    level_db: float = -127.0
    has_floor: bool = False
    held: bool = False  # on hold: not mixed, hears music (mediacore/holdmusic.py)
    joined_at: datetime = field(default_factory=utc_now)
    # Who it hears beyond mix-minus (ids of its room's participants, sorted): never these...
    hear_not: tuple[str, ...] = ()
    # ...or, when not empty, only these.
    hear_only: tuple[str, ...] = ()
    # Other rooms it hears ({"room", "gain_db"}), talks into, and broadcasts to (the relays,
    # mediacore/relays.py, keep these and the two below).
    monitor: tuple[dict[str, Any], ...] = ()
    transmit: tuple[str, ...] = ()
    broadcast: tuple[str, ...] = ()
    feeds: tuple[AudioFeed, ...] = ()
    uplinks: tuple[FrameSink, ...] = ()

    @property
    def kind(self) -> str:
        return self.endpoint.kind

    def roster_entry(self) -> dict[str, Any]:
        details = self.endpoint.describe()
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "duplex": self.duplex,
            "priority": self.priority,
            "muted": self.muted,
            "deaf": self.deaf,
            "gain_db": self.gain_db,
            "talking": self.talking,
            "level_db": round(self.level_db, 1),
            "has_floor": self.has_floor,
            "held": self.held,
            "codec": details.get("codec"),
            "joined_at": iso8601(self.joined_at),
            "hear_not": list(self.hear_not),
            "hear_only": list(self.hear_only),
            "monitor": [dict(m) for m in self.monitor],
            "transmit": list(self.transmit),
            "broadcast": list(self.broadcast),
            **{key: value for key, value in details.items() if key not in ("codec", "held")},
        }
