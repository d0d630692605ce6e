"""A node's load from its process tree's run time, and events read back from the stream."""

from __future__ import annotations

import os
import time

from mediacore.events import Event
from mediacore.server.clusterevents import event_from_json
from mediacore.server.clusterload import LoadMeter, tree_run_seconds


def test_load_is_the_cpu_share_since_the_last_reading() -> None:
    readings = iter([0.0, 1.0, 1.0])
    times = iter([0.0, 1.0, 2.0])
    meter = LoadMeter(
        pid=1, cores=2, clock=lambda: next(times), run_seconds=lambda _: next(readings)
    )
    assert meter.read() == 0.5  # one CPU second in one second, of two cores
    assert meter.read() == 0.0


def test_load_of_a_vanished_process_reads_zero() -> None:
    def gone(_: int) -> float:
        raise FileNotFoundError

    assert LoadMeter(pid=1, cores=1, run_seconds=gone).read() == 0.0


def test_this_process_tree_has_run() -> None:
    before = tree_run_seconds(os.getpid())
    end = time.process_time() + 0.05
    while time.process_time() < end:
        pass
    assert tree_run_seconds(os.getpid()) > before


def test_an_event_survives_the_stream_json() -> None:
    event = Event("participant.joined", "r1", {"participant": {"id": "p1"}})
    again = event_from_json(event.to_json())
    assert again.to_json() == event.to_json()
