"""Prometheus metrics at /metrics: the room clocks, the mixer, and every leg.

Per-packet code only bumps plain integers on the legs. A scrape copies them in the event loop
(about 2 ms for 500 legs) and renders the text in a worker thread: rendering thousands of
samples takes tens of milliseconds, which would stall every room's clock if done in the loop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from mediacore.events import Event
from mediacore.server.directory import RoomDirectory
from mediacore.server.metricsdata import RoomSnapshot, TickTimings, merge_shards, room_snapshot

_LEG_COUNTERS = {
    "packets_received": "RTP packets received from the leg",
    "packets_sent": "RTP packets sent to the leg",
    "packets_lost": "RTP packets the leg's sender lost (RFC 3550 cumulative)",
    "late_packets": "packets that arrived after their playout time",
    "concealed_packets": "packets concealed by PLC, FEC or silence",
    "dropped_packets": "datagrams dropped: malformed, wrong payload type, unknown source, size",
    "foreign_packets": "datagrams dropped because they came from an address the leg is not "
    "latched to (a stranger sending to its port)",
    "srtp_auth_failures": "SRTP or SRTCP packets dropped because they did not authenticate",
    "keepalives_received": "ED-137 R2S keep-alives received from a radio gateway",
    "keepalives_sent": "ED-137 R2S keep-alives sent to a radio gateway",
    "squelch_changes": "times a radio gateway's squelch (or VOX) opened or closed",
}
_LEG_GAUGES = {
    "jitter_seconds": "RFC 3550 interarrival jitter of the leg",
    "buffer_delay_seconds": "audio waiting in the leg's jitter buffer",
}


_SIP_COUNTERS = {
    "received": "SIP messages received",
    "sent": "SIP messages sent (retransmissions included)",
    "malformed": "SIP messages that could not be parsed (answered 400 or dropped)",
    "dropped": "SIP messages dropped unread because their address is blocked",
}
_WALL_OUTPUT_COUNTERS = {
    "frames_sent": "wall output frames encoded and sent",
    "frames_dropped": "wall output frames dropped because the encoder or link fell behind",
    "frames_late": "wall output frames sent more than a frame period after their deadline",
    "reconnects": "wall output connections lost or refused",
}
_SIP_GAUGES = {
    "calls": "SIP calls in progress",
    "registrations": "registered SIP contacts",
    "transactions": "live SIP transactions",
    "tcp_connections": "open SIP TCP connections",
}


class MediaMetrics:
    def __init__(
        self, directory: RoomDirectory, sip: Callable[[], dict[str, float]] | None = None
    ) -> None:
        self.sip = sip
        # {"walls": stats by wall name, "decoders": stats by source} from the wall service,
        # asked of the walls' video processes
        self.walls: Callable[[], Awaitable[dict[str, dict[str, Any]]]] | None = None
        self.registry = CollectorRegistry()
        self.timings = TickTimings()  # a tick observer of every room in this process
        self.observe_tick = self.timings.observe_tick
        # Worker mode: the rooms' snapshots from the media workers, and the workers themselves.
        self.remote_rooms: Callable[[], Awaitable[list[RoomSnapshot]]] | None = None
        self.workers: Callable[[], list[dict[str, Any]]] | None = None
        self.floor_events = Counter(
            "mediacore_floor_events",
            "floor and radio link events: granted, denied, queued, released, revoked, timeout, "
            "radio lost, restored, flapping",
            ["room", "event"],
            registry=self.registry,
        )
        self.directory = directory
        directory.bus.listen(self._count_floor_event)

    def _count_floor_event(self, event: Event) -> None:
        if event.type.startswith(("floor.", "radio.")) and event.room is not None:
            self.floor_events.labels(event.room, event.type).inc()

    async def snapshot(self) -> Snapshot:
        """Copy what the collector needs; call it in the event loop."""
        rooms = [room_snapshot(room, self.timings) for room in list(self.directory.rooms.values())]
        if self.remote_rooms is not None:
            rooms += await self.remote_rooms()
        return Snapshot(
            merge_shards(rooms),
            self.directory.ports.in_use,
            self.sip() if self.sip else {},
            await self.walls() if self.walls else {},
            self.workers() if self.workers else [],
        )

    def render(self, snapshot: Snapshot) -> bytes:
        """The exposition text; safe to call in a worker thread."""
        per_scrape = CollectorRegistry()
        per_scrape.register(_SnapshotCollector(snapshot))
        return generate_latest(self.registry) + generate_latest(per_scrape)


@dataclass(frozen=True, slots=True)
class Snapshot:
    rooms: list[RoomSnapshot]
    ports_in_use: int
    sip: dict[str, float]
    walls: dict[str, dict[str, Any]] = field(default_factory=dict)
    workers: list[dict[str, Any]] = field(default_factory=list)


class _SnapshotCollector(Collector):
    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        rooms = self.snapshot.rooms
        ticks = CounterMetricFamily("mediacore_ticks", "mixer ticks run", labels=["room"])
        late = CounterMetricFamily(
            "mediacore_late_ticks", "mixer ticks more than 5 ms late", labels=["room"]
        )
        skipped = CounterMetricFamily(
            "mediacore_skipped_ticks", "ticks skipped after a stall", labels=["room"]
        )
        participants = GaugeMetricFamily(
            "mediacore_participants", "participants in the room", labels=["room"]
        )
        encodes = CounterMetricFamily(
            "mediacore_encodes",
            "audio packets encoded by the mixer (shared encodes count once)",
            labels=["room"],
        )
        floor = GaugeMetricFamily(
            "mediacore_floor_held", "1 while someone holds the room's floor", labels=["room"]
        )
        for room in rooms:
            floor.add_metric([room.name], 1.0 if room.floor_held else 0.0)
            ticks.add_metric([room.name], room.ticks)
            late.add_metric([room.name], room.late_ticks)
            skipped.add_metric([room.name], room.skipped_ticks)
            participants.add_metric([room.name], len(room.legs))
            encodes.add_metric([room.name], room.encodes)
        yield from (ticks, late, skipped, participants, encodes, floor)
        yield from self._timings(rooms)
        yield from self._legs(rooms)
        yield from self._workers(self.snapshot.workers)
        ports = GaugeMetricFamily("mediacore_rtp_ports_in_use", "RTP port pairs bound")
        ports.add_metric([], self.snapshot.ports_in_use)
        yield ports
        for key, text in _SIP_COUNTERS.items():
            counter = CounterMetricFamily(f"mediacore_sip_{key}_messages", text)
            counter.add_metric([], self.snapshot.sip.get(key, 0))
            yield counter
        for key, text in _SIP_GAUGES.items():
            gauge = GaugeMetricFamily(f"mediacore_sip_{key}", text)
            gauge.add_metric([], self.snapshot.sip.get(key, 0))
            yield gauge
        yield from self._walls(self.snapshot.walls)

    def _walls(self, statistics: dict[str, dict[str, Any]]) -> Iterator[Metric]:
        walls, decoders = statistics.get("walls", {}), statistics.get("decoders", {})
        painted = CounterMetricFamily(
            "mediacore_wall_frames_painted", "wall canvases painted", labels=["wall"]
        )
        missed = CounterMetricFamily(
            "mediacore_wall_ticks_missed",
            "wall frames skipped because painting fell a whole frame behind",
            labels=["wall"],
        )
        paint = GaugeMetricFamily(
            "mediacore_wall_paint_seconds_p99",
            "99th percentile of the time to paint a canvas",
            labels=["wall"],
        )
        out_labels = ["wall", "output", "kind"]
        outputs = {
            key: CounterMetricFamily(f"mediacore_wall_output_{key}", text, labels=out_labels)
            for key, text in _WALL_OUTPUT_COUNTERS.items()
        }
        live = GaugeMetricFamily(
            "mediacore_wall_output_live", "1 while the output is connected", labels=out_labels
        )
        send = GaugeMetricFamily(
            "mediacore_wall_output_latency_seconds_p99",
            "99th percentile from a frame's deadline to its encoded frame leaving",
            labels=out_labels,
        )
        decoded = CounterMetricFamily(
            "mediacore_wall_decoder_frames", "source frames decoded for walls", labels=["source"]
        )
        errors = CounterMetricFamily(
            "mediacore_wall_decoder_errors", "corrupt source frames", labels=["source"]
        )
        for name, stats in walls.items():
            painted.add_metric([name], stats["frames_painted"])
            missed.add_metric([name], stats["ticks_missed"])
            if stats["paint_ms_p99"] is not None:
                paint.add_metric([name], stats["paint_ms_p99"] / 1000)
            for index, output in enumerate(stats["outputs"]):
                labels = [name, str(index), output["kind"]]
                for key, family in outputs.items():
                    family.add_metric(labels, output[key])
                live.add_metric(labels, 1.0 if output["state"] == "live" else 0.0)
                if output["send_ms_p99"] is not None:
                    send.add_metric(labels, output["send_ms_p99"] / 1000)
        for source, decoder in decoders.items():
            decoded.add_metric([source], decoder["frames_decoded"])
            errors.add_metric([source], decoder["errors"])
        yield from (painted, missed, paint, *outputs.values(), live, send, decoded, errors)

    @staticmethod
    def _timings(rooms: list[RoomSnapshot]) -> Iterator[Metric]:
        lateness = HistogramMetricFamily(
            "mediacore_tick_lateness_seconds",
            "how far past its deadline each mixer tick ran",
            labels=["room"],
        )
        mix = HistogramMetricFamily(
            "mediacore_mix_seconds", "time one mixer tick took", labels=["room"]
        )
        for room in rooms:
            lateness.add_metric([room.name], room.lateness.cumulative(), room.lateness.sum)
            mix.add_metric([room.name], room.mix.cumulative(), room.mix.sum)
        yield from (lateness, mix)

    @staticmethod
    def _workers(workers: list[dict[str, Any]]) -> Iterator[Metric]:
        if not workers:
            return
        labels = ["worker"]
        up = GaugeMetricFamily(
            "mediacore_worker_up", "1 while the media worker runs", labels=labels
        )
        cpu = CounterMetricFamily(
            "mediacore_worker_cpu_seconds", "CPU time the media worker used", labels=labels
        )
        rooms = GaugeMetricFamily(
            "mediacore_worker_rooms", "rooms and room shards on the worker", labels=labels
        )
        legs = GaugeMetricFamily("mediacore_worker_legs", "legs on the worker", labels=labels)
        late = CounterMetricFamily(
            "mediacore_worker_late_ticks", "ticks more than 5 ms late on the worker", labels=labels
        )
        restarts = CounterMetricFamily(
            "mediacore_worker_restarts", "times the worker was restarted", labels=labels
        )
        rejected = CounterMetricFamily(
            "mediacore_worker_link_rejected",
            "cascade link datagrams refused: from no peer shard, or failing SRTP checks",
            labels=labels,
        )
        for worker in workers:
            label = [str(worker["id"])]
            up.add_metric(label, 1.0 if worker["state"] == "running" else 0.0)
            cpu.add_metric(label, worker["cpu_seconds"])
            rooms.add_metric(label, len(worker["rooms"]))
            legs.add_metric(label, worker["legs"])
            late.add_metric(label, worker["late_ticks"])
            restarts.add_metric(label, worker["restarts"])
            rejected.add_metric(label, worker.get("link_rejected", 0))
        yield from (up, cpu, rooms, legs, late, restarts, rejected)

    def _legs(self, rooms: list[RoomSnapshot]) -> Iterator[Metric]:
        labels = ["room", "participant", "kind"]
        families: dict[str, Metric] = {}
        for key, text in _LEG_COUNTERS.items():
            families[key] = CounterMetricFamily(f"mediacore_leg_{key}", text, labels=labels)
        for key, text in _LEG_GAUGES.items():
            families[key] = GaugeMetricFamily(f"mediacore_leg_{key}", text, labels=labels)
        for room in rooms:
            for participant_id, kind, values in room.legs:
                for key, family in families.items():
                    if key in values:
                        family.add_metric(  # type: ignore[attr-defined]
                            [room.name, participant_id, kind], values[key]
                        )
        yield from families.values()
