"""Hold with music for a plain RTP leg, in the single-process mode, with a configured music
file: the held leg hears the file's tone instead of the room, and the room no longer hears it.
(Phones, and the built-in melody, in media workers: tests/interop/test_transfer_hold.py.)"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import pytest

from mediacore.codecs import PCMU
from tests.e2e.server import ServerProcess
from tests.e2e.test_rtp_legs import LEVEL, SILENT, heard, joined, tone_payloads
from tests.interop.phone import write_tone_wav

pytestmark = pytest.mark.slow

MUSIC_HZ = 1200.0
_MUSIC = write_tone_wav(Path(tempfile.mkdtemp()) / "music.wav", MUSIC_HZ, 1.0, level_dbfs=LEVEL)
SERVER_CONFIG = f'[sip]\nhold_music = "{_MUSIC}"\n'
SERVER_ENV = {"MEDIACORE_RTP_TIMEOUT": "30", "MEDIACORE_SERVER_WORKERS": "0"}


async def test_a_held_rtp_leg_hears_the_configured_music_and_is_not_heard(
    server: ServerProcess, room: str
) -> None:
    talker, talker_id = await joined(server, room, PCMU, "talker")
    other, _ = await joined(server, room, PCMU, "other")
    playing = [
        asyncio.ensure_future(talker.play(tone_payloads(talker, 600.0, 6.0))),
        asyncio.ensure_future(other.play(tone_payloads(other, 900.0, 6.0))),
    ]
    base = f"/api/v1/rooms/{room}/participants/{talker_id}"
    await asyncio.sleep(1.0)
    assert heard(other, 600.0, time.monotonic() - 0.5) == pytest.approx(LEVEL, abs=1.5)

    held = server.client.post(base + "/hold")
    assert held.status_code == 200, held.text
    assert held.json()["held"] is True and held.json()["kind"] == "rtp"
    await asyncio.sleep(0.3)
    since = time.monotonic()
    await asyncio.sleep(1.2)
    assert heard(talker, MUSIC_HZ, since) == pytest.approx(LEVEL, abs=2.0)  # the file, looped
    assert heard(talker, 900.0, since) < SILENT  # not the room
    assert heard(other, 600.0, since) < SILENT  # the room no longer hears it
    roster = {p["id"]: p for p in server.roster(room)}
    assert roster[talker_id]["held"] is True

    resumed = server.client.post(base + "/resume")
    assert resumed.status_code == 200 and resumed.json()["held"] is False
    await asyncio.sleep(0.3)
    since = time.monotonic()
    await asyncio.sleep(1.2)
    assert heard(talker, 900.0, since) == pytest.approx(LEVEL, abs=1.5)
    assert heard(talker, MUSIC_HZ, since) < SILENT
    assert heard(other, 600.0, since) == pytest.approx(LEVEL, abs=1.5)
    await asyncio.gather(*playing)
    talker.close()
    other.close()


async def test_hold_errors_are_clear(server: ServerProcess, room: str) -> None:
    missing = server.client.post(f"/api/v1/rooms/{room}/participants/p-none/hold")
    assert missing.status_code == 404 and missing.json()["error"] == "participant-not-found"
    no_room = server.client.post("/api/v1/rooms/no-such-room/participants/p-x/resume")
    assert no_room.status_code == 404 and no_room.json()["error"] == "room-not-found"
    talker, talker_id = await joined(server, room, PCMU, "talker")
    refer = server.client.post(
        f"/api/v1/rooms/{room}/participants/{talker_id}/transfer",
        json={"to": "sip:x@127.0.0.1", "mode": "refer"},
    )
    assert refer.status_code == 409 and refer.json()["error"] == "not-a-sip-call"
    bad = server.client.post(
        f"/api/v1/rooms/{room}/participants/{talker_id}/transfer",
        json={"to": "bob", "mode": "sideways"},
    )
    assert bad.status_code in (400, 422)
    talker.close()
