"""Limits on SIP TCP connections: how many, from whom, and how long each may hold us.

A connection is a socket and a buffer that anyone who completes a handshake can hold open, so
bytes alone must not keep one alive (a slow drip of a never-ending message, or CRLFs): only
complete SIP messages do. `FlowDeadlines` is the pure clock of one connection; the transport
asks it every second whether to close."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TcpLimits:
    """`[sip] tcp_*` settings: connection caps and the two deadlines."""

    max_connections: int = 2000  # open at once, in total
    max_per_address: int = 10  # accepted from one source address at once
    message_timeout: float = 10.0  # a message begun must end within this; a new one must start
    idle_timeout: float = 600.0  # closed after this long without a complete message


class FlowDeadlines:
    """When one TCP connection is due to close, from what it received and when.

    An accepted connection owes a first complete message within `message_timeout`; a message
    that has begun must be complete within `message_timeout`; after a complete message (or one
    we sent), `idle_timeout` without another closes it. Keep-alive CRLFs count for nothing."""

    def __init__(self, limits: TcpLimits, now: float, *, accepted: bool) -> None:
        self.limits = limits
        self.opened_at = now
        self.last_message: float | None = None if accepted else now
        self.message_started: float | None = None

    def received(self, now: float, *, complete: int, partial: bool) -> None:
        """Bytes came: `complete` whole messages, and whether a message is left unfinished."""
        if complete:
            self.last_message = now
        if not partial:
            self.message_started = None
        elif complete or self.message_started is None:
            self.message_started = now  # a new message began with these bytes

    def sent(self, now: float) -> None:
        """We wrote a message: a connection we use is not idle."""
        self.last_message = now

    def expired(self, now: float) -> str | None:
        """Why the connection must close now ("message-timeout", "no-message", "idle"), or
        None."""
        timeout = self.limits.message_timeout
        if self.message_started is not None and now - self.message_started > timeout:
            return "message-timeout"
        if self.last_message is None:
            return "no-message" if now - self.opened_at > timeout else None
        if now - self.last_message > self.limits.idle_timeout:
            return "idle"
        return None
