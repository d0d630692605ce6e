"""What /metrics shows of a room, as plain data that can cross the control channel.

A room's clock timings are kept as bucket counts (`TickTimings`, fed by a tick observer), and a
scrape takes a `RoomSnapshot` of each room: in this process, or from each media worker as JSON.
Shards of one room merge into one snapshot, so a room that spans workers is one room here too."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any

from mediacore.room import Room

# Tick lateness and mix time buckets, in seconds: a tick is 10-20 ms.
TIMING_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1)


@dataclass(slots=True)
class Histogram:
    """Counts per bucket (not cumulative; the last is +Inf), their sum and count."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(TIMING_BUCKETS) + 1))
    sum: float = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(TIMING_BUCKETS, value)] += 1
        self.sum += value

    def merge(self, other: Histogram) -> Histogram:
        return Histogram(
            [a + b for a, b in zip(self.counts, other.counts, strict=True)], self.sum + other.sum
        )

    def cumulative(self) -> list[tuple[str, float]]:
        """(upper bound, count at or below it) pairs, as Prometheus wants them."""
        total, buckets = 0, []
        for bound, count in zip((*map(str, TIMING_BUCKETS), "+Inf"), self.counts, strict=True):
            total += count
            buckets.append((bound, float(total)))
        return buckets

    def to_json(self) -> dict[str, Any]:
        return {"counts": list(self.counts), "sum": self.sum}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Histogram:
        return cls(list(data["counts"]), float(data["sum"]))


class TickTimings:
    """Per room: how late each tick ran and how long its mix took. A room tick observer."""

    def __init__(self) -> None:
        self.lateness: dict[str, Histogram] = {}
        self.mix: dict[str, Histogram] = {}

    def observe_tick(self, room: Room, lateness: float, mix_seconds: float) -> None:
        late = self.lateness.get(room.name)
        if late is None:
            late = self.lateness[room.name] = Histogram()
            self.mix[room.name] = Histogram()
        late.observe(max(0.0, lateness))
        self.mix[room.name].observe(mix_seconds)

    def forget(self, room: str) -> None:
        self.lateness.pop(room, None)
        self.mix.pop(room, None)


@dataclass(frozen=True, slots=True)
class RoomSnapshot:
    name: str
    ticks: int
    late_ticks: int
    skipped_ticks: int
    encodes: int
    legs: list[tuple[str, str, dict[str, float]]]  # (participant id, kind, statistics)
    floor_held: bool = False
    lateness: Histogram = field(default_factory=Histogram)
    mix: Histogram = field(default_factory=Histogram)
    worker: int | None = None

    def merge(self, other: RoomSnapshot) -> RoomSnapshot:
        """One room from two of its shards: legs and counts add up, ticks are the room's."""
        return RoomSnapshot(
            self.name,
            max(self.ticks, other.ticks),
            self.late_ticks + other.late_ticks,
            self.skipped_ticks + other.skipped_ticks,
            self.encodes + other.encodes,
            self.legs + other.legs,
            self.floor_held or other.floor_held,
            self.lateness.merge(other.lateness),
            self.mix.merge(other.mix),
            self.worker,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ticks": self.ticks,
            "late_ticks": self.late_ticks,
            "skipped_ticks": self.skipped_ticks,
            "encodes": self.encodes,
            "legs": [list(leg) for leg in self.legs],
            "floor_held": self.floor_held,
            "lateness": self.lateness.to_json(),
            "mix": self.mix.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], worker: int | None = None) -> RoomSnapshot:
        return cls(
            data["name"],
            data["ticks"],
            data["late_ticks"],
            data["skipped_ticks"],
            data["encodes"],
            [(pid, kind, stats) for pid, kind, stats in data["legs"]],
            data["floor_held"],
            Histogram.from_json(data["lateness"]),
            Histogram.from_json(data["mix"]),
            worker,
        )


def room_snapshot(room: Room, timings: TickTimings) -> RoomSnapshot:
    """Copy what a scrape shows of `room`; call it in the room's event loop."""
    legs = [
        (participant.id, participant.kind, participant.endpoint.statistics())
        for participant in list(room.participants.values())
    ]
    clock = room.clock
    return RoomSnapshot(
        room.name,
        clock.ticks,
        clock.late_ticks,
        clock.skipped_ticks,
        room.mixer.encodes,
        legs,
        room.floor.holder is not None,
        timings.lateness.get(room.name, Histogram()),
        timings.mix.get(room.name, Histogram()),
    )


def merge_shards(snapshots: list[RoomSnapshot]) -> list[RoomSnapshot]:
    """One snapshot per room name, shards merged, in first-seen order."""
    rooms: dict[str, RoomSnapshot] = {}
    for snapshot in snapshots:
        seen = rooms.get(snapshot.name)
        rooms[snapshot.name] = snapshot if seen is None else seen.merge(snapshot)
    return list(rooms.values())
