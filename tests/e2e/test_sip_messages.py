"""Texts (SIP MESSAGE, RFC 3428) against a running server, from sipp and from bare datagrams:
the digest challenge, the refusals (415, 400, 413, 404, 403), the events on the WebSocket, the
history API and its permissions."""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path

import pytest
import websockets

from bench.sipprun import run_sipp, sipp_available
from tests.e2e.events import wait_for_event
from tests.e2e.server import SIPP_PASSWORD, SIPP_USER, ServerProcess, sipp_config
from tests.e2e.sipclient import SipClient

MAX_CHARS = 40  # the scenario's over-long text is longer than this
SERVER_CONFIG = sipp_config(message_max_chars=MAX_CHARS) + (
    '\n[[sip.users]]\nuser = "viewer"\npassword = "viewer-secret"\nrole = "reviewer"\n'
)
SERVER_ENV: dict[str, str] = {}

needs_sipp = pytest.mark.skipif(not sipp_available(), reason="sipp (sip-tester) not installed")


def target(server: ServerProcess) -> str:
    return f"127.0.0.1:{server.sip_port}"


@needs_sipp
@pytest.mark.slow
async def test_sipp_text_into_a_room_is_challenged_then_taken_and_bad_ones_refused(
    server: ServerProcess, room: str, tmp_path: Path
) -> None:
    async with websockets.connect(server.events_url(room)) as stream:
        result = await asyncio.to_thread(
            run_sipp,
            "uac_message",
            target(server),
            service=room,
            user=SIPP_USER,
            password=SIPP_PASSWORD,
            workdir=tmp_path,
            timeout=20.0,
        )
        assert result.ok, result.describe()
        seen: list[dict[str, object]] = []
        event = await wait_for_event(stream, seen, "message.received", 5.0)
    assert event["room"] == room and event["target"] == "room"
    assert str(event["text"]).strip() == "hello from sipp"
    assert event["user"] == SIPP_USER
    assert [e["type"] for e in seen].count("message.received") == 1  # the refused ones: none
    history = server.client.get("/api/v1/messages", params={"room": room}).json()
    assert [(m["direction"], m["from"], m["text"].strip()) for m in history] == [
        ("in", f"sip:{SIPP_USER}@{target(server)}", "hello from sipp")
    ]


@needs_sipp
@pytest.mark.slow
async def test_sipp_text_to_the_consoles_is_an_event_without_a_room(
    server: ServerProcess, tmp_path: Path
) -> None:
    async with websockets.connect(server.events_url()) as stream:
        result = await asyncio.to_thread(
            run_sipp,
            "uac_message",
            target(server),
            service="dispatch",
            user=SIPP_USER,
            password=SIPP_PASSWORD,
            workdir=tmp_path,
            timeout=20.0,
        )
        assert result.ok, result.describe()
        event = await wait_for_event(stream, [], "message.received", 5.0)
    assert event["room"] is None and event["target"] == "console"
    assert event["to"].startswith("sip:dispatch@")


def authorised(
    client: SipClient, text: str, user: str, password: str, body: bytes | None = None
) -> bytes:
    """`text` (a request; with `body` after it when given) sent without credentials and
    challenged: the same again, answering the challenge for `user`."""
    challenge = client.exchange(text.encode() + (body or b""))
    assert challenge is not None and challenge.status == 401, challenge
    header = challenge.headers.get("WWW-Authenticate") or ""
    fields = dict(part.strip().split("=", 1) for part in header.removeprefix("Digest ").split(","))
    realm, nonce = fields["realm"].strip('"'), fields["nonce"].strip('"')
    uri = text.split(" ", 2)[1]
    ha1 = hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"MESSAGE:{uri}".encode()).hexdigest()
    answer = hashlib.md5(f"{ha1}:{nonce}:00000001:c0ffee:auth:{ha2}".encode()).hexdigest()
    credentials = (
        f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
        f'response="{answer}", algorithm=MD5, qop=auth, nc=00000001, cnonce="c0ffee"'
    )
    head, _, rest = text.partition("\r\n\r\n")
    head = head.replace(";branch=z9hG4bK-", ";branch=z9hG4bK-again-")  # a new transaction
    again = f"{head}\r\nAuthorization: {credentials}\r\n\r\n".encode()
    return again + (body if body is not None else rest.encode())


def message(
    client: SipClient,
    server: ServerProcess,
    to: str,
    body: str,
    content_type: str = "text/plain;charset=UTF-8",
) -> str:
    """A MESSAGE from the sipp account to `to` (a room, an account, "dispatch")."""
    return client.request(
        "MESSAGE",
        f"sip:{to}@127.0.0.1:{server.sip_port}",
        headers={"Content-Type": content_type},
        body=body,
        user=SIPP_USER,
    )


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("<b>hi</b>", "text/html", 415),
        ("hi", "text/plain;charset=ISO-8859-1", 415),
        ("", "text/plain", 400),
        (b"\xff\xfe not utf-8", "text/plain", 400),
        ("x" * (MAX_CHARS + 1), "text/plain", 413),
        ("中文短信 fits", "text/plain;charset=UTF-8", 200),
    ],
    ids=["html", "latin1", "empty", "not-utf8", "too-long", "chinese"],
)
def test_bodies_are_checked_after_authentication(
    server: ServerProcess, room: str, body: str | bytes, content_type: str, status: int
) -> None:
    client = SipClient(server)
    try:
        if isinstance(body, bytes):  # not UTF-8: the body goes on the wire as it is
            request = message(client, server, room, "", content_type)
            request = request.replace("Content-Length: 0", f"Content-Length: {len(body)}")
            sent = authorised(client, request, SIPP_USER, SIPP_PASSWORD, body)
        else:
            request = message(client, server, room, body, content_type)
            sent = authorised(client, request, SIPP_USER, SIPP_PASSWORD)
        response = client.exchange(sent)
        assert response is not None and response.status == status, response
        if status == 415:
            assert response.headers.get("Accept") == "text/plain"
    finally:
        client.close()


def test_unknown_senders_and_targets_are_refused(server: ServerProcess, room: str) -> None:
    client = SipClient(server)
    try:
        wrong = authorised(client, message(client, server, room, "hi"), SIPP_USER, "wrong")
        response = client.exchange(wrong)
        assert response is not None and response.status == 403
        stranger = authorised(client, message(client, server, room, "hi"), "nobody", "x")
        response = client.exchange(stranger)
        assert response is not None and response.status == 403
        nowhere = authorised(client, message(client, server, "no-such-room", "hi"),
                             SIPP_USER, SIPP_PASSWORD)  # fmt: skip
        response = client.exchange(nowhere)
        assert response is not None and response.status == 404
        # a reviewer's account may text the consoles, not into a room
        reviewer = authorised(client, message(client, server, room, "hi"),
                              "viewer", "viewer-secret")  # fmt: skip
        response = client.exchange(reviewer)
        assert response is not None and response.status == 403
        # an account that is not registered cannot be relayed to: 480
        offline = authorised(client, message(client, server, "viewer", "hi"),
                             SIPP_USER, SIPP_PASSWORD)  # fmt: skip
        response = client.exchange(offline)
        assert response is not None and response.status == 480
    finally:
        client.close()


def test_api_refuses_bad_texts_and_parties(server: ServerProcess, room: str) -> None:
    post = server.client.post
    for body, status, code in [
        ({"to": room, "text": "   "}, 400, "bad-text"),
        ({"to": room, "text": "x" * (MAX_CHARS + 1)}, 413, "text-too-long"),
        ({"to": "nobody-here", "text": "hi"}, 404, "unknown-party"),
        ({"to": "sip:bad uri@x", "text": "hi"}, 400, "bad-uri"),
        ({"to": room, "text": "hi"}, 409, "no-phones"),  # no SIP phone in the room
        ({"to": "12345", "text": "hi"}, 404, "no-trunk"),
    ]:
        response = post("/api/v1/messages", json=body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["error"] == code
    response = post("/api/v1/messages", json={"to": room})
    assert response.status_code == 422 or response.status_code == 400
    response = server.client.get("/api/v1/messages", params={"since": "yesterday"})
    assert response.status_code == 400


async def test_text_to_an_unregistered_account_fails(server: ServerProcess) -> None:
    async with websockets.connect(server.events_url()) as stream:
        started = time.time()
        response = server.client.post("/api/v1/messages", json={"to": "viewer", "text": "hi"})
        assert response.status_code == 202, response.text
        answer = response.json()
        assert answer["status"] == "sending" and answer["id"]
        seen: list[dict[str, object]] = []
        event = await wait_for_event(stream, seen, "message.status", 5.0)
    assert event["id"] == answer["id"] and event["status"] == "failed"
    assert event["code"] == 404 and "not registered" in str(event["reason"])
    assert time.time() - started < 5
    history = server.client.get("/api/v1/messages", params={"party": "viewer"}).json()
    assert history[-1]["status"] == "failed" and history[-1]["direction"] == "out"


def test_history_and_sending_need_the_role(server: ServerProcess) -> None:
    response = server.client.put(
        "/api/v1/accounts/reader1", json={"password": "reader-password-1", "role": "reviewer"}
    )
    assert response.status_code in (200, 201), response.text
    login = server.client.post(
        "/api/v1/login", json={"user": "reader1", "password": "reader-password-1"}
    )
    token = login.json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert server.client.get("/api/v1/messages", headers=headers).status_code == 403
    sent = server.client.post("/api/v1/messages", json={"to": "x", "text": "y"}, headers=headers)
    assert sent.status_code == 403
