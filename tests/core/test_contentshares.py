"""Who shares content in each room (mediacore.contentshares): one share per room, the latest
sharer takes over, and every way a share ends."""

from __future__ import annotations

from datetime import UTC, datetime

from mediacore.contentshares import ContentShares, Share

AT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def share(participant: str = "p-1", source: str = "p-1/content", room: str = "r") -> Share:
    return Share(room, participant, source, participant.upper(), AT)


def test_a_share_is_live_once_its_source_is_there() -> None:
    shares = ContentShares()
    assert shares.start(share()) is None
    assert shares.get("r") == share() and not share().live
    assert shares.went_live("other") == []
    (live,) = shares.went_live("p-1/content")
    assert live.live and shares.get("r") == live
    assert shares.went_live("p-1/content") == []  # announced once
    assert live.to_json() == {
        "participant": "p-1",
        "source": "p-1/content",
        "name": "P-1",
        "since": "2026-12-07T12:00:00.000Z",
        "live": True,
    }


def test_the_latest_sharer_takes_over_and_the_first_share_stops_as_replaced() -> None:
    shares = ContentShares()
    shares.start(share("p-1"))
    stopped = shares.start(share("p-2", "p-2/content"))
    assert stopped is not None and stopped.share.participant == "p-1"
    assert (stopped.reason, stopped.by) == ("replaced", "P-2")
    assert shares.get("r") is not None and shares.get("r").participant == "p-2"  # type: ignore[union-attr]
    # the same track shared again replaces nothing
    assert shares.start(share("p-2", "p-2/content")) is None


def test_only_the_sharer_stops_its_own_share_but_an_operator_stops_any() -> None:
    shares = ContentShares()
    shares.start(share("p-1"))
    assert shares.stop("r", "unshared", participant="p-2") is None
    assert shares.get("r") is not None
    stopped = shares.stop("r", "stopped", by="op")
    assert stopped is not None and (stopped.reason, stopped.by) == ("stopped", "op")
    assert shares.get("r") is None and shares.stop("r", "stopped") is None


def test_a_share_ends_with_its_source_in_every_room_it_is_shown() -> None:
    shares = ContentShares()
    shares.start(share("p-1", "cam", room="a"))
    shares.start(share("p-2", "other", room="b"))
    (stopped,) = shares.source_ended("cam")
    assert (stopped.share.room, stopped.reason) == ("a", "ended")
    assert shares.get("a") is None and shares.get("b") is not None
