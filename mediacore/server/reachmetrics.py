"""/metrics for reach: each composed-picture viewer's quality tier and estimate, and the
H.265 → H.264 transcodes running. Read on the scraping thread from the services' last statistics."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mediacore.qualitytiers import TIER_NAMES


class ReachCollector(Collector):
    def __init__(
        self,
        conferences: Callable[[], dict[str, dict[str, Any]]],
        transcodes: Callable[[], dict[str, Any]],
    ) -> None:
        self._conferences = conferences
        self._transcodes = transcodes

    def collect(self) -> Iterator[Metric]:
        tiers = GaugeMetricFamily(
            "mediacore_conference_viewer_tier",
            "a composed-picture viewer's quality tier (0 full, 1 half, 2 a quarter bit rate)",
            labels=["room", "viewer"],
        )
        estimates = GaugeMetricFamily(
            "mediacore_conference_viewer_estimate_bps",
            "what a composed-picture viewer can take, bit/s (its b=TIAS, TMMBR, REMB or loss)",
            labels=["room", "viewer"],
        )
        for room, stats in dict(self._conferences()).items():
            for viewer, name in dict(stats.get("tiers", {})).items():
                tiers.add_metric([room, str(viewer)], TIER_NAMES.index(name))
            for viewer, bitrate in dict(stats.get("estimates", {})).items():
                estimates.add_metric([room, str(viewer)], float(bitrate))
        yield tiers
        yield estimates
        transcodes = dict(self._transcodes())
        yield GaugeMetricFamily(
            "mediacore_transcodes",
            "H.265 sources transcoded to H.264 now",
            value=transcodes.get("transcodes", 0),
        )
        yield GaugeMetricFamily(
            "mediacore_transcode_encodes",
            "H.264 encodes the transcodes run (one per quality tier in use)",
            value=transcodes.get("encodes", 0),
        )
        yield CounterMetricFamily(
            "mediacore_transcodes_started",
            "H.265 → H.264 transcodes started",
            value=transcodes.get("started_total", 0),
        )
