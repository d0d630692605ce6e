"""What a WebRTC receiver can take of one video we send it, from its RTCP feedback.

Chromium receiving our video sends REMB (we offer `goog-remb` and abs-send-time, never
transport-cc, so its receive-side estimator runs) and receiver reports. A REMB is not read as a
hard limit, as a SIP terminal's is: Chromium's estimate never exceeds about 1.5 times what it
receives, so as a limit it would pin a browser to the tier it started at, and a picture that
compresses below its tier's cap would drag it down tier by tier. It is read as Google
congestion control's sender reads it, a congestion signal against what we send:

- REMBs below CONGESTED times our sending rate for CONFIRM_S make the last one the limit (the
  link is full);
- a receiver report losing more than HIGH_LOSS cuts the limit to the sending rate times
  (1 - loss / 2), GCC's loss-based rule (the estimate for receivers that send no REMB);
- otherwise (a REMB at or above what we send, loss under LOW_LOSS) the limit grows by
  INCREASE_PER_S a second, and goes once it passes MAX_BITRATE (no limit known again).

Between LOW_LOSS and HIGH_LOSS it holds. Nothing counts in the first STARTUP_S of sending: a
receiver's estimator is not settled then (Chromium starts from what it measured after 5 s;
aiortc's peers report a few kbit/s at first, from a rate window still filling). Pure: the
caller passes the time and the bytes sent.
"""

from __future__ import annotations

from collections import deque

from mediacore.qualitytiers import MAX_BITRATE

# Chromium's single overuse cut (0.85 of what it received, over a shorter window than our
# rate's) is not congestion yet; a link well below what we send is.
CONGESTED = 0.7
CONFIRM_S = 1.0  # REMBs say "congested" this long before it counts (one may be a burst's)
STARTUP_S = 5.0
HIGH_LOSS = 0.10
LOW_LOSS = 0.02
INCREASE_PER_S = 1.08
RATE_WINDOW_S = 2.0  # the sending rate is measured over this long


class ReceiverEstimate:
    """One receiver's limit in bit/s (`estimate`, None: none known)."""

    def __init__(self) -> None:
        self.estimate: float | None = None
        self._sent: deque[tuple[float, int]] = deque()  # (time, bytes sent so far)
        self._started: float | None = None  # when the first bytes were counted
        self._congested_since: float | None = None
        self._grown_at: float | None = None

    def sent(self, total_bytes: int, now: float) -> None:
        """We have sent `total_bytes` of media to the receiver so far (a running count)."""
        if self._started is None and total_bytes > 0:
            self._started = now
        self._sent.append((now, total_bytes))
        while len(self._sent) > 2 and now - self._sent[1][0] >= RATE_WINDOW_S:
            self._sent.popleft()

    @property
    def sending(self) -> float | None:
        """Our sending rate in bit/s over the last RATE_WINDOW_S; None until measured."""
        if len(self._sent) < 2:
            return None
        (start, first), (end, last) = self._sent[0], self._sent[-1]
        return None if end <= start else (last - first) * 8 / (end - start)

    def remb(self, bitrate: float, now: float) -> float | None:
        """A REMB of `bitrate` bit/s arrived; returns the estimate."""
        sending = self._settled_sending(now)
        if sending is None:
            return self.estimate
        if bitrate >= CONGESTED * sending:
            self._congested_since = None
            self._grow(now)
        elif self._congested_since is None:
            self._congested_since = now
        elif now - self._congested_since >= CONFIRM_S:
            self._limit(bitrate, now)
        return self.estimate

    def loss(self, fraction: float, now: float) -> float | None:
        """A receiver report says `fraction` (0 to 1) of our packets were lost since the last
        one; returns the estimate."""
        sending = self._settled_sending(now)
        if sending is None:
            return self.estimate
        if fraction > HIGH_LOSS:
            self._limit(sending * (1.0 - fraction / 2.0), now)
        elif fraction < LOW_LOSS:
            self._grow(now)
        else:
            self._grown_at = now  # hold: no growth for the time spent here
        return self.estimate

    def _settled_sending(self, now: float) -> float | None:
        """The sending rate once we have sent for STARTUP_S; None before."""
        if self._started is None or now - self._started < STARTUP_S:
            return None
        return self.sending or None  # nothing sent lately: nothing to judge against

    def _limit(self, bitrate: float, now: float) -> None:
        self.estimate = bitrate
        self._grown_at = now

    def _grow(self, now: float) -> None:
        if self.estimate is None:
            return
        since = now - self._grown_at if self._grown_at is not None else 0.0
        self._grown_at = now
        grown = self.estimate * INCREASE_PER_S ** max(0.0, since)
        self.estimate = None if grown > MAX_BITRATE else grown
