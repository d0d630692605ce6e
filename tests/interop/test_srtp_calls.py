"""SRTP (SDES, RFC 4568) with a real phone: pjsua2 with SRTP mandatory calls a room on a server
in worker mode, and is called from it (our RTP/SAVP offer), and what it sends and hears through
the room is measured; an account the server requires SRTP of is refused (488) when its phone
offers plain RTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("pjsua2", exc_type=ImportError)

from bench.rtppeer import RtpPeer  # noqa: E402
from bench.serverproc import ServerProcess  # noqa: E402
from mediacore.audio import tone, tone_level_dbfs  # noqa: E402
from mediacore.codecs import PCMU  # noqa: E402
from tests.interop.phone import Phone, write_tone_wav  # noqa: E402
from tests.interop.test_sip_calls import TONE_DBFS, assert_hears, record, serving  # noqa: E402

pytestmark = pytest.mark.slow

CONFIG = """
[[sip.users]]
user = "secure"
password = "secure-pw"
role = "operator"
srtp = "mandatory"
"""
PHONE_HZ = 440.0
ROOM_HZ = 1000.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("srtp-server")
    with serving(folder, CONFIG, MEDIACORE_SERVER_WORKERS="2") as process:
        yield process


def secure_phone(server: ServerProcess, srtp: str, register: bool = False) -> Phone:
    phone = Phone(user="srtp-phone")  # its local account: not "secure", which is ours
    phone.cmd("codecs", order=["PCMU"], only=True)
    phone.cmd(
        "account",
        user="secure",
        password="secure-pw",
        registrar=f"sip:127.0.0.1:{server.sip_port}",
        register=register,
        srtp=srtp,
    )
    if register:
        reg = phone.wait_event(lambda e: e["event"] == "reg", 5)
        assert reg["code"] == 200 and reg["active"], reg
    return phone


def test_a_pjsua_phone_with_srtp_mandatory_is_heard_and_hears_the_room(
    server: ServerProcess, tmp_path: Path
) -> None:
    room = "srtp-room"
    assert server.client.post("/api/v1/rooms", json={"name": room}).status_code == 201
    wav = write_tone_wav(tmp_path / "440.wav", PHONE_HZ, 5.0, rate=8000, level_dbfs=TONE_DBFS)

    async def scenario() -> None:
        listener = RtpPeer(PCMU, srtp="mandatory")  # a plain RTP leg, SRTP too
        await listener.open()
        _, answer = server.join(room, listener.make_offer(), name="listener")
        assert "RTP/SAVP" in answer and "a=crypto:" in answer
        listener.accept(answer)
        with secure_phone(server, "mandatory") as phone:
            since = phone.mark()
            call = int(phone.cmd("call", uri=f"sip:{room}@127.0.0.1:{server.sip_port}")["call"])
            await asyncio.to_thread(phone.wait_call_state, call, "CONFIRMED", 5, since)
            await asyncio.to_thread(phone.wait_media, call, "ACTIVE", 5, since)
            phone.cmd("play", call=call, wav=str(wav))
            payloads = listener.packetize(tone(ROOM_HZ, 4.0, 8000, TONE_DBFS))
            playing = asyncio.ensure_future(listener.play(payloads))
            await asyncio.sleep(0.8)
            pcm, rate = await asyncio.to_thread(record, phone, call, tmp_path / "heard.wav", 2.5)
            await playing
            heard = tone_level_dbfs(listener.decoded(time.monotonic() - 2.0), PHONE_HZ, 8000)
            entries = {entry["name"]: entry for entry in server.roster(room)}
            phone.cmd("hangup", call=call)
        listener.close()
        assert_hears(pcm, rate, ROOM_HZ, PHONE_HZ)
        assert heard == pytest.approx(TONE_DBFS, abs=3.0), heard
        assert listener.srtp_failures == 0
        phone_entry = next(e for e in entries.values() if e.get("user") == "secure")
        assert phone_entry["srtp"] is True and entries["listener"]["srtp"] is True
        assert phone_entry["worker"] is not None

    asyncio.run(scenario())
    server.client.delete(f"/api/v1/rooms/{room}")


def test_a_plain_rtp_offer_from_an_account_that_requires_srtp_is_refused_488(
    server: ServerProcess,
) -> None:
    room = "srtp-refused"
    assert server.client.post("/api/v1/rooms", json={"name": room}).status_code == 201
    with secure_phone(server, "off") as phone:
        since = phone.mark()
        call = int(phone.cmd("call", uri=f"sip:{room}@127.0.0.1:{server.sip_port}")["call"])
        ended = phone.wait_call_state(call, "DISCONNECTED", 5, since)
    assert ended["code"] == 488, ended
    assert server.roster(room) == []
    server.client.delete(f"/api/v1/rooms/{room}")


def test_dial_out_to_an_srtp_account_offers_savp_and_the_phone_hears_the_room(
    server: ServerProcess, tmp_path: Path
) -> None:
    room = "srtp-dial"
    assert server.client.post("/api/v1/rooms", json={"name": room}).status_code == 201

    async def scenario() -> None:
        listener = RtpPeer(PCMU)  # plain RTP: the room mixes both kinds of leg
        await listener.open()
        _, answer = server.join(room, listener.make_offer(), name="listener")
        listener.accept(answer)
        with secure_phone(server, "mandatory", register=True) as phone:
            phone.cmd("auto_answer", code=200, delay_ms=200)
            dialled = server.client.post(
                f"/api/v1/rooms/{room}/dial", json={"uri": "sip:secure@127.0.0.1", "name": "S"}
            )
            assert dialled.status_code == 201, dialled.text
            incoming = await asyncio.to_thread(
                phone.wait_event, lambda e: e["event"] == "incoming", 5
            )
            call = int(incoming["call"])
            await asyncio.to_thread(phone.wait_media, call, "ACTIVE", 5)
            payloads = listener.packetize(tone(ROOM_HZ, 3.5, 8000, TONE_DBFS))
            playing = asyncio.ensure_future(listener.play(payloads))
            await asyncio.sleep(0.6)
            pcm, rate = await asyncio.to_thread(record, phone, call, tmp_path / "heard.wav", 2.5)
            await playing
            entry = next(e for e in server.roster(room) if e["id"] == dialled.json()["id"])
            phone.cmd("hangup", call=call)
        listener.close()
        assert_hears(pcm, rate, ROOM_HZ)
        assert entry["srtp"] is True and entry["call_direction"] == "outbound", entry

    asyncio.run(scenario())
    server.client.delete(f"/api/v1/rooms/{room}")
