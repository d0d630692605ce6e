"""Who may watch which video source: the participants of its room, never another room's."""

from __future__ import annotations

from dataclasses import dataclass, field

from mediacore.videohub import VideoHub, VideoSource


@dataclass
class RoomView:
    name: str
    participants: dict[str, object] = field(default_factory=dict)


def test_sources_are_watchable_from_their_own_room_only() -> None:
    hub = VideoHub()
    hub.register_source(VideoSource("p-cam", "H264", participant_id="p-cam"))
    hub.register_source(VideoSource("wall-hall-0", "H264", room="command"))
    hub.register_source(VideoSource("wall-lobby-0", "H264"))  # a wall of no room
    command = RoomView("command", {"p-cam": object()})
    other = RoomView("other", {"p-me": object()})
    assert hub.may_watch(command, "p-cam") and hub.may_watch(command, "wall-hall-0")
    assert not hub.may_watch(other, "p-cam") and not hub.may_watch(other, "wall-hall-0")
    assert not hub.may_watch(command, "wall-lobby-0")
    assert not hub.may_watch(command, "p-nobody")
    # a participant that moves takes its video along: the check follows the roster
    other.participants["p-cam"] = command.participants.pop("p-cam")
    assert hub.may_watch(other, "p-cam") and not hub.may_watch(command, "p-cam")
    hub.get("p-cam").close()
    assert not hub.may_watch(other, "p-cam")
