"""One tick of audio at a time, handed from one room's clock to another's.

A participant who monitors or transmits into other rooms joins their clocks: each tick of one
room pushes a frame, each tick of the other pops one. The two clocks run at the same period but
at a phase of their own, and either may be a little late, so a plain "latest frame" would now and
then be read twice or skipped. The relay locks on its first frame that is at least `settle`
seconds old and from then on hands over frames in order; when it runs dry (the producer was
late, or stopped) it locks again, and when it falls a whole tick behind (a late producer
catching up in a burst) it drops the extra frame. It adds between `settle` and one tick plus
`settle`.

Pure and single-threaded: both rooms of a relay run on one event loop (the worker that holds
the participant; see mediacore/relays.py)."""

from __future__ import annotations

from collections import deque

from mediacore.codecs.base import Pcm

SETTLE_SECONDS = 0.003  # a frame younger than this may be followed by a late one: not locked on
MAX_BACKLOG = 2  # frames waiting beyond this are dropped, oldest first


class FrameRelay:
    def __init__(self, period: float, settle: float = SETTLE_SECONDS) -> None:
        """`period`: the clocks' tick, seconds."""
        self.period = period
        self.settle = settle
        self._frames: deque[tuple[float, Pcm]] = deque(maxlen=MAX_BACKLOG + 2)
        self._locked = False
        self.dropped = 0  # frames skipped to catch up, for statistics

    def push(self, pcm: Pcm, now: float) -> None:
        """The producing clock's frame of this tick."""
        self._frames.append((now, pcm))

    def pop(self, now: float) -> Pcm | None:
        """The consuming clock's frame for this tick, or None (nothing to hear)."""
        frames = self._frames
        ripe = now - self.settle
        if not self._locked:
            if not frames or frames[0][0] > ripe:
                return None
            self._locked = True
            behind = float("inf")  # lock on the newest settled frame
        elif not frames:
            self._locked = False
            return None
        else:
            # A whole tick behind (one clock was late and caught up in a burst): catch up,
            # rather than carry the extra tick of delay from then on.
            behind = ripe - self.period
        while len(frames) > 1 and frames[1][0] <= ripe and frames[0][0] <= behind:
            frames.popleft()
            self.dropped += 1
        return frames.popleft()[1]

    def clear(self) -> None:
        self._frames.clear()
        self._locked = False

    def __len__(self) -> int:
        return len(self._frames)
