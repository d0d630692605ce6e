"""Trunks, with sipp playing the upstream PBX: the server registers to it with digest auth,
dials a number through it answering its challenge, and hangs up (BYE) when no RTP comes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets

from bench.sipprun import SippProcess, free_sip_port, start_sipp, write_users_csv
from tests.e2e.events import wait_for_event
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.slow

TRUNK_USER, TRUNK_PASSWORD = "mediacore", "trunk-secret"


def config(registrar_port: int, pbx_port: int) -> str:
    return f"""
[[sip.trunks]]
name = "upstream"
proxy = "sip:127.0.0.1:{registrar_port}"
username = "{TRUNK_USER}"
password = "{TRUNK_PASSWORD}"
register = true
expires = 300

[[sip.trunks]]
name = "pbx"
proxy = "sip:127.0.0.1:{pbx_port}"
domain = "pbx.example.org"
username = "{TRUNK_USER}"
password = "{TRUNK_PASSWORD}"
"""


@pytest.fixture(scope="module")
def pbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The sipp registrar and the sipp PBX, listening before the server starts."""
    work = Path(tmp_path_factory.mktemp("pbx"))
    users = write_users_csv(work / "users.csv", [(TRUNK_USER, TRUNK_PASSWORD)])
    registrar_dir, pbx_dir = work / "registrar", work / "pbx"
    registrar_dir.mkdir()
    pbx_dir.mkdir()
    registrar = start_sipp(
        "uas_registrar_auth", workdir=registrar_dir, local_port=free_sip_port(), calls=1,
        injection=users, injection_index=0, timeout=60.0,
    )  # fmt: skip
    answering = start_sipp(
        "uas_auth_answer", workdir=pbx_dir, local_port=free_sip_port(), calls=1,
        injection=users, injection_index=0, timeout=60.0,
    )  # fmt: skip
    yield {"registrar": registrar, "pbx": answering, "work": work}
    for process in (registrar, answering):
        process.stop()


@pytest.fixture(scope="module")
def server(pbx: dict[str, Any]) -> Iterator[ServerProcess]:
    registrar: SippProcess = pbx["registrar"]
    answering: SippProcess = pbx["pbx"]
    process = ServerProcess(
        pbx["work"],
        config=config(registrar.local_port, answering.local_port),
        MEDIACORE_RTP_TIMEOUT="3",
    )
    yield process
    assert process.stop() == 0, process.log_path.read_text()


def test_the_server_registers_to_the_trunk_with_digest(server: ServerProcess) -> None:
    deadline = time.monotonic() + 10
    trunks: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        trunks = server.client.get("/api/v1/registrations").json()["trunks"]
        if trunks and trunks[0]["state"] == "registered":
            break
        time.sleep(0.2)
    assert trunks == [
        {
            "trunk": "upstream",
            "state": "registered",
            "detail": "200 OK",
            "expires_in": trunks[0]["expires_in"],
        }
    ]
    assert 250 < trunks[0]["expires_in"] <= 300


async def test_a_number_is_dialled_through_the_trunk_and_hung_up_without_rtp(
    server: ServerProcess, pbx: dict[str, Any]
) -> None:
    assert server.client.post("/api/v1/rooms", json={"name": "trunk-call"}).status_code == 201
    events: list[dict[str, Any]] = []
    async with websockets.connect(server.events_url("trunk-call")) as stream:
        response = server.client.post(
            "/api/v1/rooms/trunk-call/dial",
            json={"uri": "sip:+8613900000000@pbx.example.org", "name": "duty phone"},
        )
        assert response.status_code == 201, response.text
        await wait_for_event(stream, events, "call.answered", 10)
        call = server.client.get("/api/v1/calls").json()[0]
        assert call["call_direction"] == "outbound" and call["codec"] == "PCMU/8000"
        # The PBX sends no RTP: after rtp.timeout (3 s) the server hangs up with a BYE.
        left = await wait_for_event(stream, events, "participant.left", 10)
    assert left["reason"] == "rtp-timeout"
    answering: SippProcess = pbx["pbx"]
    result = await asyncio.to_thread(answering.wait, 15)
    assert result.ok, result.describe()  # it checked our credentials and got our BYE


def test_dialling_an_unknown_trunk_or_a_bad_uri_is_refused(server: ServerProcess) -> None:
    server.client.post("/api/v1/rooms", json={"name": "trunk-errors"})
    unknown = server.client.post(
        "/api/v1/rooms/trunk-errors/dial", json={"uri": "sip:1234@x.org", "trunk": "nope"}
    )
    assert unknown.status_code == 400 and unknown.json()["error"] == "unknown-trunk"
    bad = server.client.post("/api/v1/rooms/trunk-errors/dial", json={"uri": "mailto:someone"})
    assert bad.status_code == 400 and bad.json()["error"] == "bad-uri"
    missing = server.client.post("/api/v1/rooms/no-room/dial", json={"uri": "sip:a@127.0.0.1"})
    assert missing.status_code == 404
