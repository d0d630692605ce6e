"""The console's controls in real Chromium change what the API reports, and the page shows what
the API says; a page's bad signalling messages get error replies on a socket that stays up."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.browser.conftest import Chromium, Phone, join_room, poll
from tests.e2e.server import TOKEN, ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]
SERVER_SHARED = True  # its own rooms only: the shared server (tests/e2e/conftest.py)


def participant(server: ServerProcess, room: str, participant_id: str) -> dict[str, Any] | None:
    return next((p for p in server.roster(room) if p["id"] == participant_id), None)


async def test_console_buttons_change_the_room_as_the_api_reports_it(
    chromium: Chromium, server: ServerProcess, room: str
) -> None:
    page = await chromium.page(440.0)
    me = await join_room(page, server, room, "commander", ptt=True)
    phone = await Phone().join(server, room, name="unit 7")
    row = page.locator(f"tr[data-id='{phone.participant}']")
    await row.wait_for()

    # mute / unmute a participant
    await row.get_by_role("button", name="mute", exact=True).click()
    await poll(lambda: participant(server, room, phone.participant)["muted"], 5.0, "muted")
    await row.get_by_role("button", name="unmute", exact=True).wait_for()
    await row.get_by_role("button", name="unmute", exact=True).click()
    await row.get_by_role("button", name="mute", exact=True).wait_for()
    assert participant(server, room, phone.participant)["muted"] is False

    # mute myself
    await page.click("#mutebtn")
    await poll(lambda: participant(server, room, me)["muted"], 5.0, "me muted")
    await page.click("#mutebtn")
    await poll(lambda: not participant(server, room, me)["muted"], 5.0, "me unmuted")

    # priority, from the row's list
    await row.locator("select").select_option(label="commander")
    await poll(lambda: participant(server, room, phone.participant)["priority"] == 2, 5.0, "prio")

    # recording
    recordings = f"/api/v1/rooms/{room}/recordings"
    assert server.client.get(recordings).json()["recording"] is None
    await page.click("#record")
    await page.wait_for_function("document.querySelector('#recstate').textContent === '● REC'")
    recording = server.client.get(recordings).json()["recording"]
    assert recording is not None and recording["state"] == "recording"
    await page.click("#record")
    await page.wait_for_function("document.querySelector('#recstate').textContent === ''")
    assert server.client.get(recordings).json()["recording"] is None

    # push to talk (the page joined in PTT mode)
    floor = f"/api/v1/rooms/{room}/floor"
    assert server.client.get(floor).json()["holder"] is None
    await page.hover("#ptt")
    await page.mouse.down()
    await poll(lambda: server.client.get(floor).json()["holder"] == me, 5.0, "floor")
    await page.wait_for_selector(f"tr[data-id='{me}'].floor")  # the roster highlights it
    await page.mouse.up()
    await poll(lambda: server.client.get(floor).json()["holder"] is None, 5.0, "release")
    # The space bar, while "Mute me" (clicked last) has the focus: talking must not mute.
    await page.focus("#mutebtn")
    await page.keyboard.down("Space")
    await poll(lambda: server.client.get(floor).json()["holder"] == me, 5.0, "space floor")
    await page.keyboard.up("Space")
    await poll(lambda: server.client.get(floor).json()["holder"] is None, 5.0, "space release")
    assert participant(server, room, me)["muted"] is False
    assert await page.evaluate("window.mediacoreConsole.muted") is False

    # kick
    await row.get_by_role("button", name="kick").click()
    await row.wait_for(state="detached")
    assert participant(server, room, phone.participant) is None
    assert participant(server, room, me) is not None
    # Kicked myself: the page says why, offers Join again and does not rejoin on its own.
    await page.locator(f"tr[data-id='{me}']").get_by_role("button", name="kick").click()
    await page.wait_for_function(
        "document.querySelector('#banner').textContent.includes('You left the room: kicked')"
    )
    await page.wait_for_function("!document.querySelector('#join').disabled")
    assert await page.evaluate("[window.mediacoreConsole.wanted, window.mediacoreConsole.me]") == [
        False,
        None,
    ]
    assert server.roster(room) == []
    phone.close()
    await page.context.close()


# Runs in the console page (the server's own origin). A page fulfilled by page.route on that
# origin would not do: Chromium 156's Local Network Access checks block its WebSocket to 127.0.0.1
# (net::ERR_BLOCKED_BY_LOCAL_NETWORK_ACCESS_CHECKS), as a routed response has no local address.
EXCHANGE = """
async function exchange(url, messages) {
  const ws = new WebSocket(url);
  const replies = [];
  let waiting = null;
  ws.onmessage = (m) => {
    const message = JSON.parse(m.data);
    if (message.type === "event") return;
    replies.push(message); if (waiting) waiting();
  };
  await new Promise((resolve) => { ws.onopen = resolve; });
  const next = () => new Promise((resolve, reject) => {
    if (replies.length) return resolve(replies.shift());
    const timer = setTimeout(() => reject(new Error("no reply")), 5000);
    waiting = () => { clearTimeout(timer); waiting = null; resolve(replies.shift()); };
  });
  const answers = [];
  for (const message of messages) { ws.send(message); answers.push(await next()); }
  // A valid join on the same socket, with a real microphone and peer connection.
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  const pc = new RTCPeerConnection();
  stream.getTracks().forEach((t) => pc.addTrack(t, stream));
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") resolve();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && resolve();
  });
  ws.send(JSON.stringify({ type: "join", name: "raw page", offer: pc.localDescription.sdp }));
  const joined = await next();
  await pc.setRemoteDescription({ type: "answer", sdp: joined.answer });
  await new Promise((resolve) => {
    if (pc.connectionState === "connected") resolve();
    pc.onconnectionstatechange = () => pc.connectionState === "connected" && resolve();
  });
  window.keep = { ws, pc };
  return { answers, joined: joined.type, participant: joined.participant,
           open: ws.readyState === WebSocket.OPEN, connection: pc.connectionState };
}
"""


async def test_bad_messages_from_a_page_get_errors_and_a_later_join_works(
    chromium: Chromium, server: ServerProcess, room: str
) -> None:
    page = await chromium.page(440.0)
    await page.goto(f"{server.url}/console/")
    await page.add_script_tag(content=EXCHANGE)
    bad = [
        "{not json",
        "[1, 2]",
        json.dumps({"type": "dance"}),
        json.dumps({"type": "subscribe", "source": "p-0123456789"}),
        json.dumps({"type": "ptt", "action": "press"}),
        json.dumps({"type": "join", "offer": "v=0\r\nnonsense\r\n"}),
    ]
    url = server.url.replace("http", "ws", 1) + f"/api/v1/rooms/{room}/webrtc?token={TOKEN}"
    result = await asyncio.wait_for(
        page.evaluate("([url, messages]) => exchange(url, messages)", [url, bad]), 30.0
    )
    got = [(a["type"], a["code"], a["for"]) for a in result["answers"]]
    assert got == [
        ("error", "bad-json", None),
        ("error", "bad-message", None),
        ("error", "unknown-type", "dance"),
        ("error", "not-joined", "subscribe"),
        ("error", "not-joined", "ptt"),
        ("error", "bad-sdp", "join"),
    ]
    assert (result["joined"], result["open"], result["connection"]) == (
        "joined",
        True,
        "connected",
    )
    entry = participant(server, room, result["participant"])
    assert entry is not None and entry["name"] == "raw page" and entry["kind"] == "webrtc"
    await page.context.close()


async def test_a_join_link_opens_the_console_in_its_room_and_joins_under_its_name(
    chromium: Chromium, server: ServerProcess, room: str
) -> None:
    minted = server.client.post(
        f"/api/v1/rooms/{room}/join-links", json={"name": "Dr. Lin", "minutes": 5}
    )
    assert minted.status_code == 201, minted.text
    page = await chromium.page(440.0)
    await page.goto(server.url + minted.json()["url"] + "&raw_audio=1")
    await page.wait_for_selector("#rooms li.current")  # logged in and in its room, no typing
    assert await page.locator("#rooms li").all_text_contents() == [f"{room} (0)"]
    await page.click("#join")
    await page.wait_for_function(
        "() => { const s = window.mediacoreConsole;"
        " return s.me && s.pc && s.pc.connectionState === 'connected'; }"
    )
    me = await page.evaluate("window.mediacoreConsole.me")
    entry = participant(server, room, me)
    assert entry is not None and entry["name"] == "Dr. Lin"
    await page.locator(f"tr[data-id='{me}']", has_text="Dr. Lin").wait_for()
    await page.context.close()
