"""/metrics for the composed conference pictures: what they cost (encodes) for how many viewers.

Registered on the server's metrics registry; `collect()` runs on the scraping thread and reads
only the conference service's last statistics (copied under the GIL)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# (statistic, metric, family, help); a list statistic counts its entries
_METRICS: tuple[tuple[str, str, type[CounterMetricFamily | GaugeMetricFamily], str], ...] = (
    ("encodes", "mediacore_conference_encodes", CounterMetricFamily, "composed pictures encoded"),
    (
        "encodes_per_second",
        "mediacore_conference_encodes_per_second",
        GaugeMetricFamily,
        "composed pictures encoded per second, over every variant",
    ),
    (
        "viewers",
        "mediacore_conference_viewers",
        GaugeMetricFamily,
        "participants watching the composed picture",
    ),
    (
        "variants",
        "mediacore_conference_variants",
        GaugeMetricFamily,
        "distinct composed pictures encoded (the common one, and one per shown viewer)",
    ),
)


class ConferenceCollector(Collector):
    def __init__(self, statistics: Callable[[], dict[str, dict[str, Any]]]) -> None:
        self._statistics = statistics

    def collect(self) -> Iterator[Metric]:
        statistics = dict(self._statistics())
        for key, name, family, text in _METRICS:
            metric = family(name, text, labels=["room"])
            for room, stats in statistics.items():
                value = stats.get(key, 0)
                metric.add_metric([room], len(value) if isinstance(value, list) else value)
            yield metric
