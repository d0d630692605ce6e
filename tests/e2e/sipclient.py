"""A bare UDP SIP client for tests that speak SIP byte by byte to a running server."""

from __future__ import annotations

import socket
import time

from sip.message import Response, SipParseError, parse_message
from tests.e2e.server import ServerProcess


class SipClient:
    """A bare UDP SIP client: sends text, reads responses (skipping 100 Trying)."""

    def __init__(self, server: ServerProcess, address: str = "127.0.0.1", port: int = 0) -> None:
        self.server = server
        self.address = address
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, port))
        self.sock.settimeout(2.0)
        self.port = self.sock.getsockname()[1]
        self.sequence = 0

    def close(self) -> None:
        self.sock.close()

    def request(
        self,
        method: str,
        uri: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        body: str = "",
        call_id: str | None = None,
        cseq: int | None = None,
        to_tag: str = "",
        user: str = "alice",
    ) -> str:
        self.sequence += 1
        uri = uri or f"sip:command@127.0.0.1:{self.server.sip_port}"
        branch = f"z9hG4bK-{time.monotonic_ns()}"
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/UDP {self.address}:{self.port};branch={branch};rport",
            "Max-Forwards: 70",
            f"From: <sip:{user}@127.0.0.1>;tag=from{self.sequence}",
            # REGISTER's To is the address of record being registered (§10.2).
            (f"To: <sip:{user}@127.0.0.1>" if method == "REGISTER" else f"To: <{uri}>")
            + (f";tag={to_tag}" if to_tag else ""),
            f"Call-ID: {call_id or f'call-{time.monotonic_ns()}'}",
            f"CSeq: {cseq or self.sequence} {method}",
            f"Contact: <sip:{user}@{self.address}:{self.port}>",
            *[f"{name}: {value}" for name, value in (headers or {}).items()],
            f"Content-Length: {len(body.encode())}",
        ]
        return "\r\n".join(lines) + "\r\n\r\n" + body

    def send(self, text: str | bytes) -> None:
        data = text.encode() if isinstance(text, str) else text
        self.sock.sendto(data, ("127.0.0.1", self.server.sip_port))

    def response(self, timeout: float = 2.0) -> Response | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data, _ = self.sock.recvfrom(65535)
            except TimeoutError:
                return None
            message = _lenient_response(data)
            if message is not None and message.status != 100:
                return message
        return None

    def drain(self) -> int:
        """Read and drop whatever answers are still on their way; how many there were."""
        count = 0
        while self.response(0.5) is not None:
            count += 1
        return count

    def statuses(self, seconds: float) -> list[int]:
        """The status of every response that arrives within `seconds`, 100 Trying included."""
        deadline = time.monotonic() + seconds
        statuses: list[int] = []
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data, _ = self.sock.recvfrom(65535)
            except TimeoutError:
                break
            message = _lenient_response(data)
            if message is not None:
                statuses.append(message.status)
        return statuses

    def exchange(self, text: str | bytes, timeout: float = 2.0) -> Response | None:
        self.send(text)
        return self.response(timeout)


def _lenient_response(data: bytes) -> Response | None:
    """A response, even one missing headers (answers to broken requests copy what they can)."""
    try:
        message = parse_message(data)
    except SipParseError:
        status_line = data.split(b"\r\n", 1)[0].decode()
        version, status, reason = status_line.split(" ", 2)
        return Response(status=int(status), reason=reason) if version == "SIP/2.0" else None
    return message if isinstance(message, Response) else None
