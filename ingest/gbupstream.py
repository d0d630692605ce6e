"""Our registration to one upper platform (上级平台) as a lower platform: when to REGISTER, when
to send a keepalive, when to try again. No I/O and no clock: the adapter (ingest.gbcascade)
asks `due(now)` what to do, does it, and reports the outcome.

GB/T 28181-2016 section 9.1 and 9.6: a lower platform registers like a device (digest in the
upper platform's realm), refreshes the registration before it expires and sends Notify
Keepalive MESSAGEs every interval. An upper platform that refuses a registration, or
leaves `misses` keepalives in a row unanswered (or answers one with a 4xx: it forgot us),
counts as lost: state `failed`, and we register again after a back-off that grows up to a
minute while it stays unreachable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

UpstreamState = Literal["idle", "registered", "failed"]
Action = Literal["register", "keepalive"]
BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
REFRESH_SHARE = 0.8  # refresh after this share of the granted expiry
MIN_REFRESH = 5.0


@dataclass(frozen=True, slots=True)
class StateChange:
    """The registration's state changed; `reason` says why (for the `gb.upstream` event)."""

    state: UpstreamState
    reason: str


class UpstreamSession:
    def __init__(
        self, keepalive_interval: float, misses: int, backoff: tuple[float, ...] = BACKOFF
    ):
        self.keepalive_interval = keepalive_interval
        self.misses = misses
        self.backoff = backoff
        self.state: UpstreamState = "idle"
        self.last_error = ""
        self.registered_at: float | None = None
        self.expires_at = 0.0
        self.failures = 0  # registrations that failed in a row
        self.missed = 0  # keepalives unanswered in a row
        self.keepalives = 0  # answered 200, since the start
        self._register_at = 0.0
        self._keepalive_at = 0.0

    def due(self, now: float) -> Action | None:
        """What to do now, if anything."""
        if self.state == "registered":
            if now >= self._register_at:
                return "register"  # a refresh
            if now >= self._keepalive_at:
                return "keepalive"
            return None
        return "register" if now >= self._register_at else None

    def wait(self, now: float) -> float:
        """Seconds until something is due (0 when something is)."""
        deadline = self._register_at
        if self.state == "registered":
            deadline = min(deadline, self._keepalive_at)
        return max(0.0, deadline - now)

    def registered(self, now: float, granted: int) -> StateChange | None:
        """A 200 OK to our REGISTER granting `granted` seconds."""
        was = self.state
        self.state = "registered"
        self.failures = 0
        self.missed = 0
        self.last_error = ""
        self.registered_at = now
        self.expires_at = now + granted
        self._register_at = now + max(MIN_REFRESH, granted * REFRESH_SHARE)
        if was != "registered":
            self._keepalive_at = now + self.keepalive_interval
            return StateChange("registered", "registered")
        return None

    def register_failed(self, now: float, error: str) -> StateChange | None:
        """The REGISTER was refused or not answered: try again after the back-off."""
        was = self.state
        self.last_error = error
        self.state = "failed"
        self._register_at = now + self.backoff[min(self.failures, len(self.backoff) - 1)]
        self.failures += 1
        return StateChange("failed", error) if was != "failed" else None

    def keepalive_answered(self, now: float, status: int, reason: str = "") -> StateChange | None:
        """The outcome of a keepalive: 200, a refusal (it forgot us) or 408 (no answer)."""
        self._keepalive_at = now + self.keepalive_interval
        if 200 <= status < 300:
            self.missed = 0
            self.keepalives += 1
            return None
        if status == 408 or status >= 500:
            self.missed += 1
            if self.missed < self.misses:
                return None
            error = f"{self.missed} keepalives unanswered"
        else:
            error = f"keepalive refused: {status} {reason}".strip()
        self.missed = 0
        self.state = "failed"
        self.last_error = error
        self._register_at = now  # register again at once; back-off if that fails too
        return StateChange("failed", error)

    def stopped(self) -> None:
        self.state = "idle"

    def describe(self, now: float) -> dict[str, Any]:
        registered = self.state == "registered"
        return {
            "state": self.state,
            "last_error": self.last_error,
            "expires_in": max(0, round(self.expires_at - now)) if registered else 0,
            "keepalives": self.keepalives,
            "failures": self.failures,
        }
