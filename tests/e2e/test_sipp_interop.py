"""sipp against the server: digest-authenticated calls over UDP and TCP with RTP, CANCEL, BYE
from either side, UDP retransmission under loss, and dial-out to a sipp UAS."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import websockets

from bench.rtppeer import RtpPeer
from bench.sipprun import SippResult, run_sipp, sipp_available, start_sipp
from mediacore.audio import tone_level_dbfs
from mediacore.codecs import PCMU
from tests.e2e.events import wait_for_event
from tests.e2e.server import SIPP_PASSWORD, SIPP_USER, ServerProcess, sipp_config

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sipp_available(), reason="sipp (Debian sip-tester) is not installed"),
]

# answer_delay: ring before answering, so there is a moment to CANCEL in.
SERVER_CONFIG = sipp_config(answer_delay=0.3)
SERVER_ENV: dict[str, str] = {}


def target(server: ServerProcess) -> str:
    return f"127.0.0.1:{server.sip_port}"


def call(server: ServerProcess, room: str, workdir: Path, **options: Any) -> SippResult:
    options = {"duration_ms": 2000, "timeout": 30.0, **options}
    return run_sipp(
        "uac_auth_call",
        target(server),
        service=room,
        user=SIPP_USER,
        password=SIPP_PASSWORD,
        workdir=workdir,
        **options,
    )


def in_background(run: Any) -> tuple[threading.Thread, list[SippResult]]:
    results: list[SippResult] = []
    thread = threading.Thread(target=lambda: results.append(run()))
    thread.start()
    return thread, results


def wait_for_participants(
    server: ServerProcess, room: str, count: int, timeout: float = 10.0
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        roster = server.roster(room)
        if len(roster) >= count:
            return roster
        time.sleep(0.05)
    raise AssertionError(f"{count} participants never joined {room}")


@pytest.mark.parametrize("transport", ["u1", "t1"], ids=["udp", "tcp"])
async def test_authenticated_call_is_heard_in_the_room(
    server: ServerProcess, room: str, tmp_path: Path, transport: str
) -> None:
    listener = RtpPeer(PCMU)
    await listener.open()
    _, answer = server.join(room, listener.make_offer(), name="listener")
    listener.accept(answer)
    started = time.monotonic()
    result = await asyncio.to_thread(call, server, room, tmp_path, transport=transport)
    assert result.ok, result.describe()
    # sipp streams a 440 Hz PCMU tone: the listener hears it once the call is up.
    heard = listener.decoded(started + 1.0)
    listener.close()
    assert len(heard) > 8000 * 0.5
    assert tone_level_dbfs(heard, 440.0, 8000) > -30.0


def test_caller_without_credentials_is_refused(
    server: ServerProcess, room: str, tmp_path: Path
) -> None:
    result = run_sipp("uac_noauth_call", target(server), service=room, workdir=tmp_path)
    assert result.ok, result.describe()
    assert any("401" in line for line in result.log_lines)
    assert server.roster(room) == []


def test_cancel_while_ringing_gets_487(server: ServerProcess, room: str, tmp_path: Path) -> None:
    result = run_sipp(
        "uac_cancel",
        target(server),
        service=room,
        user=SIPP_USER,
        password=SIPP_PASSWORD,
        workdir=tmp_path,
        timeout=20.0,
    )
    assert result.ok, result.describe()
    time.sleep(0.5)  # the ring time passes: the cancelled caller must not join afterwards
    assert server.roster(room) == []


def test_kick_sends_bye_to_the_caller(server: ServerProcess, room: str, tmp_path: Path) -> None:
    thread, results = in_background(
        lambda: run_sipp(
            "uac_wait_bye",
            target(server),
            service=room,
            user=SIPP_USER,
            password=SIPP_PASSWORD,
            workdir=tmp_path,
            timeout=20.0,
        )
    )
    participant = wait_for_participants(server, room, 1)[0]
    assert participant["kind"] == "sip"
    response = server.client.delete(f"/api/v1/rooms/{room}/participants/{participant['id']}")
    assert response.status_code == 204
    thread.join(25)
    assert results and results[0].ok, results[0].describe() if results else "no result"


def test_requests_survive_udp_loss_by_retransmission(server: ServerProcess, tmp_path: Path) -> None:
    # sipp loses 15 % of the messages it sends and receives: it retransmits its OPTIONS (T1,
    # doubling) and our completed transactions answer the copies with the same 200. (At 25 %
    # one of 20 requests lost all 8 of its tries now and then: 0.44^8 each.)
    result = run_sipp(
        "uac_options", target(server), calls=20, rate=10, workdir=tmp_path, timeout=60.0,
        extra_args=("-lost", "15"),
    )  # fmt: skip
    assert result.failed == 0 and result.successful == 20, result.describe()
    assert result.retransmissions > 0


def test_load_of_concurrent_calls_in_one_room(
    server: ServerProcess, room: str, tmp_path: Path
) -> None:
    result = call(server, room, tmp_path, calls=30, rate=15, concurrent=30, duration_ms=3000,
                  timeout=60.0)  # fmt: skip
    assert result.ok and result.successful == 30, result.describe()
    assert server.roster(room) == []  # every BYE removed its caller


async def test_dial_out_to_a_sipp_phone_and_hang_up(
    server: ServerProcess, room: str, tmp_path: Path
) -> None:
    phone = start_sipp("uas_answer", workdir=tmp_path, calls=1, timeout=30.0)
    events: list[dict[str, Any]] = []
    async with websockets.connect(server.events_url(room)) as stream:
        response = server.client.post(
            f"/api/v1/rooms/{room}/dial",
            json={"uri": f"sip:field@127.0.0.1:{phone.local_port}", "name": "field"},
        )
        assert response.status_code == 201, response.text
        participant = response.json()["id"]
        await wait_for_event(stream, events, "call.answered", 10)
        assert server.roster(room)[0]["call_state"] == "confirmed"
        assert (
            server.client.delete(f"/api/v1/rooms/{room}/participants/{participant}").status_code
            == 204
        )
        await wait_for_event(stream, events, "participant.left", 10)
    result = await asyncio.to_thread(phone.wait, 20)
    assert result.ok, result.describe()
    kinds = [event["type"] for event in events]
    assert kinds.index("call.dialing") < kinds.index("call.answered")


async def test_dial_out_to_a_busy_phone_fails_with_busy(
    server: ServerProcess, room: str, tmp_path: Path
) -> None:
    phone = start_sipp("uas_busy", workdir=tmp_path, calls=1, timeout=30.0)
    events: list[dict[str, Any]] = []
    async with websockets.connect(server.events_url(room)) as stream:
        response = server.client.post(
            f"/api/v1/rooms/{room}/dial", json={"uri": f"sip:busy@127.0.0.1:{phone.local_port}"}
        )
        assert response.status_code == 201, response.text
        failed = await wait_for_event(stream, events, "call.failed", 10)
        left = await wait_for_event(stream, events, "participant.left", 10)
    await asyncio.to_thread(phone.wait, 20)
    assert failed["reason"] == "busy" and failed["status"] == 486
    assert left["reason"] == "busy"
    assert server.roster(room) == []
