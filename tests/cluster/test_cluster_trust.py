"""The forwarding mark: only a holder of the cluster's secret makes one a node accepts."""

from __future__ import annotations

from mediacore.server.clustertrust import WINDOW_MS, mark, verify

SECRET = b"s" * 32
NOW = 1_700_000_000_000


def test_a_node_s_mark_is_accepted_and_names_the_node() -> None:
    value = mark(SECRET, "n1", NOW, "get", "/api/v1/rooms/a?x=1")
    assert verify(SECRET, value, "GET", "/api/v1/rooms/a?x=1", NOW + 100) == "n1"


def test_forged_altered_or_stale_marks_are_refused() -> None:
    value = mark(SECRET, "n1", NOW, "GET", "/api/v1/rooms/a")
    assert verify(b"other" * 8, value, "GET", "/api/v1/rooms/a", NOW) is None
    assert verify(SECRET, value, "DELETE", "/api/v1/rooms/a", NOW) is None
    assert verify(SECRET, value, "GET", "/api/v1/rooms/b", NOW) is None
    assert verify(SECRET, value.replace("n1;", "n2;"), "GET", "/api/v1/rooms/a", NOW) is None
    assert verify(SECRET, value, "GET", "/api/v1/rooms/a", NOW + WINDOW_MS + 1) is None
    for garbage in ("", "n1", "n1;x;y", ";;", "n1;12"):
        assert verify(SECRET, garbage, "GET", "/api/v1/rooms/a", NOW) is None
