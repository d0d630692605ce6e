"""One HTTP port for HTTPS and, from this machine, plain HTTP: the first byte tells them apart.

The contract fixes the embedded defaults as "HTTP 8080", and every transport that leaves the
machine must be encrypted. The port does both. A connection whose first byte opens a TLS
record (a ClientHello, 0x16) gets TLS with the server's certificate, done here over memory
buffers (mediacore.tlssession: uvloop's server-side start_tls stalls), and the HTTP and
WebSocket protocols run over the decrypted stream as over any transport. A connection that
speaks plain HTTP is served only from a loopback address (tools and proxies on the machine,
where nothing travels over a network; `[server] plain_http = "none"` turns that off too);
from anywhere else it gets a plain-text 400 naming https and is closed.

`http_port_protocol(inner, context, plain_from_loopback)` makes the protocol class uvicorn
runs (its `http` setting takes a class): each instance holds one `inner` protocol (uvicorn's
h11 one) and hands it the connection once the first bytes have said what it is."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from typing import Any

from mediacore.tlssession import TlsSession

TLS_RECORD_HANDSHAKE = 0x16
_WHY = b"this port speaks HTTPS to other machines: use https://\n"
REFUSAL = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_WHY), _WHY)
)


def http_port_protocol(
    inner: type[asyncio.Protocol], context: ssl.SSLContext, plain_from_loopback: bool
) -> type[asyncio.Protocol]:
    """The protocol class for uvicorn: TLS or plain by the first byte (see the module)."""

    class HttpPort(_HttpPort):
        pass

    HttpPort.inner_class = inner
    HttpPort.context = context
    HttpPort.plain_from_loopback = plain_from_loopback
    return HttpPort


class _HttpPort(asyncio.Protocol):
    inner_class: type[asyncio.Protocol]
    context: ssl.SSLContext
    plain_from_loopback: bool

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._inner = self.inner_class(*args, **kwargs)
        self._raw: asyncio.Transport | None = None
        self._tls: TlsTransport | None = None
        self._decided = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._raw = transport  # type: ignore[assignment]  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        raw = self._raw
        assert raw is not None
        if self._tls is not None:
            self._tls.feed(data)
            return
        if self._decided or not data:
            return
        self._decided = True
        if data[0] == TLS_RECORD_HANDSHAKE:
            self._tls = TlsTransport(raw, TlsSession(self.context, server_side=True), self.context)
            self._tls.set_protocol(self._inner)
            self._inner.connection_made(self._tls)
            self._tls.feed(data)
        elif self.plain_from_loopback and _loopback(raw.get_extra_info("peername")):
            raw.set_protocol(self._inner)  # from now on the connection is the inner one's
            self._inner.connection_made(raw)
            self._inner.data_received(data)
        else:
            raw.write(REFUSAL)
            raw.close()

    def eof_received(self) -> bool | None:
        if self._tls is not None:
            return self._tls.protocol.eof_received()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._tls is not None:
            self._tls.lost(exc)

    def pause_writing(self) -> None:
        if self._tls is not None:
            self._tls.protocol.pause_writing()

    def resume_writing(self) -> None:
        if self._tls is not None:
            self._tls.protocol.resume_writing()


class TlsTransport(asyncio.Transport):
    """The decrypted side of one TLS connection, as a transport for HTTP and WebSockets."""

    def __init__(self, raw: asyncio.Transport, session: TlsSession, context: ssl.SSLContext):
        super().__init__()
        self.raw = raw
        self.session = session
        self.context = context
        self.protocol: asyncio.Protocol = asyncio.Protocol()
        self._closing = False

    # -- from the socket ------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        try:
            plain = self.session.receive(data)
        except ssl.SSLError:  # no TLS after all, a failed handshake, a forged record
            self._flush()
            self.raw.close()
            return
        self._flush()
        if plain and not self._closing:
            self.protocol.data_received(plain)
        if self.session.closed and not self._closing:  # the peer's close_notify
            self.protocol.eof_received()
            self.close()

    def lost(self, exc: Exception | None) -> None:
        self._closing = True
        self.protocol.connection_lost(exc)

    # -- asyncio.Transport ----------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:  # type: ignore[override]
        if self._closing or self.raw.is_closing():
            return
        self.session.send(bytes(data))
        self._flush()

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(list_of_data))

    def can_write_eof(self) -> bool:
        return False

    def write_eof(self) -> None:
        raise NotImplementedError("TLS has no half-close: close() instead")

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self.session.close()
        self._flush()
        self.raw.close()

    def abort(self) -> None:
        self._closing = True
        self.raw.abort()

    def is_closing(self) -> bool:
        return self._closing or self.raw.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "sslcontext":
            return self.context  # what tells uvicorn the scheme is https / wss
        return self.raw.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol  # type: ignore[assignment]  # the WebSocket upgrade

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self.protocol

    def pause_reading(self) -> None:
        self.raw.pause_reading()

    def resume_reading(self) -> None:
        self.raw.resume_reading()

    def is_reading(self) -> bool:
        return self.raw.is_reading()

    def get_write_buffer_size(self) -> int:
        return self.raw.get_write_buffer_size()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.raw.set_write_buffer_limits(high, low)

    def _flush(self) -> None:
        out = self.session.data_to_send()
        if out and not self.raw.is_closing():
            self.raw.write(out)


def _loopback(peer: Any) -> bool:
    if not isinstance(peer, (tuple, list)) or not peer:
        return False
    try:
        address = ipaddress.ip_address(str(peer[0]).split("%")[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))
