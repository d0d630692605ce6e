"""A spoofed SIP flood from many loopback addresses, one generator process of `bench sip --attack`.

    python -m bench.sipflood --target 127.0.0.1:5060 --rate 500 --seconds 30 \\
        --addresses 127.0.0.10-127.0.0.59 --room bench-sip --report flood.json

Sends REGISTER, INVITE and OPTIONS in turn, each from the next source address (one UDP socket
bound per address), paced on absolute deadlines. Every message is what an attacker without
credentials sends: made-up users, a forged Authorization with a nonce the server never gave,
INVITEs whose SDP points media at somebody else. It never ACKs nor answers, so whatever the
server keeps for such requests piles up. Responses are read and counted by status; the report
(JSON) says what was sent, what came back, and how far behind its schedule the generator fell."""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import random
import socket
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

METHODS = ("REGISTER", "INVITE", "OPTIONS")
TICK = 0.01  # seconds between bursts


def addresses(spec: str) -> list[str]:
    """`127.0.0.10-127.0.0.59` (or one address) as a list of addresses."""
    first, _, last = spec.partition("-")
    start = ipaddress.IPv4Address(first)
    end = ipaddress.IPv4Address(last or first)
    return [str(ipaddress.IPv4Address(n)) for n in range(int(start), int(end) + 1)]


def spoofed(method: str, source: str, port: int, target: str, room: str, n: int) -> bytes:
    """One forged request from `source:port`: a new dialog every time."""
    tag = f"{n:x}{random.getrandbits(32):08x}"
    user = random.choice(("admin", "100", "operator", "bench", f"u{random.randrange(10**6)}"))
    request_uri = {
        "REGISTER": f"sip:{target}",
        "INVITE": f"sip:{room}@{target}",
        "OPTIONS": f"sip:{target}",
    }[method]
    to = f"sip:{user}@{target}" if method == "REGISTER" else request_uri
    headers = [
        f"{method} {request_uri} SIP/2.0",
        f"Via: SIP/2.0/UDP {source}:{port};branch=z9hG4bK-flood-{tag};rport",
        "Max-Forwards: 70",
        f"From: <sip:{user}@{target}>;tag={tag}",
        f"To: <{to}>",
        f"Call-ID: flood-{tag}@{source}",
        f"CSeq: 1 {method}",
        f"Contact: <sip:{user}@{source}:{port}>",
    ]
    body = ""
    if method == "REGISTER":
        headers.append(
            f'Authorization: Digest username="{user}", realm="mediacore", '
            f'nonce="{random.getrandbits(64):016x}", uri="{request_uri}", '
            f'response="{random.getrandbits(128):032x}", algorithm=MD5'
        )
        headers.append("Expires: 3600")
    if method == "INVITE":
        victim = f"198.51.100.{random.randrange(1, 255)}"
        body = (
            f"v=0\r\no=- {n} 1 IN IP4 {victim}\r\ns=-\r\nc=IN IP4 {victim}\r\nt=0 0\r\n"
            f"m=audio {random.randrange(10000, 60000, 2)} RTP/AVP 0\r\n"
            "a=rtpmap:0 PCMU/8000\r\n"
        )
        headers.append("Content-Type: application/sdp")
    headers.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode()


def flood(
    target: tuple[str, int], sources: list[str], rate: float, seconds: float, room: str
) -> dict[str, Any]:
    sockets = []
    for source in sources:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((source, 0))
        sock.setblocking(False)
        sockets.append(sock)
    host = f"{target[0]}:{target[1]}"
    sent: Counter[str] = Counter()
    received: Counter[str] = Counter()
    errors = 0
    worst_lag = 0.0
    n = 0
    start = time.monotonic()
    bursts = int(seconds / TICK)
    for burst in range(bursts):
        deadline = start + burst * TICK
        lag = time.monotonic() - deadline
        worst_lag = max(worst_lag, lag)
        if lag < 0:
            time.sleep(-lag)
        due = int(rate * (burst + 1) * TICK) - n
        for _ in range(due):
            sock = sockets[n % len(sockets)]
            method = METHODS[n % len(METHODS)]
            message = spoofed(
                method, sources[n % len(sources)], sock.getsockname()[1], host, room, n
            )
            try:
                sock.sendto(message, target)
                sent[method] += 1
            except OSError:
                errors += 1
            n += 1
        for sock in sockets[burst % len(sockets) :: 10]:  # read a tenth of them each burst
            _drain(sock, received)
    for sock in sockets:
        _drain(sock, received)
        sock.close()
    elapsed = time.monotonic() - start
    return {
        "sources": len(sources),
        "sent": dict(sent),
        "sent_total": sum(sent.values()),
        "send_errors": errors,
        "seconds": round(elapsed, 2),
        "rate": round(sum(sent.values()) / elapsed, 1),
        "worst_lag_s": round(worst_lag, 3),
        "responses": dict(received),
    }


def _drain(sock: socket.socket, received: Counter[str]) -> None:
    while True:
        try:
            data = sock.recv(65535)
        except (BlockingIOError, ConnectionRefusedError):
            return
        status = data[8:11].decode("ascii", "replace") if data.startswith(b"SIP/2.0 ") else "req"
        received[status] += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.sipflood")
    parser.add_argument("--target", required=True, help="HOST:PORT of the server's SIP (UDP)")
    parser.add_argument("--rate", type=float, required=True, help="messages per second")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--addresses", required=True, help="FIRST-LAST loopback addresses")
    parser.add_argument("--room", required=True)
    parser.add_argument("--report", required=True)
    args = parser.parse_args(argv)
    host, _, port = args.target.rpartition(":")
    random.seed(os.getpid())
    report = flood((host, int(port)), addresses(args.addresses), args.rate, args.seconds, args.room)
    Path(args.report).write_text(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
