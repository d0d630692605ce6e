"""A call's standing (what was set on its participant after it joined) kept from the room's
events, written into its record, and applied again on the node that carries the call on."""

from __future__ import annotations

import asyncio
import json

from mediacore.events import EventBus
from mediacore.participant import Participant
from mediacore.server.callrecord import CallRecord
from mediacore.server.callstanding import CallStanding
from tests.cluster.sipcalls import make_call
from tests.server.test_room_move import Leg, rooms_of


async def test_changes_and_whispers_made_after_joining_are_recorded_and_applied_again() -> None:
    bus = EventBus()
    rooms = rooms_of(bus, "command", "east")
    standing = CallStanding(bus, rooms)
    room = rooms.room("command")
    desk, phone, other = (room.add(Participant(name, Leg())) for name in ("desk", "phone", "x"))
    await rooms.update("command", phone.id, {"muted": True, "gain_db": -6.0})
    await rooms.update("command", phone.id, {"hear_not": [other.id], "deaf": False})
    await rooms.update("command", phone.id, {"monitor": [{"room": "east", "gain_db": -3.0}]})
    await rooms.whisper_book.start("command", phone.id, [desk.id], by="dispatcher")
    fields = standing.fields("command", phone.id)
    assert json.loads(fields["changes"]) == {
        "muted": True,
        "gain_db": -6.0,
        "hear_not": [other.id],
        "monitor": [{"room": "east", "gain_db": -3.0}],
    }
    assert json.loads(fields["whispers"]) == [[desk.id]]
    record = CallRecord.of(make_call(), node="n1", name="phone", **fields)
    assert record is not None and CallRecord.from_hash(record.to_hash()) == record

    # The survivor: the same room with the same participants back as they joined.
    bus2 = EventBus()
    survivor = rooms_of(bus2, "command", "east")
    again = CallStanding(bus2, survivor)
    back = survivor.room("command")
    for old in (desk, phone, other):
        back.add(Participant(old.name, Leg(), id=old.id))
    await again.reapply("command", phone.id, record.changes)
    await again.rewhisper("command", [(phone.id, record.whispers)])
    entry = await survivor.participant("command", phone.id)
    assert (entry["muted"], entry["gain_db"], entry["hear_not"]) == (True, -6.0, [other.id])
    assert [m["room"] for m in entry["monitor"]] == ["east"]
    assert [(w["from"], w["to"]) for w in survivor.whisper_book.current("command")] == [
        (phone.id, [desk.id])
    ]
    assert json.loads(again.fields("command", phone.id)["changes"])["muted"] is True


async def test_a_participant_that_left_has_no_standing_and_bad_records_apply_nothing() -> None:
    bus = EventBus()
    rooms = rooms_of(bus, "command")
    standing = CallStanding(bus, rooms)
    phone = rooms.room("command").add(Participant("phone", Leg()))
    await rooms.update("command", phone.id, {"muted": True})
    await rooms.remove("command", phone.id, "left")
    assert standing.changes(phone.id) == {}
    # Garbled JSON, a participant not here, a key no room takes: left, nothing raised.
    await standing.reapply("command", "p-gone", "{")
    await standing.reapply("command", "p-gone", '{"muted": 1}')
    await standing.rewhisper("command", [("p-gone", "[["), ("p-gone", '[["p-1"]]')])
    await standing.rewhisper("closed", [("p-gone", '[["p-1"]]')])
    await standing.reapply("closed", "p-gone", '{"name": "x"}')


async def test_changes_wait_for_a_carried_participant_that_has_not_joined_yet() -> None:
    """On media workers a carried-on call joins its room a moment after the re-INVITE."""
    bus = EventBus()
    rooms = rooms_of(bus, "command")
    standing = CallStanding(bus, rooms)
    await standing.reapply("command", "p-late", '{"muted": true, "priority": 2}')
    rooms.room("command").add(Participant("late", Leg(), id="p-late"))
    await asyncio.sleep(0.05)
    entry = await rooms.participant("command", "p-late")
    assert (entry["muted"], entry["priority"]) == (True, 2)
