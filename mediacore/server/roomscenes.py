"""What each room looks like to a wall, followed from the event bus: who is in it (in join
order, with names), who is talking (with the level they started at) and who holds the floor.

Walls read rooms through this instead of the rooms themselves, so a wall shows a room the same
way whether the room runs in this process or on media workers (whose events reach this bus)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mediacore.events import Event, EventBus


@dataclass(slots=True)
class RoomScene:
    members: dict[str, str] = field(default_factory=dict)  # participant id -> name, join order
    talking: dict[str, float] = field(default_factory=dict)  # participant id -> level at onset
    floor: str | None = None

    def loudest(self) -> str | None:
        """The talker who started loudest, None when nobody talks."""
        if not self.talking:
            return None
        return max(self.talking, key=lambda pid: self.talking[pid])


class RoomScenes:
    def __init__(self, bus: EventBus) -> None:
        self._rooms: dict[str, RoomScene] = {}
        bus.listen(self._event)

    def get(self, room: str) -> RoomScene | None:
        return self._rooms.get(room)

    def names(self) -> dict[str, str]:
        """Every participant's name (its id when it has none), over every room."""
        return {pid: name for scene in self._rooms.values() for pid, name in scene.members.items()}

    def _event(self, event: Event) -> None:
        if event.room is None:
            return
        kind, data = event.type, event.data
        if kind in ("room.closed",):
            self._rooms.pop(event.room, None)
            return
        scene = self._rooms.setdefault(event.room, RoomScene())
        if kind == "participant.joined":
            entry = data["participant"]
            scene.members[entry["id"]] = entry.get("name") or entry["id"]
        elif kind == "participant.left":
            pid = data["participant"]
            scene.members.pop(pid, None)
            scene.talking.pop(pid, None)
            if scene.floor == pid:
                scene.floor = None
        elif kind == "talking":
            if data.get("talking"):
                scene.talking[data["participant"]] = float(data.get("level_db") or -127.0)
            else:
                scene.talking.pop(data["participant"], None)
        elif kind == "floor.granted":
            scene.floor = data["participant"]
        elif kind in ("floor.released", "floor.revoked") and scene.floor == data["participant"]:
            scene.floor = None
