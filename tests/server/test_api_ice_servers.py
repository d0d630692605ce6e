"""The console learns the configured STUN/TURN servers before it makes its offer."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tests.server.test_api import assert_error, make_config, running
from webrtc.settings import IceServer, WebRtcSettings


async def test_joiners_get_the_configured_ice_servers(tmp_path: Path) -> None:
    turn = IceServer(urls=("turn:turn.example.net:3478",), username="u", credential="p")
    config = replace(make_config(tmp_path), webrtc=WebRtcSettings((turn,)))
    async with running(config) as api:
        answer = await api.as_role("expert", "GET", "/api/v1/rooms/command/ice-servers")
        assert answer.json() == {
            "ice_servers": [
                {"urls": ["turn:turn.example.net:3478"], "username": "u", "credential": "p"}
            ]
        }
        assert_error(await api.as_role("reviewer", "GET", "/api/v1/rooms/command/ice-servers"), 403)
        assert_error(await api.admin("GET", "/api/v1/rooms/nowhere/ice-servers"), 404)
