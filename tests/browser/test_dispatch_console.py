"""The dispatch console (调度台) in real Chromium against a server with media workers: a seat
joined over WebRTC monitors another room, selects it and talks into it with the space bar
(measured at a phone there), whispers to one member of its room, parks it and picks it up from
the call queue, drags a member from one room to another, and broadcasts."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.conftest import Chromium, Phone, poll
from tests.e2e.server import TOKEN, ServerProcess

if TYPE_CHECKING:
    from playwright.async_api import Page

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]
# A server of its own: on the shared one a parked call's pickup did not bring it back (the
# seat's state after the other console modules' tests); to be looked into.

MIC_HZ = 1000.0
ROOMS = ("dc-home", "dc-fire", "dc-police")
HEARD = -30.0  # the fake microphone's -20 dBFS tone arrives louder than this
SILENT = -50.0


async def open_dispatch(page: Page, server: ServerProcess) -> str:
    """Log in with the token, take a seat in dc-home; the seat's participant id."""
    await page.goto(f"{server.url}/dispatch/?raw_audio=1")
    await page.fill("#token", TOKEN)
    await page.click("#login")
    await page.wait_for_function("document.querySelector('#status').textContent.includes('online')")
    await page.wait_for_selector("#rooms .card[data-room='dc-home']")
    await page.select_option("#home", "dc-home")
    await page.fill("#myname", "Dispatcher 1")
    await page.click("#join")
    await page.wait_for_function(
        "() => { const s = window.mediacoreConsole;"
        " return s.me && s.pc && s.pc.connectionState === 'connected'; }"
    )
    return str(await page.evaluate("window.mediacoreConsole.me"))


def roster(server: ServerProcess, room: str) -> list[dict[str, Any]]:
    return server.roster(room)


def card(room: str, button: str) -> str:
    return f"#rooms .card[data-room='{room}'] button.{button}"


async def test_a_dispatcher_monitors_selects_talks_whispers_and_broadcasts(
    chromium: Chromium, server: ServerProcess
) -> None:
    for name in ROOMS:
        assert server.client.post("/api/v1/rooms", json={"name": name}).status_code == 201
    aide = await Phone().join(server, "dc-home", name="Aide")
    engine = await Phone().join(server, "dc-fire", name="Engine 1")
    car = await Phone().join(server, "dc-police", name="Car 7")
    page = await chromium.page(MIC_HZ)
    try:
        me = await open_dispatch(page, server)

        # Monitor / 监听: a relay of the seat appears in the fire room.
        await page.click(card("dc-fire", "monitor"))
        relays = await poll(
            lambda: [p for p in roster(server, "dc-fire") if p.get("monitor_of") == me],
            10.0,
            "the seat's relay in dc-fire",
        )
        assert relays[0]["hearing"] and not relays[0]["transmitting"]

        # Select / 选中 and the space bar: the fire room hears the seat, the police room not.
        await page.click(card("dc-fire", "select"))
        await page.click("h1")  # focus off the buttons: space is PTT
        await page.keyboard.down("Space")
        await poll(
            lambda: any(p.get("transmitting") for p in roster(server, "dc-fire")),
            5.0,
            "the relay transmitting",
        )
        talking_from = time.monotonic()
        await page.wait_for_timeout(2000)
        talking_until = time.monotonic()
        await page.keyboard.up("Space")
        level = engine.level(MIC_HZ, talking_from + 0.5, talking_until)
        assert level > HEARD, level
        assert car.level(MIC_HZ, talking_from + 0.5, talking_until) < SILENT
        await poll(
            lambda: not any(p.get("transmitting") for p in roster(server, "dc-fire")),
            5.0,
            "the relay to stop transmitting",
        )

        # Whisper / 耳语 to the aide, from the roster of the seat's own room.
        await page.click("#rooms .card[data-room='dc-home'] .title")
        row = page.locator(f"#roster tr[data-id='{aide.participant}']")
        await row.locator("button.whisper").click()
        whispers = await poll(
            lambda: server.client.get("/api/v1/rooms/dc-home/whispers").json(), 5.0, "a whisper"
        )
        assert whispers[0]["from"] == me and whispers[0]["to"] == [aide.participant]
        await row.locator("button.whisper").click()
        await poll(
            lambda: server.client.get("/api/v1/rooms/dc-home/whispers").json() == [],
            5.0,
            "the whisper to end",
        )

        # Park / 驻留 the aide: it waits in the call queue, then the seat picks it up.
        await row.locator("button.park").click()
        await page.locator("#queue li", has_text="Aide").wait_for()
        assert aide.participant in {p["id"] for p in roster(server, "parking")}
        await page.locator("#queue li", has_text="Aide").locator("button.pickup").click()
        await poll(
            lambda: aide.participant in {p["id"] for p in roster(server, "dc-home")},
            10.0,
            "the aide back in dc-home",
        )
        await page.locator("#queue li").wait_for(state="detached")

        # Move / 动态重组: drag Car 7 from the police room's roster onto the fire room's card.
        await page.click("#rooms .card[data-room='dc-police'] .title")
        await page.drag_and_drop(
            f"#roster tr[data-id='{car.participant}']", "#rooms .card[data-room='dc-fire']"
        )
        await poll(
            lambda: car.participant in {p["id"] for p in roster(server, "dc-fire")},
            10.0,
            "Car 7 in the fire room",
        )
        assert car.participant not in {p["id"] for p in roster(server, "dc-police")}

        # Broadcast / 广播 to every room, then stop.
        await page.click("#broadcastall")
        found = await poll(
            lambda: server.client.get("/api/v1/broadcasts").json(), 5.0, "a broadcast"
        )
        assert found[0]["participant"] == me and set(ROOMS) <= set(found[0]["rooms"])
        await page.click("#broadcast")
        await poll(
            lambda: server.client.get("/api/v1/broadcasts").json() == [],
            5.0,
            "the broadcast to end",
        )
        plan = {"members": ["sip:engine2@127.0.0.1", "sip:engine3@127.0.0.1"]}
        assert server.client.put("/api/v1/groups/fire-plan", json=plan).status_code == 201
        await page.locator("#plans li", has_text="fire-plan").wait_for(timeout=10_000)
        await page.click("#rooms .card[data-room='dc-fire'] .title")
        await page.locator("#roster tr", has_text="Car 7").wait_for()
        shot = server.data_dir / "dispatch-console.png"
        await page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
    finally:
        for phone in (aide, engine, car):
            phone.close()
        await page.context.close()
        for name in (*ROOMS, "parking"):
            server.client.delete(f"/api/v1/rooms/{name}")
