"""The alarm register and its triggers, without a server: raise, repeat, acknowledge, keep,
and which bus events are emergency presses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mediacore.events import Event
from mediacore.server.alarmregister import (
    ACKNOWLEDGED,
    ACTIVE,
    Alarm,
    AlarmLimit,
    AlarmRegister,
    AlreadyAcknowledged,
)
from mediacore.server.emergencies import DtmfEmergencies, EmergencyPress, floor_emergency

T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_press_raises_an_active_alarm_with_who_where_and_when() -> None:
    register = AlarmRegister()
    alarm, new = register.press("north", "p-1", "Unit 7", "squelch", T0)
    assert new and alarm.state == ACTIVE and alarm.count == 1
    assert (alarm.room, alarm.participant, alarm.name, alarm.source) == (
        "north",
        "p-1",
        "Unit 7",
        "squelch",
    )
    assert alarm.id.startswith("al-") and alarm.raised_at == alarm.last_at == T0
    assert register.entries(ACTIVE) == [alarm]


def test_presses_of_the_same_participant_while_active_count_on_one_alarm() -> None:
    register = AlarmRegister()
    first, _ = register.press("north", "p-1", None, "api", T0)
    again, new = register.press("north", "p-1", "Unit 7", "api", at(5))
    assert not new and again.id == first.id
    assert again.count == 2 and again.last_at == at(5) and again.raised_at == T0
    assert again.name == "Unit 7"  # learnt on the second press
    assert len(register.entries()) == 1
    # another participant, or the same id in another room, is another alarm
    assert register.press("north", "p-2", None, "api", at(6))[1]
    assert register.press("south", "p-1", None, "api", at(7))[1]


def test_after_its_acknowledgement_a_new_press_raises_a_new_alarm() -> None:
    register = AlarmRegister()
    first, _ = register.press("north", "p-1", None, "api", T0)
    acked = register.acknowledge(first.id, "dispatcher 1", at(3))
    assert acked.state == ACKNOWLEDGED
    assert (acked.acknowledged_by, acked.acknowledged_at) == ("dispatcher 1", at(3))
    second, new = register.press("north", "p-1", None, "api", at(4))
    assert new and second.id != first.id
    assert [a.id for a in register.entries()] == [second.id, first.id]  # newest first
    assert register.entries(ACKNOWLEDGED) == [acked]


def test_acknowledging_twice_or_an_unknown_alarm_is_refused() -> None:
    register = AlarmRegister()
    alarm, _ = register.press("north", None, None, "manual", T0)
    register.acknowledge(alarm.id, "a", at(1))
    with pytest.raises(AlreadyAcknowledged) as refused:
        register.acknowledge(alarm.id, "b", at(2))
    assert refused.value.alarm.acknowledged_by == "a"
    with pytest.raises(KeyError):
        register.acknowledge("al-nothing", "a", at(2))


def test_alarms_without_a_participant_are_never_merged() -> None:
    register = AlarmRegister()
    register.press("north", None, None, "manual", T0, text="smoke", raised_by="d1")
    register.press("north", None, None, "manual", at(1), text="fire", raised_by="d1")
    assert [a.text for a in register.entries(ACTIVE)] == ["fire", "smoke"]


def test_active_alarms_are_bounded_and_old_acknowledged_ones_forgotten() -> None:
    register = AlarmRegister(max_active=2, max_kept=1)
    a, _ = register.press("r", "p-1", None, "api", T0)
    b, _ = register.press("r", "p-2", None, "api", at(1))
    with pytest.raises(AlarmLimit):
        register.press("r", "p-3", None, "api", at(2))
    assert register.press("r", "p-1", None, "api", at(2))[0].count == 2  # repeats still count
    register.acknowledge(a.id, "d", at(3))
    register.acknowledge(b.id, "d", at(4))
    assert [x.id for x in register.entries()] == [b.id]  # one acknowledged kept: the newest


def test_an_alarm_survives_its_json_and_the_register_restarts_from_it() -> None:
    register = AlarmRegister()
    alarm, _ = register.press("北区", "p-1", "七号车", "dtmf", T0, text="事故")
    acked = register.acknowledge(register.press("r", None, None, "manual", at(1))[0].id, "d", at(2))
    for kept in (alarm, acked):
        assert Alarm.from_json(kept.to_json()) == kept
    restarted = AlarmRegister([Alarm.from_json(a.to_json()) for a in register.entries()])
    assert restarted.entries() == register.entries()
    assert restarted.press("北区", "p-1", None, "dtmf", at(3))[0].count == 2


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"id": "x"},
        {**AlarmRegister().press("r", None, None, "api", T0)[0].to_json(), "state": "odd"},
    ],
)
def test_anything_else_is_not_an_alarm(data: dict[str, object]) -> None:
    with pytest.raises((ValueError, KeyError, TypeError)):
        Alarm.from_json(data)


# -- triggers ---------------------------------------------------------------------------------


def floor(kind: str, **data: object) -> Event:
    return Event(kind, "north", {"participant": "p-1", "source": "api", **data}, T0)


@pytest.mark.parametrize(
    "kind", ["floor.granted", "floor.denied", "floor.queued", "floor.escalated"]
)
def test_floor_requests_at_emergency_priority_are_presses(kind: str) -> None:
    press = floor_emergency(floor(kind, priority=3, source="squelch"))
    assert press == EmergencyPress("north", "p-1", "squelch", T0)


@pytest.mark.parametrize(
    "event",
    [
        floor("floor.granted", priority=2),
        floor("floor.granted", priority=3, from_queue=True),  # its floor.queued was the press
        floor("floor.granted", priority=3, source="announcement"),
        floor("floor.granted", priority=3, source="broadcast"),
        floor("floor.released", priority=3),
        floor("floor.revoked", priority=3),
        Event("floor.granted", None, {"participant": "p-1", "priority": 3}),
        Event("floor.granted", "north", {"priority": 3}),
    ],
)
def test_other_floor_events_are_not(event: Event) -> None:
    assert floor_emergency(event) is None


def dtmf(digit: str, seconds: float, participant: str = "p-1") -> Event:
    return Event("dtmf", "north", {"participant": participant, "digit": digit}, at(seconds))


def test_star_nine_from_a_phone_is_a_press_within_three_seconds() -> None:
    watch = DtmfEmergencies()
    assert watch.press(dtmf("*", 0)) is None
    assert watch.press(dtmf("9", 1)) == EmergencyPress("north", "p-1", "dtmf", at(1))
    assert watch.press(dtmf("9", 1.5)) is None  # the sequence starts again with *
    watch.press(dtmf("*", 10))
    assert watch.press(dtmf("9", 14)) is None  # too late


def test_other_digits_between_or_other_legs_break_the_sequence() -> None:
    watch = DtmfEmergencies()
    watch.press(dtmf("*", 0))
    watch.press(dtmf("1", 0.5))
    assert watch.press(dtmf("9", 1)) is None
    watch.press(dtmf("*", 2, "p-1"))
    assert watch.press(dtmf("9", 2.5, "p-2")) is None
    watch.press(Event("participant.left", "north", {"participant": "p-1"}, at(2.6)))
    assert watch.press(dtmf("9", 2.7, "p-1")) is None  # it left: its * is forgotten
