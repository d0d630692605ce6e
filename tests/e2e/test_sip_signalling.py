"""SIP signalling against a running server, byte by byte: the answers RFC 3261 asks for, and
bad input that gets an error (or silence) but never takes the server down."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets

from bench.rtppeer import RtpPeer
from mediacore.codecs import PCMU
from sip.digest import Challenge, answer_challenge
from sip.message import Response, parse_message
from tests.e2e.events import wait_for_event
from tests.e2e.server import TOKEN, ServerProcess
from tests.e2e.sipclient import SipClient

pytestmark = pytest.mark.slow

SDP_OFFER = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)
SDP_TYPE = {"Content-Type": "application/sdp"}

CONFIG = """
[sip]
auth_failure_limit = 5

[[sip.users]]
user = "alice"
password = "alice-secret"
role = "operator"

[[sip.users]]
user = "rita"
password = "rita-secret"
role = "reviewer"

[[sip.users]]
user = "sharon"
password = "sharon-secret"
role = "operator"
digest_algorithms = "SHA-256,MD5"
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(Path(tmp_path_factory.mktemp("sip")), config=CONFIG)
    yield process
    assert process.stop() == 0, process.log_path.read_text()


@pytest.fixture
def client(server: ServerProcess) -> Iterator[SipClient]:
    sip = SipClient(server)
    yield sip
    sip.close()


def server_is_healthy(server: ServerProcess) -> bool:
    return server.client.get("/api/v1/health").status_code == 200


def registered(
    client: SipClient,
    password: str,
    user: str = "alice",
    expires: int = 60,
    algorithms: tuple[str, ...] = ("MD5",),
) -> Response | None:
    """REGISTER, answer the first challenge with `password`; the final response. The
    challenges must offer `algorithms`, in this order."""
    uri = "sip:127.0.0.1"
    call_id = f"reg-{time.monotonic_ns()}"
    first = client.exchange(
        client.request("REGISTER", uri, call_id=call_id, cseq=1, user=user,
                       headers={"Expires": str(expires)})
    )  # fmt: skip
    assert first is not None and first.status == 401
    challenges = [Challenge.parse(v) for v in first.headers.get_all("WWW-Authenticate")]
    assert tuple(c.algorithm for c in challenges) == algorithms
    credentials = answer_challenge(
        challenges[0], username=user, password=password, method="REGISTER", uri=uri
    )
    return client.exchange(
        client.request(
            "REGISTER", uri, call_id=call_id, cseq=2, user=user,
            headers={"Expires": str(expires), "Authorization": credentials.header_value()},
        )
    )  # fmt: skip


def test_options_is_answered_with_what_we_allow(client: SipClient) -> None:
    response = client.exchange(client.request("OPTIONS"))
    assert response is not None and response.status == 200
    allow = response.headers.get("Allow") or ""
    assert "INVITE" in allow and "REGISTER" in allow and "UPDATE" in allow


def test_register_with_digest_then_unregister(client: SipClient, server: ServerProcess) -> None:
    response = registered(client, "alice-secret")
    assert response is not None and response.status == 200
    assert "expires=60" in (response.headers.get("Contact") or "")
    users = server.client.get("/api/v1/registrations").json()["users"]
    assert any(u["user"] == "alice" and u["expires_in"] > 50 for u in users)
    response = registered(client, "alice-secret", expires=0)
    assert response is not None and response.status == 200
    users = server.client.get("/api/v1/registrations").json()["users"]
    assert not any(u["user"] == "alice" for u in users)


def test_registrations_show_in_the_cli_and_sip_counters_in_metrics(
    client: SipClient, server: ServerProcess
) -> None:
    response = registered(client, "alice-secret")
    assert response is not None and response.status == 200
    command = [sys.executable, "-m", "mediacore.server.cli", "registrations", "--url", server.url]
    shown = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=20,
        env={**os.environ, "MEDIACORE_TOKEN": TOKEN},
    )
    assert shown.returncode == 0, shown.stderr
    assert "alice" in shown.stdout and f"udp:127.0.0.1:{client.port}" in shown.stdout
    calls = subprocess.run([*command[:3], "calls", "--url", server.url, "--token", TOKEN],
                           capture_output=True, text=True, timeout=20)  # fmt: skip
    assert calls.returncode == 0 and "no calls" in calls.stdout
    metrics = server.metrics()
    assert "mediacore_sip_received_messages_total" in metrics
    assert "mediacore_sip_registrations 1.0" in metrics
    assert registered(client, "alice-secret", expires=0) is not None


def test_sha256_is_challenged_only_for_accounts_that_ask_for_it(client: SipClient) -> None:
    """MD5 alone by default (phones give up at a SHA-256 challenge); an account may have its
    own list, SHA-256 first."""
    response = registered(client, "sharon-secret", user="sharon", algorithms=("SHA-256", "MD5"))
    assert response is not None and response.status == 200
    assert registered(client, "sharon-secret", user="sharon", expires=0,
                      algorithms=("SHA-256", "MD5")) is not None  # fmt: skip


def test_wrong_password_is_forbidden(client: SipClient) -> None:
    response = registered(client, "not-the-password", user="rita")
    assert response is not None and response.status == 403


def test_unknown_method_is_501_and_known_unsupported_is_405(client: SipClient) -> None:
    unknown = client.exchange(client.request("FROBNICATE"))
    assert unknown is not None and unknown.status == 501
    subscribe = client.exchange(client.request("SUBSCRIBE", headers={"Event": "presence"}))
    assert subscribe is not None and subscribe.status == 405
    assert "INVITE" in (subscribe.headers.get("Allow") or "")


def test_max_forwards_zero_is_too_many_hops(client: SipClient) -> None:
    text = client.request("OPTIONS").replace("Max-Forwards: 70", "Max-Forwards: 0")
    response = client.exchange(text)
    assert response is not None and response.status == 483


def test_requests_in_unknown_dialogs_get_481(client: SipClient) -> None:
    for method in ("BYE", "INFO", "UPDATE"):
        response = client.exchange(client.request(method, to_tag="no-such-dialog"))
        assert response is not None and response.status == 481, method


def test_required_extension_we_lack_gets_420(client: SipClient) -> None:
    response = client.exchange(client.request("OPTIONS", headers={"Require": "100rel, foo"}))
    assert response is not None and response.status == 420
    assert "100rel" in (response.headers.get("Unsupported") or "")


def test_invite_to_unknown_room_is_404(client: SipClient) -> None:
    uri = f"sip:no-such-room@127.0.0.1:{client.server.sip_port}"
    response = client.exchange(client.request("INVITE", uri))
    assert response is not None and response.status == 404


def test_invite_without_credentials_is_challenged(client: SipClient) -> None:
    response = client.exchange(client.request("INVITE", body="v=0\r\n"))
    assert response is not None and response.status == 401
    assert response.to.tag  # a final response to INVITE carries a To tag for its ACK


async def test_full_room_answers_busy_before_ringing(
    client: SipClient, server: ServerProcess
) -> None:
    """A room at max_participants refuses an authenticated caller with 486, never 200+BYE."""
    room = "full-room"
    created = server.client.post("/api/v1/rooms", json={"name": room, "max_participants": 1})
    assert created.status_code == 201, created.text
    occupant = RtpPeer(PCMU)
    await occupant.open()
    server.join(room, occupant.make_offer(), name="occupant")
    uri = f"sip:{room}@127.0.0.1:{server.sip_port}"
    call_id = f"busy-{time.monotonic_ns()}"
    challenge = client.exchange(client.request("INVITE", uri, call_id=call_id, cseq=1,
                                               body=SDP_OFFER, headers=SDP_TYPE))  # fmt: skip
    assert challenge is not None and challenge.status == 401
    offered = Challenge.parse(challenge.headers.get_all("WWW-Authenticate")[0])
    credentials = answer_challenge(
        offered, username="alice", password="alice-secret", method="INVITE", uri=uri
    )
    busy = client.exchange(
        client.request("INVITE", uri, call_id=call_id, cseq=2, body=SDP_OFFER,
                       headers={**SDP_TYPE, "Authorization": credentials.header_value()})
    )  # fmt: skip
    occupant.close()
    assert busy is not None and busy.status == 486, busy
    assert "full" in (busy.headers.get("Warning") or "")
    assert [entry["name"] for entry in server.roster(room)] == ["occupant"]
    server.client.delete(f"/api/v1/rooms/{room}")


@pytest.mark.parametrize("room", ["command", "no-such-room"])
def test_a_forged_invite_is_answered_once_not_reflected(client: SipClient, room: str) -> None:
    """Reflection: an INVITE from a forged UDP source (it never retransmits nor ACKs) used to
    bring 100 Trying and then its 401 (or 404) about 11 times over 32 s. Now the quick answer
    goes alone, once; a real caller that missed it retransmits its INVITE and gets it again."""
    uri = f"sip:{room}@127.0.0.1:{client.server.sip_port}"
    invite = client.request("INVITE", uri, body="v=0\r\n")
    client.send(invite)

    statuses = client.statuses(2.0)  # Timer G would have repeated it at 0.5 and 1.5 s already

    expected = 401 if room == "command" else 404
    assert statuses == [expected]
    client.send(invite)  # the caller retransmits its INVITE: the same answer comes back
    assert client.statuses(1.0) == [expected]


def test_an_acked_final_response_ends_its_transaction(client: SipClient) -> None:
    invite = client.request("INVITE", body="v=0\r\n")
    first = client.exchange(invite)
    assert first is not None and first.status == 401
    ack = invite.replace("INVITE sip:", "ACK sip:", 1).replace(" INVITE\r\n", " ACK\r\n")
    to_line = next(line for line in ack.split("\r\n") if line.startswith("To:"))
    client.send(ack.replace(to_line, f"To: {first.headers.get('To')}"))
    client.send(invite)  # ACKed (confirmed): a late copy of the INVITE is absorbed
    assert client.statuses(1.5) == []


@pytest.mark.parametrize(
    ("mangle", "status"),
    [
        (lambda t: t.replace("Content-Length: 0", "Content-Length: 99999"), 413),
        (lambda t: t.replace("Content-Length: 0", "Content-Length: 50"), 400),
        (lambda t: "\r\n".join(x for x in t.split("\r\n") if not x.startswith("Call-ID")), 400),
        (lambda t: "\r\n".join(x for x in t.split("\r\n") if not x.startswith("CSeq")), 400),
        (lambda t: t.replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE"), 400),
        (lambda t: t.replace("SIP/2.0\r\n", "SIP/3.0\r\n", 1), 505),
        (lambda t: t.replace("OPTIONS sip:", "OPTIONS http:", 1), 416),
        (lambda t: t.replace("Max-Forwards: 70", "Max-Forwards: lots"), 400),
    ],
    ids=["absurd-length", "short-body", "no-call-id", "no-cseq", "cseq-method",
         "version", "uri-scheme", "max-forwards"],
)  # fmt: skip
def test_malformed_requests_get_the_right_error(
    client: SipClient, server: ServerProcess, mangle: object, status: int
) -> None:
    text = client.request("OPTIONS", cseq=1)
    response = client.exchange(mangle(text))  # type: ignore[operator]
    assert response is not None and response.status == status
    assert server_is_healthy(server)


def test_garbage_truncation_and_floods_never_take_the_server_down(
    client: SipClient, server: ServerProcess
) -> None:
    valid = client.request("OPTIONS").encode()
    junk = [
        b"",
        b"\r\n\r\n",
        b"\x00" * 100,
        b"\xff\xfe" * 2000,
        b"INVITE",
        b"SIP/2.0 200 OK\r\n\r\n",
    ]
    junk += [valid[:cut] for cut in range(0, len(valid), 17)]
    junk += [b"OPTIONS sip:a@b SIP/2.0\r\n" + b"X-Pad: y\r\n" * 500 + b"\r\n"]
    for _ in range(3):
        for data in junk:
            client.send(data)
    client.sock.sendto(b"x" * 65000, ("127.0.0.1", server.sip_port))
    assert server_is_healthy(server)
    assert client.drain() > 0  # truncated requests with a Via were answered 400
    response = client.exchange(client.request("OPTIONS"))
    assert response is not None and response.status == 200


def test_oversized_tcp_message_closes_the_connection(server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.sip_port), timeout=3) as stream:
        stream.sendall(b"OPTIONS sip:a@127.0.0.1 SIP/2.0\r\n" + b"X: " + b"y" * 70000)
        stream.settimeout(3)
        try:
            assert stream.recv(100) == b""  # closed: no way to find the next message's start
        except ConnectionResetError:
            pass
    assert server_is_healthy(server)


def test_options_over_tcp(server: ServerProcess) -> None:
    client = SipClient(server)
    text = client.request("OPTIONS").replace("SIP/2.0/UDP", "SIP/2.0/TCP")
    client.close()
    with socket.create_connection(("127.0.0.1", server.sip_port), timeout=3) as stream:
        stream.sendall(text.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            data += stream.recv(4096)
    response = parse_message(data)
    assert isinstance(response, Response) and response.status == 200


async def test_repeated_auth_failures_are_throttled_and_reported(server: ServerProcess) -> None:
    """Runs last: afterwards 127.0.0.1 is blocked for a minute."""
    client = SipClient(server)
    guess = (
        'Digest username="rita", realm="mediacore", nonce="forged", uri="sip:127.0.0.1", '
        'response="00000000000000000000000000000000", algorithm=MD5'
    )
    refusals = 0
    async with websockets.connect(server.events_url()) as stream:
        for _ in range(10):
            text = client.request("REGISTER", "sip:127.0.0.1", user="rita",
                                  headers={"Authorization": guess})  # fmt: skip
            response = await asyncio.to_thread(client.exchange, text, 1.0)
            if response is None:
                break  # blocked: dropped unanswered
            assert response.status == 403
            refusals += 1
        blocked = await wait_for_event(stream, [], "sip.auth_blocked", 3)
    assert 1 <= refusals <= 5
    assert blocked["source"] == "127.0.0.1" and blocked["user"] == "rita"
    assert server_is_healthy(server)

    # The blocked address floods OPTIONS: each is dropped before it becomes a transaction
    # (they used to stay forever, with no timer: past 10,000 every phone got 503).
    before = sip_metrics(server)
    for number in range(2000):
        client.send(client.request("OPTIONS", call_id=f"flood-{number}"))
        if number % 100 == 0:
            await asyncio.sleep(0.02)  # let the server read: the socket buffer is finite
    await asyncio.sleep(1.0)
    after = sip_metrics(server)
    client.close()
    assert after["dropped"] - before["dropped"] >= 1500  # some may be lost on the loopback
    assert after["transactions"] <= before["transactions"] + 5
    good = SipClient(server, address="127.0.0.2")  # a phone at another address is served
    response = good.exchange(good.request("OPTIONS"))
    good.close()
    assert response is not None and response.status == 200


def sip_metrics(server: ServerProcess) -> dict[str, float]:
    values = {}
    for line in server.metrics().splitlines():
        if line.startswith("mediacore_sip_transactions "):
            values["transactions"] = float(line.split()[1])
        elif line.startswith("mediacore_sip_dropped_messages_total "):
            values["dropped"] = float(line.split()[1])
    return values
