"""TLS over a byte stream, without I/O: the record layer of one connection (SIP over TLS, HTTPS).

The transport feeds whatever the socket read to `receive(data)` and gets the plaintext it
carried; `send(plaintext)` encrypts (held until the handshake ends); after either, the bytes in
`data_to_send()` go to the socket. Doing TLS here rather than with the event loop's `start_tls`
keeps one code path for every loop (uvloop's server-side `start_tls` stalls) and lets the
transport count a connection from its TCP accept, before any handshake."""

from __future__ import annotations

import ssl


class TlsSession:
    """One TLS connection's state (`ssl.SSLObject` over memory buffers).

    `receive` raises `ssl.SSLError` (a failed handshake, a certificate we do not trust, a bad
    record): the caller closes the connection."""

    def __init__(
        self, context: ssl.SSLContext, *, server_side: bool, server_hostname: str | None = None
    ) -> None:
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(
            self._incoming,
            self._outgoing,
            server_side=server_side,
            server_hostname=None if server_side else server_hostname,
        )
        self.established = False
        self.closed = False  # the peer sent close_notify
        self._held: list[bytes] = []  # plaintext sent before the handshake ended
        if not server_side:
            self._handshake()  # the ClientHello, waiting in data_to_send()

    def receive(self, data: bytes) -> bytes:
        """Bytes read from the socket; returns the plaintext they complete (maybe b"")."""
        self._incoming.write(data)
        if not self.established:
            self._handshake()
            if not self.established:
                return b""
        plain = bytearray()
        while not self.closed:
            try:
                chunk = self._tls.read(65536)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                self.closed = True
                break
            if not chunk:  # what read() gives once the peer's close_notify came
                self.closed = True
                break
            plain += chunk
        return bytes(plain)

    def send(self, data: bytes) -> None:
        """Encrypt `data` for the peer (held until the handshake is done)."""
        if not self.established:
            self._held.append(data)
            return
        self._tls.write(data)

    def close(self) -> None:
        """Say goodbye (close_notify; its record is in data_to_send())."""
        try:
            self._tls.unwrap()
        except ssl.SSLWantReadError:  # the peer's close_notify has not come: no need to wait
            pass

    def data_to_send(self) -> bytes:
        """TLS records for the socket, from the handshake and from `send`."""
        return self._outgoing.read()

    def _handshake(self) -> None:
        try:
            self._tls.do_handshake()
        except ssl.SSLWantReadError:
            return
        self.established = True
        held, self._held = self._held, []
        for data in held:
            self._tls.write(data)
