"""Who shares content in each room (双流): one share per room, the latest sharer wins.

A share names the room, the sharing participant, the video source carrying the content and the
label it is shown with. A room has at most one: a second sharer takes over and the first
share stops ("replaced"), as a presenter handing over in a meeting room does, rather than
being refused while someone forgot to stop. A share stops when its sharer stops it
("unshared"), an operator does ("stopped"), the sharer leaves or is moved ("left", "moved"),
its source ends ("ended") or the room closes ("room-closed").

A share is `live` once its source is in the server's hub (at once in one process; with its
first frame when the sharer's media runs in a worker): only then is it shown and announced.
Pure bookkeeping: the caller publishes what the methods return."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from mediacore.clock import iso8601


@dataclass(frozen=True, slots=True)
class Share:
    room: str
    participant: str
    source: str
    name: str
    since: datetime
    live: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "participant": self.participant,
            "source": self.source,
            "name": self.name,
            "since": iso8601(self.since),
            "live": self.live,
        }


@dataclass(frozen=True, slots=True)
class Stopped:
    """A share that ended, why, and who ended it (an operator's name, or None)."""

    share: Share
    reason: str
    by: str | None = None


class ContentShares:
    def __init__(self) -> None:
        self._shares: dict[str, Share] = {}

    def get(self, room: str) -> Share | None:
        return self._shares.get(room)

    def start(self, share: Share) -> Stopped | None:
        """`share` is its room's content now; returns the share it replaced, if any (the same
        sharer sharing its same source again replaces nothing)."""
        old = self._shares.get(share.room)
        if old is not None and (old.participant, old.source) == (share.participant, share.source):
            return None
        self._shares[share.room] = share
        return None if old is None else Stopped(old, "replaced", share.name)

    def went_live(self, source: str) -> list[Share]:
        """The source `source` is there now: the shares on it that were waiting, now live."""
        live = []
        for room, share in list(self._shares.items()):
            if share.source == source and not share.live:
                self._shares[room] = replace(share, live=True)
                live.append(self._shares[room])
        return live

    def stop(
        self, room: str, reason: str, *, participant: str | None = None, by: str | None = None
    ) -> Stopped | None:
        """End the room's share (only if `participant` shares, when given)."""
        share = self._shares.get(room)
        if share is None or (participant is not None and share.participant != participant):
            return None
        del self._shares[room]
        return Stopped(share, reason, by)

    def source_ended(self, source: str) -> list[Stopped]:
        """The shares whose source ended."""
        return [
            stopped
            for room, share in list(self._shares.items())
            if share.source == source and (stopped := self.stop(room, "ended")) is not None
        ]
