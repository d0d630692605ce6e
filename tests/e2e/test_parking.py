"""Parking and pick-up (the call queue), measured with plain RTP legs on media workers: a
parked leg leaves its room, is held with music in the parking room, and is heard again in the
room it is picked up into; one that hangs up while parked leaves the queue."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
import websockets

from mediacore.codecs import PCMU
from tests.e2e.events import wait_for_event
from tests.e2e.server import ServerProcess
from tests.e2e.test_dispatch_audio import close_rooms, open_rooms, play_all
from tests.e2e.test_rtp_legs import LEVEL, SILENT, heard, joined

pytestmark = pytest.mark.slow

SERVER_ENV = {"MEDIACORE_RTP_TIMEOUT": "3", "MEDIACORE_SERVER_WORKERS": "2"}


async def test_a_parked_call_hears_music_and_is_picked_up_into_another_room(
    server: ServerProcess,
) -> None:
    open_rooms(server, "pk-a", "pk-b")
    caller, caller_id = await joined(server, "pk-a", PCMU, "caller")
    ear, _ = await joined(server, "pk-a", PCMU, "ear")
    other, _ = await joined(server, "pk-b", PCMU, "other")
    async with websockets.connect(server.events_url("pk-a")) as events:
        parked = server.client.post(f"/api/v1/rooms/pk-a/participants/{caller_id}/park")
        assert parked.status_code == 201, parked.text
        entry = parked.json()
        assert entry["from"] == "pk-a" and entry["parking"] == "parking"
        assert (await wait_for_event(events, [], "call.parked", 5.0))["id"] == entry["id"]
    queue = server.client.get("/api/v1/parked").json()
    assert [q["participant"] for q in queue] == [caller_id]
    in_lot = {p["id"]: p for p in server.roster("parking")}
    assert in_lot[caller_id]["held"] is True
    again = server.client.post(f"/api/v1/rooms/parking/participants/{caller_id}/park")
    assert again.status_code == 409, again.text
    started = time.monotonic()
    await play_all([(caller, 700.0), (ear, None), (other, None)])
    assert heard(ear, 700.0, started + 0.6) < SILENT  # it left the room
    music = caller.decoded(started + 0.6)
    assert 20 * np.log10(np.sqrt(np.mean(music**2)) + 1e-9) > -45.0  # it hears music on hold

    picked = server.client.post(f"/api/v1/parked/{entry['id']}/pickup", json={"room": "pk-b"})
    assert picked.status_code == 200, picked.text
    assert server.client.get("/api/v1/parked").json() == []
    steady = await play_all([(caller, 700.0), (ear, None), (other, 1100.0)])
    assert heard(other, 700.0, steady) == pytest.approx(LEVEL, abs=2.5)
    assert heard(caller, 1100.0, steady) == pytest.approx(LEVEL, abs=2.5)
    missing = server.client.post(f"/api/v1/parked/{entry['id']}/pickup")
    assert missing.status_code == 404

    # Parked, then gone: it leaves the queue.
    assert (
        server.client.post(f"/api/v1/rooms/pk-b/participants/{caller_id}/park").status_code == 201
    )
    async with websockets.connect(server.events_url("parking")) as events:
        server.client.delete(f"/api/v1/rooms/parking/participants/{caller_id}")
        await wait_for_event(events, [], "call.abandoned", 5.0)
    assert server.client.get("/api/v1/parked").json() == []
    unknown = server.client.post("/api/v1/rooms/pk-a/participants/p-nothere00/park")
    assert unknown.status_code == 404
    for peer in (caller, ear, other):
        peer.close()
    await asyncio.sleep(0)
    close_rooms(server, "pk-a", "pk-b", "parking")
