"""/metrics for the composed conference pictures: what they cost (encodes) for how many viewers.

Registered on the server's metrics registry; `collect()` runs on the scraping thread and reads
only the conference service's last statistics (copied under the GIL)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class ConferenceCollector(Collector):
    def __init__(self, statistics: Callable[[], dict[str, dict[str, Any]]]) -> None:
        self._statistics = statistics

    def collect(self) -> Iterator[Metric]:
        encodes = CounterMetricFamily(
            "mediacore_conference_encodes", "composed pictures encoded", labels=["room"]
        )
        rate = GaugeMetricFamily(
            "mediacore_conference_encodes_per_second",
            "composed pictures encoded per second, over every variant",
            labels=["room"],
        )
        viewers = GaugeMetricFamily(
            "mediacore_conference_viewers",
            "participants watching the composed picture",
            labels=["room"],
        )
        variants = GaugeMetricFamily(
            "mediacore_conference_variants",
            "distinct composed pictures encoded (the common one, and one per shown viewer)",
            labels=["room"],
        )
        for room, stats in dict(self._statistics()).items():
            encodes.add_metric([room], stats.get("encodes", 0))
            rate.add_metric([room], stats.get("encodes_per_second", 0.0))
            viewers.add_metric([room], stats.get("viewers", 0))
            variants.add_metric([room], len(stats.get("variants", ())))
        yield from (encodes, rate, viewers, variants)
