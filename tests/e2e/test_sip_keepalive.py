"""In-dialog OPTIONS keep-alive against sipp: a phone that answers keeps its call, a phone that
says it lost the call (481) is hung up and leaves the room with reason "keepalive-failed"."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import websockets

from bench.sipprun import SippResult, run_sipp, sipp_available
from tests.e2e.events import wait_for_event
from tests.e2e.server import SIPP_PASSWORD, SIPP_USER, ServerProcess, sipp_config

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sipp_available(), reason="sipp (Debian sip-tester) is not installed"),
]

SERVER_CONFIG = sipp_config(keepalive_interval=1)
SERVER_ENV: dict[str, str] = {}


def call(
    server: ServerProcess, room: str, workdir: Path, scenario: str, **options: Any
) -> SippResult:
    return run_sipp(
        scenario,
        f"127.0.0.1:{server.sip_port}",
        service=room,
        user=SIPP_USER,
        password=SIPP_PASSWORD,
        workdir=workdir,
        timeout=20.0,
        **options,
    )


def test_answered_keepalives_keep_the_call(
    server: ServerProcess, room: str, tmp_path: Path
) -> None:
    # -aa: sipp answers the keep-alives 200 by itself; the call is held 3.5 s, then sipp's BYE.
    result = call(server, room, tmp_path, "uac_auth_call", duration_ms=3500,
                  extra_args=["-aa"], trace_messages=True)  # fmt: skip
    assert result.ok, result.describe()
    assert result.messages_log is not None
    messages = result.messages_log.read_text(errors="replace")
    assert messages.count("OPTIONS sip:") >= 2, messages[-3000:]
    assert server.roster(room) == []


async def test_call_the_phone_lost_is_hung_up(
    server: ServerProcess, room: str, tmp_path: Path
) -> None:
    async with websockets.connect(server.events_url()) as stream:
        result = await asyncio.to_thread(call, server, room, tmp_path, "uac_keepalive_lost")
        left = await wait_for_event(stream, [], "participant.left", 5)
    assert result.ok, result.describe()  # the server's BYE came and was answered
    assert left["reason"] == "keepalive-failed"
    assert server.roster(room) == []
