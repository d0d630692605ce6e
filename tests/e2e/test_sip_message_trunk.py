"""Texts to numbers go out through the trunk, with sipp playing an SMS gateway that demands
digest authentication: the server answers its challenge with the trunk's credentials, and the
console sees "sent", then "delivered"; a gateway that is not there makes it "failed"."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets

from bench.sipprun import SippProcess, free_sip_port, sipp_available, start_sipp, write_users_csv
from tests.e2e.events import wait_for_event
from tests.e2e.server import ServerProcess

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sipp_available(), reason="sipp (sip-tester) is not installed"),
]

TRUNK_USER, TRUNK_PASSWORD = "mediacore", "trunk-secret"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SippProcess, Path]]:
    work = Path(tmp_path_factory.mktemp("sms-gateway"))
    users = write_users_csv(work / "users.csv", [(TRUNK_USER, TRUNK_PASSWORD)])
    (work / "sipp").mkdir()
    process = start_sipp(
        "uas_auth_message", workdir=work / "sipp", local_port=free_sip_port(), calls=1,
        injection=users, injection_index=0, timeout=60.0,
    )  # fmt: skip
    yield process, work
    process.stop()


@pytest.fixture(scope="module")
def server(gateway: tuple[SippProcess, Path]) -> Iterator[ServerProcess]:
    process, work = gateway
    config = f"""
[sip]
message_timeout = 3

[[sip.trunks]]
name = "sms"
proxy = "sip:127.0.0.1:{process.local_port}"
domain = "sms.example.org"
username = "{TRUNK_USER}"
password = "{TRUNK_PASSWORD}"
"""
    server = ServerProcess(work / "server", config=config)
    yield server
    assert server.stop() == 0, server.log_path.read_text()


async def test_a_text_to_a_number_answers_the_trunks_challenge(
    server: ServerProcess, gateway: tuple[SippProcess, Path]
) -> None:
    seen: list[dict[str, Any]] = []
    async with websockets.connect(server.events_url()) as stream:
        response = server.client.post(
            "/api/v1/messages", json={"to": "+8613900000000", "text": "火情已控制 fire contained"}
        )
        assert response.status_code == 202, response.text
        sent = response.json()
        final = None
        while final is None:
            event = await wait_for_event(stream, seen, "message.status", 10)
            seen.remove(event)
            assert event["id"] == sent["id"]
            if event["status"] != "sent":
                final = event
    assert final["status"] == "delivered" and final["code"] == 200, final
    result = await asyncio.to_thread(gateway[0].wait, 15)
    assert result.ok, result.describe()  # it checked our credentials
    history = server.client.get("/api/v1/messages", params={"party": "+8613900000000"}).json()
    assert [(m["status"], m["code"], m["direction"]) for m in history] == [
        ("delivered", 200, "out")
    ]


def test_a_sip_uri_nobody_answers_fails_after_the_timeout(server: ServerProcess) -> None:
    port = free_sip_port()  # nothing listens there
    response = server.client.post(
        "/api/v1/messages", json={"to": f"sip:ghost@127.0.0.1:{port}", "text": "hello?"}
    )
    assert response.status_code == 202, response.text

    async def final() -> dict[str, Any]:
        seen: list[dict[str, Any]] = []
        async with websockets.connect(server.events_url()) as stream:
            while True:
                history = server.client.get("/api/v1/messages", params={"party": "ghost"}).json()
                if history and history[-1]["status"] == "failed":
                    return dict(history[-1])
                try:
                    await wait_for_event(stream, seen, "message.status", 1)
                except AssertionError:
                    pass

    entry = asyncio.run(asyncio.wait_for(final(), 10))
    assert entry["code"] == 408
