"""Prometheus metrics at /metrics: the room clocks, the mixer, and every leg.

Per-packet code only bumps plain integers on the legs; this collector reads them at scrape time,
so the media path pays nothing for metrics."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mediacore.room import Room
from mediacore.server.directory import RoomDirectory

# Tick lateness and mix time buckets, in seconds: a tick is 10-20 ms.
_TIMING_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1)

_LEG_COUNTERS = {
    "packets_received": "RTP packets received from the leg",
    "packets_sent": "RTP packets sent to the leg",
    "packets_lost": "RTP packets the leg's sender lost (RFC 3550 cumulative)",
    "late_packets": "packets that arrived after their playout time",
    "concealed_packets": "packets concealed by PLC, FEC or silence",
    "dropped_packets": "datagrams dropped: malformed, wrong payload type, unknown source, size",
}
_LEG_GAUGES = {
    "jitter_seconds": "RFC 3550 interarrival jitter of the leg",
    "buffer_delay_seconds": "audio waiting in the leg's jitter buffer",
}


class MediaMetrics:
    def __init__(self, directory: RoomDirectory) -> None:
        self.registry = CollectorRegistry()
        self.tick_lateness = Histogram(
            "mediacore_tick_lateness_seconds",
            "how far past its deadline each mixer tick ran",
            ["room"],
            buckets=_TIMING_BUCKETS,
            registry=self.registry,
        )
        self.mix_seconds = Histogram(
            "mediacore_mix_seconds",
            "time one mixer tick took",
            ["room"],
            buckets=_TIMING_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_DirectoryCollector(directory))

    def observe_tick(self, room: Room, lateness: float, mix_seconds: float) -> None:
        self.tick_lateness.labels(room.name).observe(max(0.0, lateness))
        self.mix_seconds.labels(room.name).observe(mix_seconds)


class _DirectoryCollector(Collector):
    def __init__(self, directory: RoomDirectory) -> None:
        self.directory = directory

    def collect(self) -> Iterator[Metric]:
        rooms = list(self.directory.rooms.values())
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
        for room in rooms:
            ticks.add_metric([room.name], room.clock.ticks)
            late.add_metric([room.name], room.clock.late_ticks)
            skipped.add_metric([room.name], room.clock.skipped_ticks)
            participants.add_metric([room.name], len(room.participants))
            encodes.add_metric([room.name], room.mixer.encoders.encodes)
        yield from (ticks, late, skipped, participants, encodes)
        yield from self._legs(rooms)
        ports = GaugeMetricFamily("mediacore_rtp_ports_in_use", "RTP port pairs bound")
        ports.add_metric([], self.directory.ports.in_use)
        yield ports

    def _legs(self, rooms: list[Room]) -> Iterator[Metric]:
        labels = ["room", "participant", "kind"]
        families: dict[str, Metric] = {}
        for key, text in _LEG_COUNTERS.items():
            families[key] = CounterMetricFamily(f"mediacore_leg_{key}", text, labels=labels)
        for key, text in _LEG_GAUGES.items():
            families[key] = GaugeMetricFamily(f"mediacore_leg_{key}", text, labels=labels)
        for room in rooms:
            for participant in list(room.participants.values()):
                values = participant.endpoint.statistics()
                for key, family in families.items():
                    if key in values:
                        family.add_metric(  # type: ignore[attr-defined]
                            [room.name, participant.id, participant.kind], values[key]
                        )
        yield from families.values()
