"""RFC 4028 session timers for one dialog: who refreshes, and when the session is dead.

Pure state: the call tells it about refreshes; the user agent asks, once a second, whether a
refresh is due (we are the refresher) or whether the session expired (the peer forgot)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class SessionTimer:
    interval: int  # seconds, the Session-Expires delta
    refresher: str  # "uac" or "uas", as the header names them
    we_are: str  # our role in the dialog's INVITE: "uac" or "uas"
    last_refresh: float

    @property
    def we_refresh(self) -> bool:
        return self.refresher == self.we_are

    def refreshed(self, now: float, interval: int, refresher: str) -> None:
        self.interval, self.refresher, self.last_refresh = interval, refresher, now

    def refresh_due(self, now: float) -> bool:
        return self.we_refresh and now - self.last_refresh >= self.interval / 2

    def expired(self, now: float) -> bool:
        """§10: without a refresh, the session ends min(32, interval/3) before it expires."""
        if self.we_refresh:
            return False
        return now - self.last_refresh > self.interval - min(32.0, self.interval / 3)

    def header_value(self) -> str:
        return f"{self.interval};refresher={self.refresher}"


def parse_session_expires(value: str) -> tuple[int, str | None] | None:
    """`1800;refresher=uac` into (1800, "uac"); None when malformed."""
    delta, _, params = value.partition(";")
    delta = delta.strip()
    if not (delta.isascii() and delta.isdigit()) or len(delta) > 9:  # isdigit() accepts '²'
        return None
    refresher = None
    for param in params.split(";"):
        name, _, val = param.partition("=")
        if name.strip().lower() == "refresher":
            refresher = val.strip().lower()
            if refresher not in ("uac", "uas"):
                return None
    return int(delta), refresher
