"""The pure rules of the cluster: liveness, placement, take-over, with a fake clock."""

from __future__ import annotations

from mediacore.server.clusterview import (
    DEAD,
    DRAINING,
    UP,
    ClusterView,
    NodeRecord,
    orphans,
    takes_over,
)


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def node(name: str, seen: float, **fields: object) -> NodeRecord:
    return NodeRecord(name=name, last_seen=int(seen), sip=f"{name}:5060", **fields)  # type: ignore[arg-type]


def test_a_node_silent_past_dead_after_is_dead() -> None:
    clock = FakeClock()
    view = ClusterView(3000, clock, [node("a", clock.now), node("b", clock.now - 1000)])
    assert (view.state("a"), view.state("b")) == (UP, UP)
    clock.now += 2500
    assert (view.state("a"), view.state("b")) == (UP, DEAD)
    assert view.dead() == ["b"]
    assert [r.name for r in view.live()] == ["a"]


def test_a_withdrawn_or_unknown_node_is_dead() -> None:
    clock = FakeClock()
    view = ClusterView(3000, clock, [NodeRecord.from_hash("gone", {})])
    assert view.state("gone") == DEAD
    assert view.state("never-heard-of") == DEAD


def test_draining_nodes_live_but_take_no_new_rooms() -> None:
    clock = FakeClock()
    view = ClusterView(
        3000, clock, [node("a", clock.now, load=0.9), node("b", clock.now, state=DRAINING)]
    )
    assert view.state("b") == DRAINING and view.alive("b")
    least = view.least_loaded()
    assert least is not None and least.name == "a"


def test_least_loaded_by_load_then_legs_then_rooms_then_name() -> None:
    clock = FakeClock()
    records = [
        node("c", clock.now, load=0.30, legs=1),
        node("b", clock.now, load=0.31, legs=0),  # the same 5 % step as c: fewer legs wins
        node("a", clock.now, load=0.80),
        node("z", clock.now - 10_000, load=0.0),  # dead
    ]
    view = ClusterView(3000, clock, records)
    least = view.least_loaded()
    assert least is not None and least.name == "b"
    assert ClusterView(3000, clock).least_loaded() is None


def test_garbled_hashes_read_as_zero() -> None:
    record = NodeRecord.from_hash(
        "x", {"load": "lots", "rooms": "", "last_seen": "12", "cores": "0"}
    )
    assert (record.load, record.rooms, record.last_seen, record.cores) == (0.0, 0, 12, 1)
    again = NodeRecord.from_hash("x", record.to_hash())
    assert again == record


def test_listing_has_the_contract_fields() -> None:
    clock = FakeClock()
    view = ClusterView(3000, clock, [node("b", clock.now - 5000), node("a", clock.now, rooms=2)])
    listing = view.listing()
    assert [n["name"] for n in listing] == ["a", "b"]
    assert [n["state"] for n in listing] == [UP, DEAD]
    assert {"name", "address", "state", "rooms", "legs", "last_seen"} <= set(listing[0])
    assert listing[0]["rooms"] == 2


def test_orphans_are_rooms_of_dead_nodes() -> None:
    clock = FakeClock()
    view = ClusterView(3000, clock, [node("a", clock.now), node("b", clock.now - 4000)])
    assert orphans(view, {"r1": "a", "r2": "b", "r3": "gone"}) == {"r2": "b", "r3": "gone"}


def test_least_loaded_survivor_takes_over_at_once_others_after_grace() -> None:
    clock = FakeClock()
    view = ClusterView(
        3000, clock, [node("a", clock.now, load=0.1), node("b", clock.now, load=0.5)]
    )
    since = clock.now
    assert takes_over(view, "a", since, grace_ms=2000)
    assert not takes_over(view, "b", since, grace_ms=2000)
    clock.now += 2000
    view.update([node("a", clock.now, load=0.1), node("b", clock.now, load=0.5)])
    assert takes_over(view, "b", since, grace_ms=2000)
    assert not takes_over(view, "dead-one", since, grace_ms=2000)
