"""Moving a participant between two rooms of one process: Room.detach / Room.attach, and
LocalRooms.move with its refusals, on fake endpoints (no sockets)."""

from __future__ import annotations

import pytest

from mediacore.endpoint import Endpoint
from mediacore.events import Event, EventBus
from mediacore.joinedroom import JoinedRoom, Member
from mediacore.participant import Participant
from mediacore.room import Room, RoomFull, RoomSettings
from mediacore.server.config import Config
from mediacore.server.directory import RoomDirectory
from mediacore.server.rooms import LocalRooms, NotMovable, OtherFormat, SameRoom
from mixer.audiomixer import AudioMixer
from tests.core.test_audiosession import FakeClock, session


class Leg(Endpoint):
    kind = "fake"

    def __init__(self, movable: bool = True) -> None:
        self.movable = movable
        self.rooms: list[str] = []
        self.closed = False

    def joined(self, room: JoinedRoom, participant: Member) -> None:
        self.rooms.append(room.name)

    async def close(self, reason: str) -> None:
        self.closed = True


def rooms_of(bus: EventBus, *names: str, **settings: object) -> LocalRooms:
    directory = RoomDirectory(Config(rooms=()), bus)
    for name in names:
        directory.open(RoomSettings(name, **settings))  # type: ignore[arg-type]
    return LocalRooms(directory)


async def test_a_moved_participant_keeps_its_endpoint_and_frees_the_old_floor() -> None:
    bus = EventBus()
    seen: list[Event] = []
    bus.listen(seen.append)
    rooms = rooms_of(bus, "alpha", "bravo")
    alpha, bravo = rooms.room("alpha"), rooms.room("bravo")
    leg = Leg()
    mover = alpha.add(Participant("mover", leg, duplex="half"))
    assert alpha.request_floor(mover.id, "api").result == "granted"
    entry = await rooms.move("alpha", mover.id, "bravo")
    assert entry["id"] == mover.id and not leg.closed
    assert leg.rooms == ["alpha", "bravo"]  # joined again, with the new room
    assert mover.id not in alpha.participants and bravo.participants[mover.id] is mover
    assert alpha.floor.holder is None and not mover.has_floor
    kinds = [(e.type, e.room) for e in seen if e.type.startswith("participant.")]
    assert kinds[-4:] == [
        ("participant.left", "alpha"),
        ("participant.joined", "bravo"),
        ("participant.moved", "alpha"),
        ("participant.moved", "bravo"),
    ]
    left = next(e for e in seen if e.type == "participant.left")
    assert (left.data["reason"], left.data["to"]) == ("moved", "bravo")
    joined = [e for e in seen if e.type == "participant.joined"][-1]
    assert joined.data["from"] == "alpha"
    await rooms.directory.stop()


async def test_moves_that_cannot_be_are_refused_and_change_nothing() -> None:
    bus = EventBus()
    rooms = rooms_of(bus, "alpha", "bravo")
    rooms.directory.open(RoomSettings("wide", rate=16000))
    rooms.directory.open(RoomSettings("small", max_participants=1))
    alpha = rooms.room("alpha")
    leg = alpha.add(Participant("leg", Leg()))
    clip = alpha.add(Participant("clip", Leg(movable=False)))
    rooms.room("small").add(Participant("occupant", Leg()))
    with pytest.raises(SameRoom):
        await rooms.move("alpha", leg.id, "alpha")
    with pytest.raises(OtherFormat):
        await rooms.move("alpha", leg.id, "wide")
    with pytest.raises(RoomFull):
        await rooms.move("alpha", leg.id, "small")
    with pytest.raises(NotMovable):
        await rooms.move("alpha", clip.id, "bravo")
    assert set(alpha.participants) == {leg.id, clip.id}
    await rooms.directory.stop()


def test_a_moved_leg_sends_timestamps_on_from_where_they_were() -> None:
    audio = session(FakeClock())
    stamps = [audio.stamp(tick)[1:] for tick in (5000, 5001, 5002)]
    audio.continue_timestamps()  # the new room's clock is at tick 12
    after = [audio.stamp(tick)[1:] for tick in (12, 13)]
    steps = [b[0] - a[0] for a, b in zip(stamps + after, (stamps + after)[1:], strict=False)]
    assert steps == [160, 160, 160, 160]
    assert [marker for _, marker in stamps + after] == [True, False, False, True, False]


async def test_room_detach_of_an_unknown_participant_raises_key_error() -> None:
    room = Room(RoomSettings("alone"), EventBus(), make_mixer=AudioMixer)
    with pytest.raises(KeyError):
        room.detach("p-nobody", "elsewhere")
