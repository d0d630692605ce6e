"""Recording and export job ids: a cluster node's name ends them and is read back from them."""

from __future__ import annotations

from datetime import UTC, datetime

from recorder.recordingid import new_export_id, new_recording_id, origin_node


def test_a_cluster_node_s_ids_name_it() -> None:
    for node in ("a", "north-1", "node_2", "x" * 32, "rec-1-abcdef"):
        assert origin_node(new_recording_id(node)) == node
        assert origin_node(new_export_id(node)) == node


def test_a_single_node_s_ids_are_as_before_and_name_nobody() -> None:
    moment = datetime(2026, 12, 7, 10, 15, 0, tzinfo=UTC)
    plain = new_recording_id(now=moment)
    assert plain.startswith("rec-20261207T101500Z-") and len(plain) == len("rec-") + 16 + 7
    assert origin_node(plain) is None
    assert origin_node(new_export_id()) is None


def test_names_that_are_not_ids_name_nobody() -> None:
    stem = "rec-20261207T101500Z-abcdef-"
    for name in ("", "ledger", "public-key", "rec-x-a", "rec-20261207T101500Z-ABCDEF-a",
                 "exp-123-a", stem + "y" * 33, stem + "a/b", stem + "a.b"):  # fmt: skip
        assert origin_node(name) is None, name
