"""The floor state machine, driven by a fake `now`: results, the exact events, holder changes."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from mediacore.floor import Floor, FloorResult, FloorSettings

T0 = 1000.0
Event = tuple[str, dict[str, Any]]


class Recorder:
    """A floor with its publish and on_holder_changed calls recorded in order."""

    def __init__(self, floor_settings: FloorSettings | None = None) -> None:
        self.log: list[tuple[str, Any]] = []  # events and holder changes, interleaved
        self.floor = Floor(floor_settings or FloorSettings(), self._publish, self._changed)

    def _publish(self, event_type: str, **data: Any) -> None:
        self.log.append(("event", (event_type, data)))

    def _changed(self, old: str | None, new: str | None) -> None:
        self.log.append(("holder", (old, new)))

    @property
    def events(self) -> list[Event]:
        return [entry for kind, entry in self.log if kind == "event"]

    @property
    def changes(self) -> list[tuple[str | None, str | None]]:
        return [entry for kind, entry in self.log if kind == "holder"]

    def take_changes(self) -> list[tuple[str | None, str | None]]:
        """The holder changes since the last take; events are dropped."""
        changes = self.changes
        self.log = []
        return changes

    def take(self) -> list[tuple[str, Any]]:
        """The log since the last take."""
        log, self.log = self.log, []
        return log


def queued_floor(max_queue: int = 32) -> Recorder:
    return Recorder(FloorSettings(mode="queue", max_queue=max_queue))


def granted(participant: str, priority: int, source: str, **extra: Any) -> tuple[str, Any]:
    data = {"participant": participant, "priority": priority, "source": source, **extra}
    return ("event", ("floor.granted", data))


def holder(old: str | None, new: str | None) -> tuple[str, Any]:
    return ("holder", (old, new))


# -- request ----------------------------------------------------------------------------------


def test_free_floor_is_granted_with_event_then_holder_change() -> None:
    r = Recorder()
    assert r.floor.request("a", 0, "api", T0) == FloorResult("granted", "a")
    assert r.take() == [granted("a", 0, "api"), holder(None, "a")]
    assert (r.floor.holder, r.floor.holder_priority, r.floor.holder_source) == ("a", 0, "api")


def test_holder_asking_again_is_granted_silently() -> None:
    r = Recorder()
    r.floor.request("a", 0, "squelch", T0)
    r.take()
    assert r.floor.request("a", 0, "squelch", T0 + 1) == FloorResult("granted", "a")
    assert r.take() == []


def test_holder_asking_again_with_higher_priority_is_protected_from_that_priority() -> None:
    r = Recorder()
    r.floor.request("a", 0, "api", T0)
    r.floor.request("a", 2, "api", T0)
    assert r.floor.holder_priority == 2
    assert r.floor.request("b", 2, "api", T0).result == "denied"


def test_holder_asking_again_at_higher_priority_says_floor_escalated_once() -> None:
    r = Recorder()
    r.floor.request("a", 0, "squelch", T0)
    r.take()
    assert r.floor.request("a", 3, "squelch", T0 + 1) == FloorResult("granted", "a")
    escalated = {"participant": "a", "priority": 3, "source": "squelch", "previous_priority": 0}
    assert r.take() == [("event", ("floor.escalated", escalated))]
    r.floor.request("a", 3, "squelch", T0 + 2)  # the same priority again: nothing new
    r.floor.request("a", 1, "squelch", T0 + 2)  # a lower one does not lower it
    assert r.take() == []
    assert r.floor.holder_priority == 3


def test_higher_priority_preempts_holder_revoked_then_granted() -> None:
    r = Recorder()
    r.floor.request("a", 1, "squelch", T0)
    r.take()
    assert r.floor.request("b", 3, "api", T0 + 2.5) == FloorResult("granted", "b")
    assert r.take() == [
        (
            "event",
            (
                "floor.revoked",
                {"participant": "a", "by": "b", "reason": "preempted", "held_ms": 2500},
            ),
        ),
        granted("b", 3, "api", previous="a"),
        holder("a", "b"),
    ]


def test_equal_priority_does_not_preempt_and_is_denied_busy_in_deny_mode() -> None:
    r = Recorder()
    r.floor.request("a", 2, "api", T0)
    r.take()
    assert r.floor.request("b", 2, "dtmf", T0) == FloorResult("denied", "a", reason="busy")
    assert r.take() == [
        (
            "event",
            (
                "floor.denied",
                {
                    "participant": "b",
                    "priority": 2,
                    "source": "dtmf",
                    "holder": "a",
                    "reason": "busy",
                },
            ),
        )
    ]


def test_busy_floor_queues_in_queue_mode_with_position() -> None:
    r = queued_floor()
    r.floor.request("a", 0, "api", T0)
    r.take()
    assert r.floor.request("b", 0, "vox", T0) == FloorResult("queued", "a", position=1)
    assert r.floor.request("c", 0, "api", T0) == FloorResult("queued", "a", position=2)
    assert r.take() == [
        (
            "event",
            ("floor.queued", {"participant": "b", "priority": 0, "source": "vox", "position": 1}),
        ),
        (
            "event",
            ("floor.queued", {"participant": "c", "priority": 0, "source": "api", "position": 2}),
        ),
    ]


def test_queue_is_ordered_by_priority_then_arrival() -> None:
    r = queued_floor()
    r.floor.request("h", 2, "api", T0)
    r.floor.request("low1", 0, "api", T0)
    r.floor.request("mid", 1, "api", T0)
    r.floor.request("low2", 0, "api", T0)
    assert r.floor.request("top", 2, "api", T0).position == 1
    assert [q["participant"] for q in r.floor.to_json()["queue"]] == ["top", "mid", "low1", "low2"]


def test_queued_participant_asking_again_keeps_its_place_without_new_event() -> None:
    r = queued_floor()
    r.floor.request("a", 2, "api", T0)
    r.floor.request("b", 0, "api", T0)
    r.floor.request("c", 0, "api", T0)
    r.take()
    assert r.floor.request("b", 0, "api", T0 + 1) == FloorResult("queued", "a", position=1)
    assert r.floor.request("c", 0, "api", T0 + 1) == FloorResult("queued", "a", position=2)
    assert r.take() == []
    assert len(r.floor.to_json()["queue"]) == 2


def test_queued_participant_asking_with_higher_priority_moves_up() -> None:
    r = queued_floor()
    r.floor.request("a", 2, "api", T0)
    r.floor.request("b", 0, "api", T0)
    r.floor.request("c", 0, "api", T0)
    assert r.floor.request("c", 1, "api", T0) == FloorResult("queued", "a", position=1)
    assert [(q["participant"], q["priority"]) for q in r.floor.to_json()["queue"]] == [
        ("c", 1),
        ("b", 0),
    ]


def test_queued_participant_asking_with_higher_priority_says_floor_escalated() -> None:
    r = queued_floor()
    r.floor.request("a", 3, "api", T0)
    r.floor.request("b", 0, "api", T0)
    r.take()
    assert r.floor.request("b", 3, "dtmf", T0 + 1) == FloorResult("queued", "a", position=1)
    escalated = {"participant": "b", "priority": 3, "source": "dtmf", "previous_priority": 0}
    assert r.take() == [("event", ("floor.escalated", escalated))]


def test_queued_participant_preempting_leaves_the_queue() -> None:
    r = queued_floor()
    r.floor.request("a", 1, "api", T0)
    r.floor.request("b", 0, "api", T0)
    assert r.floor.request("b", 3, "api", T0).result == "granted"
    assert r.floor.holder == "b"
    assert r.floor.to_json()["queue"] == []


def test_full_queue_denies_with_queue_full() -> None:
    r = queued_floor(max_queue=1)
    r.floor.request("a", 0, "api", T0)
    r.floor.request("b", 0, "api", T0)
    r.take()
    assert r.floor.request("c", 0, "api", T0) == FloorResult("denied", "a", reason="queue-full")
    assert r.take() == [
        (
            "event",
            (
                "floor.denied",
                {
                    "participant": "c",
                    "priority": 0,
                    "source": "api",
                    "holder": "a",
                    "reason": "queue-full",
                },
            ),
        )
    ]


def test_preempted_holder_is_not_queued() -> None:
    r = queued_floor()
    r.floor.request("a", 0, "api", T0)
    r.floor.request("b", 3, "api", T0)
    assert r.floor.holder == "b"
    assert r.floor.to_json()["queue"] == []


@pytest.mark.parametrize("priority", [-1, 4, 99])
def test_priority_outside_0_to_3_is_a_value_error(priority: int) -> None:
    with pytest.raises(ValueError, match="priority"):
        Recorder().floor.request("a", priority, "api", T0)


def test_empty_participant_is_a_value_error() -> None:
    floor = Recorder().floor
    with pytest.raises(ValueError, match="participant"):
        floor.request("", 0, "api", T0)
    with pytest.raises(ValueError, match="participant"):
        floor.release("", "api", T0)


def test_invalid_settings_are_value_errors() -> None:
    with pytest.raises(ValueError, match="mode"):
        FloorSettings(mode="shout")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="hang_ms"):
        FloorSettings(hang_ms=-1)
    with pytest.raises(ValueError, match="talk_timeout_s"):
        FloorSettings(talk_timeout_s=math.nan)
    with pytest.raises(ValueError, match="max_queue"):
        FloorSettings(max_queue=-1)


# -- release ----------------------------------------------------------------------------------


def test_release_by_holder_frees_the_floor_with_ptt_up() -> None:
    r = Recorder()
    r.floor.request("a", 0, "api", T0)
    r.take()
    assert r.floor.release("a", "api", T0 + 1.234) == FloorResult("released", None)
    assert r.take() == [
        (
            "event",
            (
                "floor.released",
                {"participant": "a", "source": "api", "reason": "ptt-up", "held_ms": 1234},
            ),
        ),
        holder("a", None),
    ]


def test_release_grants_queue_head_marked_from_queue_with_one_holder_change() -> None:
    r = queued_floor()
    r.floor.request("a", 2, "api", T0)
    r.floor.request("b", 0, "dtmf", T0)
    r.floor.request("c", 1, "vox", T0)
    r.take()
    assert r.floor.release("a", "api", T0 + 1) == FloorResult("released", "c")
    assert r.take() == [
        (
            "event",
            (
                "floor.released",
                {"participant": "a", "source": "api", "reason": "ptt-up", "held_ms": 1000},
            ),
        ),
        granted("c", 1, "vox", from_queue=True),
        holder("a", "c"),
    ]
    assert [q["participant"] for q in r.floor.to_json()["queue"]] == ["b"]


@pytest.mark.parametrize(("source", "reason"), [("squelch", "squelch"), ("vox", "vox")])
def test_hang_release_takes_effect_at_tick_after_hang_time(source: str, reason: str) -> None:
    r = Recorder(FloorSettings(hang_ms=500))
    r.floor.request("a", 0, source, T0)
    r.take()
    assert r.floor.release("a", source, T0 + 2, hang=True) == FloorResult("released", "a")
    r.floor.tick(T0 + 2.499)
    assert r.floor.holder == "a"
    assert r.take() == []
    r.floor.tick(T0 + 2.5)
    assert r.floor.holder is None
    assert r.take() == [
        (
            "event",
            (
                "floor.released",
                {"participant": "a", "source": source, "reason": reason, "held_ms": 2500},
            ),
        ),
        holder("a", None),
    ]


def test_hang_release_from_other_source_is_ptt_up() -> None:
    r = Recorder()
    r.floor.request("a", 0, "websocket", T0)
    r.floor.release("a", "websocket", T0, hang=True)
    r.take()
    r.floor.tick(T0 + 1)
    assert r.events[0][1]["reason"] == "ptt-up"


def test_request_within_hang_time_cancels_the_release_silently() -> None:
    r = Recorder()
    r.floor.request("a", 0, "squelch", T0)
    r.floor.release("a", "squelch", T0 + 1, hang=True)
    r.take()
    assert r.floor.request("a", 0, "squelch", T0 + 1.3) == FloorResult("granted", "a")
    r.floor.tick(T0 + 10)
    assert r.floor.holder == "a"
    assert r.take() == []


def test_floor_is_busy_for_others_during_hang() -> None:
    r = Recorder()
    r.floor.request("a", 0, "squelch", T0)
    r.floor.release("a", "squelch", T0, hang=True)
    assert r.floor.request("b", 0, "api", T0 + 0.1) == FloorResult("denied", "a", reason="busy")


def test_repeated_hang_release_does_not_extend_the_hang() -> None:
    r = Recorder()
    r.floor.request("a", 0, "squelch", T0)
    r.floor.release("a", "squelch", T0, hang=True)
    r.floor.release("a", "squelch", T0 + 0.4, hang=True)
    r.floor.tick(T0 + 0.5)
    assert r.floor.holder is None


def test_hang_release_with_zero_hang_is_immediate() -> None:
    r = Recorder(FloorSettings(hang_ms=0))
    r.floor.request("a", 0, "squelch", T0)
    r.take()
    assert r.floor.release("a", "squelch", T0 + 1, hang=True) == FloorResult("released", None)
    assert r.events[0] == (
        "floor.released",
        {"participant": "a", "source": "squelch", "reason": "squelch", "held_ms": 1000},
    )


def test_hang_release_then_queue_head_is_granted_at_tick() -> None:
    r = queued_floor()
    r.floor.request("a", 0, "squelch", T0)
    r.floor.request("b", 0, "api", T0)
    r.floor.release("a", "squelch", T0, hang=True)
    r.take()
    r.floor.tick(T0 + 0.5)
    log = r.take()
    assert [entry[1][0] for entry in log[:2]] == ["floor.released", "floor.granted"]
    assert log[2] == holder("a", "b")


def test_release_by_queued_participant_cancels_its_request() -> None:
    r = queued_floor()
    r.floor.request("a", 0, "api", T0)
    r.floor.request("b", 0, "api", T0)
    r.take()
    assert r.floor.release("b", "api", T0) == FloorResult("released", "a")
    assert r.take() == [("event", ("floor.dequeued", {"participant": "b", "reason": "cancelled"}))]
    assert r.floor.to_json()["queue"] == []


def test_release_by_anyone_else_is_not_holder_without_event() -> None:
    r = Recorder()
    assert r.floor.release("ghost", "api", T0) == FloorResult("not-holder", None)
    r.floor.request("a", 0, "api", T0)
    r.take()
    assert r.floor.release("ghost", "api", T0) == FloorResult("not-holder", "a")
    assert r.take() == []


# -- revoke and remove ------------------------------------------------------------------------


def test_revoke_holder_frees_floor_and_grants_queue_head() -> None:
    r = queued_floor()
    r.floor.request("a", 0, "squelch", T0)
    r.floor.request("b", 0, "api", T0)
    r.take()
    assert r.floor.revoke("a", "lost", T0 + 3, by="gateway") is True
    assert r.take() == [
        (
            "event",
            (
                "floor.revoked",
                {"participant": "a", "reason": "lost", "by": "gateway", "held_ms": 3000},
            ),
        ),
        granted("b", 0, "api", from_queue=True),
        holder("a", "b"),
    ]


def test_revoke_without_by_says_none() -> None:
    r = Recorder()
    r.floor.request("a", 0, "api", T0)
    r.take()
    assert r.floor.revoke("a", "muted", T0) is True
    assert r.events[0] == (
        "floor.revoked",
        {"participant": "a", "reason": "muted", "by": None, "held_ms": 0},
    )
    assert r.changes == [("a", None)]


def test_revoke_queued_participant_dequeues_it() -> None:
    r = queued_floor()
    r.floor.request("a", 0, "api", T0)
    r.floor.request("b", 0, "api", T0)
    r.take()
    assert r.floor.revoke("b", "admin", T0, by="chief") is True
    assert r.take() == [
        ("event", ("floor.dequeued", {"participant": "b", "reason": "admin", "by": "chief"}))
    ]


def test_revoke_of_someone_without_floor_or_place_changes_nothing() -> None:
    r = Recorder()
    assert r.floor.revoke("ghost", "admin", T0) is False
    assert r.take() == []


def test_remove_holder_publishes_released_left_and_grants_next() -> None:
    r = queued_floor()
    r.floor.request("a", 0, "api", T0)
    r.floor.request("b", 0, "api", T0)
    r.take()
    r.floor.remove("a", T0 + 0.25)
    assert r.take() == [
        ("event", ("floor.released", {"participant": "a", "reason": "left", "held_ms": 250})),
        granted("b", 0, "api", from_queue=True),
        holder("a", "b"),
    ]


def test_remove_queued_participant_dequeues_with_left() -> None:
    r = queued_floor()
    r.floor.request("a", 0, "api", T0)
    r.floor.request("b", 0, "api", T0)
    r.take()
    r.floor.remove("b", T0)
    assert r.take() == [("event", ("floor.dequeued", {"participant": "b", "reason": "left"}))]


def test_remove_unknown_participant_is_silent() -> None:
    r = Recorder()
    r.floor.remove("ghost", T0)
    assert r.take() == []


# -- talk time-out and tick -------------------------------------------------------------------


def test_talk_timeout_frees_floor_with_timeout_event_only() -> None:
    r = queued_floor()
    r.floor.reconfigure(FloorSettings(mode="queue", talk_timeout_s=60))
    r.floor.request("a", 0, "squelch", T0)
    r.floor.request("b", 0, "api", T0 + 1)
    r.take()
    r.floor.tick(T0 + 59.999)
    assert r.take() == []
    r.floor.tick(T0 + 60)
    assert r.take() == [
        ("event", ("floor.timeout", {"participant": "a", "held_ms": 60000, "source": "squelch"})),
        granted("b", 0, "api", from_queue=True),
        holder("a", "b"),
    ]


def test_talk_timeout_zero_never_times_out() -> None:
    r = Recorder(FloorSettings(talk_timeout_s=0))
    r.floor.request("a", 0, "api", T0)
    r.floor.tick(T0 + 1e6)
    assert r.floor.holder == "a"


def test_talk_timeout_counts_from_grant_not_from_a_cancelled_hang() -> None:
    r = Recorder(FloorSettings(talk_timeout_s=10))
    r.floor.request("a", 0, "squelch", T0)
    r.floor.release("a", "squelch", T0 + 5, hang=True)
    r.floor.request("a", 0, "squelch", T0 + 5.2)
    r.floor.tick(T0 + 10)
    assert r.floor.holder is None
    assert r.events[-1][0] == "floor.timeout"


def test_tick_with_time_standing_still_or_going_back_changes_nothing() -> None:
    r = Recorder()
    r.floor.tick(T0)
    r.floor.request("a", 0, "api", T0)
    r.take()
    r.floor.tick(T0)
    r.floor.tick(T0 - 5)
    assert r.take() == []
    r.floor.release("a", "api", T0 - 5)
    assert r.events[0][1]["held_ms"] == 0


def test_two_requests_at_the_same_instant_first_wins() -> None:
    r = Recorder()
    assert r.floor.request("a", 0, "squelch", T0).result == "granted"
    assert r.floor.request("b", 0, "squelch", T0).result == "denied"
    assert r.changes == [(None, "a")]


# -- reconfigure and JSON ---------------------------------------------------------------------


def test_switching_to_deny_empties_the_queue_with_mode_changed() -> None:
    r = queued_floor()
    r.floor.request("a", 0, "api", T0)
    r.floor.request("b", 0, "api", T0)
    r.take()
    r.floor.reconfigure(FloorSettings(mode="deny"))
    assert r.take() == [
        ("event", ("floor.dequeued", {"participant": "b", "reason": "mode-changed"}))
    ]
    assert r.floor.request("c", 0, "api", T0).reason == "busy"


def test_shrinking_the_queue_drops_the_lowest_ranked() -> None:
    r = queued_floor()
    r.floor.request("a", 2, "api", T0)
    for name, priority in (("b", 0), ("c", 1), ("d", 0)):
        r.floor.request(name, priority, "api", T0)
    r.take()
    r.floor.reconfigure(FloorSettings(mode="queue", max_queue=1))
    assert [e[1]["participant"] for e in r.events] == ["b", "d"]
    assert [q["participant"] for q in r.floor.to_json()["queue"]] == ["c"]


def test_to_json_of_free_floor() -> None:
    assert Recorder().floor.to_json() == {
        "holder": None,
        "since": None,
        "priority": None,
        "source": None,
        "mode": "deny",
        "queue": [],
    }


def test_to_json_of_held_floor_with_queue_has_iso8601_times() -> None:
    r = queued_floor()
    r.floor.request("a", 1, "squelch", T0)
    r.floor.request("b", 0, "websocket", T0)
    state = r.floor.to_json()
    assert (state["holder"], state["priority"], state["source"], state["mode"]) == (
        "a",
        1,
        "squelch",
        "queue",
    )
    assert state["since"].endswith("Z")
    datetime.fromisoformat(state["since"])
    [entry] = state["queue"]
    assert (entry["participant"], entry["priority"], entry["source"]) == ("b", 0, "websocket")
    assert entry["since"].endswith("Z")


def test_floor_without_holder_callback_works() -> None:
    floor = Floor(FloorSettings(), lambda *_a, **_k: None)
    floor.request("a", 0, "api", T0)
    floor.release("a", "api", T0)
    assert floor.holder is None


# -- random operation sequences ---------------------------------------------------------------

IDS = st.sampled_from(["a", "b", "c", "d", "e"])
SOURCES = st.sampled_from(["api", "dtmf", "squelch", "vox", "websocket"])


class FloorMachine(RuleBasedStateMachine):
    """Random requests, releases, revokes, removals, ticks and reconfigurations."""

    def __init__(self) -> None:
        super().__init__()
        self.recorder = Recorder(FloorSettings(mode="queue", hang_ms=300, talk_timeout_s=5))
        self.now = T0
        self.last_holder: str | None = None

    @property
    def floor(self) -> Floor:
        return self.recorder.floor

    @rule(step=st.sampled_from([0.0, 0.0, 0.01, 0.2, 0.5, 3.0, -0.1]))
    def advance(self, step: float) -> None:
        self.now += step  # standing still and going back are allowed too
        self.floor.tick(self.now)

    @rule(participant=IDS, priority=st.integers(0, 3), source=SOURCES)
    def request(self, participant: str, priority: int, source: str) -> None:
        result = self.floor.request(participant, priority, source, self.now)
        assert result.result in ("granted", "denied", "queued")
        assert result.holder == self.floor.holder
        if result.result == "granted":
            assert self.floor.holder == participant

    @rule(participant=IDS, source=SOURCES, hang=st.booleans())
    def release(self, participant: str, source: str, hang: bool) -> None:
        result = self.floor.release(participant, source, self.now, hang=hang)
        assert result.result in ("released", "not-holder")
        assert result.holder == self.floor.holder

    @rule(participant=IDS, reason=st.sampled_from(["admin", "lost", "muted"]))
    def revoke(self, participant: str, reason: str) -> None:
        self.floor.revoke(participant, reason, self.now, by="admin")
        assert self.floor.holder != participant

    @rule(participant=IDS)
    def remove(self, participant: str) -> None:
        self.floor.remove(participant, self.now)
        assert self.floor.holder != participant
        assert participant not in self.queued()

    @rule(
        mode=st.sampled_from(["deny", "queue"]),
        hang_ms=st.sampled_from([0, 300]),
        timeout=st.sampled_from([0.0, 5.0]),
        max_queue=st.integers(0, 4),
    )
    def reconfigure(self, mode: str, hang_ms: int, timeout: float, max_queue: int) -> None:
        self.floor.reconfigure(
            FloorSettings(
                mode=mode,  # type: ignore[arg-type]
                hang_ms=hang_ms,
                talk_timeout_s=timeout,
                max_queue=max_queue,
            )
        )

    def queued(self) -> list[str]:
        return [q["participant"] for q in self.floor.to_json()["queue"]]

    @invariant()
    def holder_is_not_queued_and_queue_is_unique(self) -> None:
        queued = self.queued()
        assert self.floor.holder not in queued
        assert len(queued) == len(set(queued))
        if self.floor.holder is None:
            assert queued == []  # a freed floor always goes to the queue head

    @invariant()
    def queue_is_ordered_by_priority(self) -> None:
        priorities = [q["priority"] for q in self.floor.to_json()["queue"]]
        assert priorities == sorted(priorities, reverse=True)

    @invariant()
    def holder_changes_chain_and_match_the_holder(self) -> None:
        for old, new in self.recorder.take_changes():
            assert old == self.last_holder
            assert new != old
            self.last_holder = new
        assert self.last_holder == self.floor.holder

    @invariant()
    def holder_fields_agree(self) -> None:
        fields = (self.floor.holder_priority, self.floor.holder_source)
        assert (self.floor.holder is None) == (fields == (None, None))


TestFloorMachine = FloorMachine.TestCase
TestFloorMachine.settings = settings(
    max_examples=200,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
