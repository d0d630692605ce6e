"""Attacks on the SIP side of a running server, performed byte by byte from loopback addresses:
forged trunk calls, reflection through a PIN room, replayed and misdirected digest credentials,
and TCP connections that try to hold the server open."""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import time
from collections.abc import Iterator

import pytest
import websockets

from bench.sipprun import free_sip_port
from mediacore.rtp import build_rtp
from sip.digest import Challenge, answer_challenge
from sip.message import Response
from tests.e2e.events import wait_for_event
from tests.e2e.server import ServerProcess
from tests.e2e.sipclient import SipClient

pytestmark = pytest.mark.slow

PBX_PORT = free_sip_port()  # the "address" trunk: 127.0.0.1 on this port, over UDP
CARRIER = "127.0.0.5"  # the "digest" trunk's proxy address
PIN = "2468"
SERVER_CONFIG = f"""
[sip]
tcp_max_per_address = 3
tcp_message_timeout = 2
pin_failure_limit = 4

[[sip.users]]
user = "alice"
password = "alice-secret"
role = "operator"

[[sip.trunks]]
name = "pbx"
proxy = "sip:127.0.0.1:{PBX_PORT}"

[[sip.trunks]]
name = "carrier"
proxy = "sip:{CARRIER}:5060"
inbound = "digest"
username = "carrier"
password = "carrier-secret"
"""


@pytest.fixture(scope="module")
def rooms(server: ServerProcess) -> Iterator[None]:
    for body in ({"name": "open"}, {"name": "other"}, {"name": "pinned", "pin": PIN}):
        response = server.client.post("/api/v1/rooms", json=body)
        assert response.status_code == 201, response.text
    yield
    for name in ("open", "other", "pinned"):
        server.client.delete(f"/api/v1/rooms/{name}")


def offer(address: str, port: int) -> str:
    return (
        f"v=0\r\no=- 1 1 IN IP4 {address}\r\ns=-\r\nc=IN IP4 {address}\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    )


SDP = {"Content-Type": "application/sdp"}


def invite(
    client: SipClient, room: str, media: tuple[str, int], headers: dict[str, str] | None = None
) -> str:
    uri = f"sip:{room}@127.0.0.1:{client.server.sip_port}"
    return client.request(
        "INVITE", uri, body=offer(*media), headers={**SDP, **(headers or {})}, user="caller"
    )


def new_branch(text: str) -> str:
    return re.sub(r"branch=[^;\r]*", f"branch=z9hG4bK-{time.monotonic_ns()}", text, count=1)


def cseq_of(text: str) -> int:
    match = re.search(r"CSeq: (\d+) ", text)
    assert match is not None
    return int(match.group(1))


def with_credentials(request: str, authorization: str) -> str:
    """The INVITE `request` sent again (new branch, next CSeq) with an Authorization header."""
    number = cseq_of(request)
    text = request.replace(f"CSeq: {number} INVITE", f"CSeq: {number + 1} INVITE")
    header = f"Content-Type: application/sdp\r\nAuthorization: {authorization}"
    text = text.replace("Content-Type: application/sdp", header)
    return new_branch(text)


def in_dialog(request: str, method: str, to: str, later: int = 1, dtmf: str = "") -> str:
    """`method` in the dialog that `request` (an INVITE) set up, answered with To header `to`;
    an ACK carries the INVITE's CSeq number, anything else `later` more. `dtmf`: an INFO's
    digit (application/dtmf-relay)."""
    number = cseq_of(request) + (0 if method == "ACK" else later)
    text = request.split("\r\n\r\n", 1)[0] + "\r\n\r\n"
    text = text.replace("INVITE sip:", f"{method} sip:", 1)
    text = re.sub(r"CSeq: \d+ INVITE", f"CSeq: {number} {method}", text)
    body = f"Signal={dtmf}\r\nDuration=160\r\n" if dtmf else ""
    text = re.sub(r"Content-Length: \d+", f"Content-Length: {len(body)}", text)
    text = re.sub(r"Content-Type: [^\r]*\r\n", "", text)
    if dtmf:
        text = text.replace("\r\n\r\n", "\r\nContent-Type: application/dtmf-relay\r\n\r\n")
    to_line = next(line for line in text.split("\r\n") if line.startswith("To:"))
    return new_branch(text.replace(to_line, f"To: {to}")) + body


def final(client: SipClient, text: str, timeout: float = 3.0) -> Response:
    """The final response to the request `text` (answers to earlier requests are skipped)."""
    client.send(text)
    call_id = re.search(r"Call-ID: ([^\r]*)", text)
    assert call_id is not None
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        response = client.response(left)
        if response is None:
            break
        if (response.call_id, response.cseq[0]) == (call_id.group(1), cseq_of(text)):
            return response
    raise AssertionError("no final response")


def hang_up(client: SipClient, request: str, ok: Response) -> None:
    to = ok.headers.get("To") or ""
    client.send(in_dialog(request, "ACK", to))
    bye = final(client, in_dialog(request, "BYE", to))
    assert bye.status == 200


def media_port(ok: Response) -> int:
    match = re.search(r"m=audio (\d+) ", ok.body.decode())
    assert match is not None, ok.body
    return int(match.group(1))


def udp_socket(address: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, 0))
    return sock


def packets_within(sock: socket.socket, seconds: float) -> int:
    deadline, count = time.monotonic() + seconds, 0
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            sock.recvfrom(2048)
        except TimeoutError:
            break
        count += 1
    return count


# -- hole 4: trunks ----------------------------------------------------------------------------


def test_a_forged_trunk_call_from_another_port_or_transport_is_challenged(
    server: ServerProcess, rooms: None
) -> None:
    """The trunk is trusted at udp:127.0.0.1:PBX_PORT only: the same address from another port
    (a forged UDP source) or over TCP must authenticate like anyone."""
    attacker = SipClient(server)
    media = udp_socket()
    try:
        forged = final(attacker, invite(attacker, "open", media.getsockname()))
        assert forged.status == 401
    finally:
        attacker.close()
    with socket.create_connection(("127.0.0.1", server.sip_port), timeout=3) as stream:
        text = invite(SipClient(server), "open", media.getsockname())
        stream.sendall(text.replace("SIP/2.0/UDP", "SIP/2.0/TCP").encode())
        stream.settimeout(3)
        data = b""
        while b" 401 " not in data and b" 200 " not in data:
            data += stream.recv(4096)
        assert b"SIP/2.0 401 " in data
    pbx = SipClient(server, port=PBX_PORT)
    try:
        request = invite(pbx, "open", media.getsockname())
        trusted = final(pbx, request)
        assert trusted.status == 200  # the real PBX: no digest
        hang_up(pbx, request, trusted)
    finally:
        pbx.close()
        media.close()


def test_a_digest_trunk_is_challenged_and_joins_with_its_credentials(
    server: ServerProcess, rooms: None
) -> None:
    carrier = SipClient(server, address=CARRIER)
    media = udp_socket(CARRIER)
    try:
        request = invite(carrier, "pinned", media.getsockname())
        challenge = final(carrier, request)
        assert challenge.status == 401  # challenged, though the room would take a PIN
        uri = f"sip:pinned@127.0.0.1:{server.sip_port}"
        offered = Challenge.parse(challenge.headers.get_all("WWW-Authenticate")[0])
        credentials = answer_challenge(
            offered, username="carrier", password="carrier-secret", method="INVITE", uri=uri
        )
        request = with_credentials(request, credentials.header_value())
        ok = final(carrier, request)
        assert ok.status == 200
        roster = server.roster("pinned")
        assert [entry["user"] for entry in roster] == ["carrier"]  # in at once, no PIN
        hang_up(carrier, request, ok)
    finally:
        carrier.close()
        media.close()


# -- hole 10: reflection and replay ------------------------------------------------------------


def test_a_forged_invite_to_a_pin_room_sends_no_media_and_one_answer(
    server: ServerProcess, rooms: None
) -> None:
    """The INVITE names a victim's address in c= and never ACKs: the victim gets nothing,
    the forged source one 200 (it used to get 200 OK about 11 times and 45 s of beeps)."""
    forger = SipClient(server)
    victim = udp_socket()
    try:
        forger.send(invite(forger, "pinned", victim.getsockname()))
        statuses = forger.statuses(3.0)
        assert statuses.count(200) == 1 and set(statuses) <= {100, 200}
        assert packets_within(victim, 1.0) == 0
    finally:
        forger.close()
        victim.close()


def test_the_pin_prompt_starts_after_the_ack_and_the_callers_first_rtp(
    server: ServerProcess, rooms: None
) -> None:
    caller = SipClient(server, address="127.0.0.9")
    media = udp_socket("127.0.0.9")
    try:
        request = invite(caller, "pinned", media.getsockname())
        ok = final(caller, request)
        assert ok.status == 200
        caller.send(in_dialog(request, "ACK", ok.headers.get("To") or ""))
        assert packets_within(media, 1.0) == 0  # ACKed, but no RTP from the caller yet
        packet = build_rtp(0, 1, 160, 0x1234, b"\xff" * 160)
        media.sendto(packet, ("127.0.0.1", media_port(ok)))
        assert packets_within(media, 1.0) >= 20  # the prompt plays: 50 packets a second
        bye = final(caller, in_dialog(request, "BYE", ok.headers.get("To") or ""))
        assert bye.status == 200
    finally:
        caller.close()
        media.close()


def test_credentials_for_one_room_do_not_open_another(server: ServerProcess, rooms: None) -> None:
    client = SipClient(server)
    media = udp_socket()
    try:
        request = invite(client, "other", media.getsockname())
        challenge = final(client, request)
        assert challenge.status == 401
        offered = Challenge.parse(challenge.headers.get_all("WWW-Authenticate")[0])
        captured = answer_challenge(
            offered,
            username="alice",
            password="alice-secret",
            method="INVITE",
            uri=f"sip:open@127.0.0.1:{server.sip_port}",  # made for the room "open"
        )
        misdirected = with_credentials(request, captured.header_value())
        assert final(client, misdirected).status == 403
        assert server.roster("other") == []
    finally:
        client.close()
        media.close()


def test_credentials_without_qop_cannot_be_replayed(server: ServerProcess, rooms: None) -> None:
    """sipp-style digest (no qop, so no nonce count): one request per nonce."""
    client = SipClient(server)
    media = udp_socket()
    uri = f"sip:open@127.0.0.1:{server.sip_port}"
    try:
        request = invite(client, "open", media.getsockname())
        challenge = final(client, request)
        offered = Challenge.parse(challenge.headers.get_all("WWW-Authenticate")[0])
        old_style = Challenge(offered.realm, offered.nonce, offered.algorithm, qop=None)
        credentials = answer_challenge(
            old_style, username="alice", password="alice-secret", method="INVITE", uri=uri
        )
        assert credentials.qop is None

        first = with_credentials(request, credentials.header_value())
        ok = final(client, first)
        assert ok.status == 200
        another_call = invite(client, "open", media.getsockname())
        replayed = final(client, with_credentials(another_call, credentials.header_value()))
        assert replayed.status == 401  # challenged afresh, never let in
        stale = Challenge.parse(replayed.headers.get_all("WWW-Authenticate")[0])
        assert stale.stale
        hang_up(client, first, ok)
        assert len(server.roster("open")) <= 1
    finally:
        client.close()
        media.close()


# -- hole 13: TCP exhaustion -------------------------------------------------------------------


async def connect_from(
    address: str, port: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TCP connection to the server's `port` from loopback `address`."""
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(address, 0))


async def closed(reader: asyncio.StreamReader, within: float) -> bool:
    """Whether the server closes the connection within `within` seconds."""
    try:
        return await asyncio.wait_for(reader.read(100), within) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


async def test_tcp_connections_are_capped_per_address_and_a_drip_is_cut_off(
    server: ServerProcess,
) -> None:
    held = [await connect_from("127.0.0.7", server.sip_port) for _ in range(4)]
    assert await closed(held[3][0], 2.0)  # the fourth from one address is turned away
    dripper, drip = held[0]
    started = time.monotonic()
    message = b"OPTIONS sip:open@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.7:9\r\n"
    cut = False
    for byte in message:  # one byte every 0.2 s: bytes alone never keep a connection open
        try:
            drip.write(bytes([byte]))
            await drip.drain()
        except ConnectionError:
            cut = True
            break
        if await closed(dripper, 0.2):
            cut = True
            break
    elapsed = time.monotonic() - started
    assert cut and elapsed < 5.0  # tcp_message_timeout = 2 s, checked every second
    assert await closed(held[1][0], 3.0)  # silent ones owe a first message within 2 s too
    for _, writer in held:
        writer.close()
    with socket.create_connection(("127.0.0.1", server.sip_port), timeout=3) as stream:
        text = SipClient(server).request("OPTIONS").replace("SIP/2.0/UDP", "SIP/2.0/TCP")
        stream.sendall(text.encode())
        assert b"SIP/2.0 200 OK" in stream.recv(4096)  # others are served all along


async def test_tls_handshakes_never_made_are_capped_per_address_and_cut_off(
    server: ServerProcess,
) -> None:
    """SIP over TLS holds to the same caps: a connection counts from its TCP accept, and one
    that never completes a handshake is closed by the message deadline."""
    held = [await connect_from("127.0.0.9", server.sip_tls_port) for _ in range(4)]
    assert await closed(held[3][0], 2.0)  # the fourth from one address is turned away at once
    started = time.monotonic()
    for reader, _ in held[:3]:
        assert await closed(reader, 4.0)  # no handshake within tcp_message_timeout = 2 s
    assert time.monotonic() - started < 4.0
    for _, writer in held:
        writer.close()
    trusting = ssl.create_default_context(cafile=str(server.ca_file))
    with (
        socket.create_connection(("127.0.0.1", server.sip_tls_port), timeout=3) as raw,
        trusting.wrap_socket(raw, server_hostname="127.0.0.1") as stream,
    ):
        text = SipClient(server).request("OPTIONS").replace("SIP/2.0/UDP", "SIP/2.0/TLS")
        stream.sendall(text.encode())
        assert b"SIP/2.0 200 OK" in stream.recv(4096)  # a real TLS client is served


# -- hole 3: PIN guessing ----------------------------------------------------------------------


def enter(client: SipClient, request: str, ok: Response, digits: str, sent: int) -> int:
    """Key `digits` as SIP INFO in the call; how many in-dialog requests were sent in all."""
    to = ok.headers.get("To") or ""
    for digit in digits:
        sent += 1
        client.send(in_dialog(request, "INFO", to, later=sent, dtmf=digit))
        time.sleep(0.05)
    return sent


async def test_pin_guessing_locks_the_address_out_with_an_event(
    server: ServerProcess, rooms: None
) -> None:
    guesser = SipClient(server, address="127.0.0.8")
    media = udp_socket("127.0.0.8")
    try:
        async with websockets.connect(server.events_url("pinned")) as events:
            request = invite(guesser, "pinned", media.getsockname())
            ok = final(guesser, request)
            assert ok.status == 200
            guesser.send(in_dialog(request, "ACK", ok.headers.get("To") or ""))
            await asyncio.to_thread(enter, guesser, request, ok, "1111#2222#3333#", 0)
            request = invite(guesser, "pinned", media.getsockname())  # three wrong: a new call
            ok = final(guesser, request)
            assert ok.status == 200
            guesser.send(in_dialog(request, "ACK", ok.headers.get("To") or ""))
            await asyncio.to_thread(enter, guesser, request, ok, "4444#", 0)
            locked = await wait_for_event(events, [], "sip.pin_locked", 5)
        assert locked["locked"] == "source" and locked["source"] == "127.0.0.8"
        assert locked["failures"] == 4
        refused = final(guesser, invite(guesser, "pinned", media.getsockname()))
        assert (refused.status, refused.reason) == (403, "PIN Entry Locked")
        assert server.roster("pinned") == []
    finally:
        guesser.close()
        media.close()


def test_calls_waiting_at_the_pin_prompt_are_capped_per_address(
    server: ServerProcess, rooms: None
) -> None:
    caller = SipClient(server, address="127.0.0.10")
    media = udp_socket("127.0.0.10")
    try:
        statuses = [
            final(caller, invite(caller, "pinned", media.getsockname())).status for _ in range(3)
        ]
        assert statuses == [200, 200, 486]  # pin_calls_per_source = 2, each holds media ports
    finally:
        caller.close()
        media.close()
