"""A shard's mirror of its room's floor: requests go home, decisions come back."""

from __future__ import annotations

from mediacore.floor import FloorSettings
from mediacore.floormirror import FloorMirror


def test_requests_are_forwarded_and_the_home_decision_rekeys_local_legs() -> None:
    forwarded: list[tuple[object, ...]] = []
    changes: list[tuple[str | None, str | None]] = []
    mirror = FloorMirror(
        FloorSettings(), lambda *args: forwarded.append(args), lambda a, b: changes.append((a, b))
    )
    assert mirror.request("p-radio", 0, "squelch", 1.0).result == "forwarded"
    mirror.release("p-radio", "squelch", 2.0, hang=True)
    mirror.remove("p-gone", 3.0)
    assert forwarded == [
        ("request", "p-radio", 0, "squelch", False),
        ("release", "p-radio", None, "squelch", True),
        ("remove", "p-gone", None, "left", False),
    ]
    mirror.apply({"holder": "p-radio", "priority": 0, "source": "squelch", "since": "x"})
    mirror.apply({"holder": "p-radio", "priority": 0, "source": "squelch", "since": "x"})
    mirror.apply({"holder": "p-radio", "priority": 3, "source": "api", "since": "y"})
    mirror.apply({"holder": None, "priority": None, "source": None, "since": None})
    assert changes == [(None, "p-radio"), ("p-radio", "p-radio"), ("p-radio", None)]
    assert mirror.to_json()["holder"] is None
