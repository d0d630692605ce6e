"""Runs the HTTP server and the media core in one process until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Iterator

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from mediacore.server.app import MediaServer, create_app
from mediacore.server.certificates import CertificateError
from mediacore.server.config import Config
from mediacore.server.httpport import http_port_protocol
from mediacore.server.transportsecurity import transport_security
from mediacore.uvloops import install_uvloop

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
MAX_HEADER_BYTES = 16 * 1024
MAX_WEBSOCKET_MESSAGE = 128 * 1024


class GracefulServer(uvicorn.Server):
    """uvicorn re-raises SIGTERM after its shutdown, so the process would die by signal even
    though rooms and legs closed cleanly; a clean stop exits with status 0 instead."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in _STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def run(config: Config) -> int:
    """Serve until stopped; returns the process exit status (2: an unusable certificate)."""
    try:
        security = transport_security(config)
    except CertificateError as error:
        print(f"mediacore: {error}", file=sys.stderr)
        return 2
    https = security.https  # HTTPS and WSS unless [server] insecure_http asks for plain HTTP
    loop = "uvloop" if install_uvloop() else "asyncio"
    app = create_app(MediaServer(config, sip_tls=security.sip))
    server = GracefulServer(
        uvicorn.Config(
            app,
            host=config.server.host,
            port=config.server.http_port,
            loop=loop,
            log_config=None,
            access_log=config.server.access_log,
            lifespan="on",
            # Bounds below the app's own (guard.py): request line and headers, and one
            # WebSocket message (signalling allows 64 KiB and answers 1009 beyond).
            # HTTPS and, from this machine, plain HTTP on one port (httpport.py); plain HTTP
            # for everyone with insecure_http.
            http=H11Protocol
            if https is None
            else http_port_protocol(
                H11Protocol, https.server_context(), config.server.plain_http == "loopback"
            ),
            h11_max_incomplete_event_size=MAX_HEADER_BYTES,
            ws_max_size=MAX_WEBSOCKET_MESSAGE,
        )
    )
    asyncio.run(server.serve())
    return 0 if server.started else 1  # never started: the port was taken or start-up failed
