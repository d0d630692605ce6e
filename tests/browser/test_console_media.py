"""Media through the console page in real Chromium: who hears whom, measured by the browser's
own statistics (getStats) and by a plain RTP phone's decoded audio at the tones' frequencies."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import (
    TONE_LEVEL,
    Chromium,
    Phone,
    inbound_stats,
    join_room,
    poll,
)
from tests.e2e.server import ServerProcess

if TYPE_CHECKING:
    from playwright.async_api import Page

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]
SERVER_SHARED = True  # its own rooms only: the shared server (tests/e2e/conftest.py)

SILENT = -50.0  # below this a tone is "not heard"


async def audio_energy(page: Page) -> float:
    return float((await inbound_stats(page, "audio")).get("totalAudioEnergy", 0.0))


async def loudest_frequency(page: Page) -> float:
    """The frequency of the strongest bin in what the console's <audio> element plays (WebAudio
    taps the same stream; it hears sound only while the element plays it)."""
    return float(
        await page.evaluate(
            """async () => {
                const stream = document.getElementById('remote-audio').srcObject;
                const context = new AudioContext();
                const analyser = context.createAnalyser();
                analyser.fftSize = 8192;
                context.createMediaStreamSource(stream).connect(analyser);
                await new Promise(resolve => setTimeout(resolve, 500));
                const bins = new Float32Array(analyser.frequencyBinCount);
                analyser.getFloatFrequencyData(bins);
                await context.close();
                let best = 0;
                for (let i = 1; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
                return best * context.sampleRate / analyser.fftSize;
            }"""
        )
    )


async def test_two_browsers_in_one_room_hear_each_other(
    chromium: Chromium, server: ServerProcess, room: str
) -> None:
    low, high = await chromium.page(440.0), await chromium.page(1000.0)
    low_id, high_id = await asyncio.gather(
        join_room(low, server, room, "low"), join_room(high, server, room, "high")
    )
    # Both rows of the console's roster show the talking dot at the same time.
    both_talking = (
        "ids => ids.every(id => document.querySelector(`tr[data-id='${id}'] .dot.talking`))"
    )
    for page in (low, high):
        await page.wait_for_function(both_talking, arg=[low_id, high_id], timeout=10_000)
    before = [await audio_energy(page) for page in (low, high)]
    await asyncio.sleep(2.0)
    after = [await audio_energy(page) for page in (low, high)]
    grown = [b - a for a, b in zip(before, after, strict=True)]
    print(f"totalAudioEnergy grew by {grown} in 2 s")
    # A -20 dBFS sine (peak 0.14) adds about 0.02 a second; silence or a click adds ~0.
    assert all(g > 0.01 for g in grown), grown
    heard = [await loudest_frequency(page) for page in (low, high)]
    print(f"loudest frequency heard: {heard}")
    assert heard[0] == pytest.approx(1000.0, abs=10) and heard[1] == pytest.approx(440.0, abs=10)
    for page in (low, high):
        await page.context.close()


async def test_rtp_phone_hears_the_browser_tone(
    chromium: Chromium, server: ServerProcess, room: str
) -> None:
    page = await chromium.page(440.0)
    await join_room(page, server, room, "browser")
    phone = await Phone().join(server, room)
    start = time.monotonic() + 0.6  # past the jitter buffers' start
    await asyncio.sleep(2.6)
    end = time.monotonic()
    heard, other = phone.level(440.0, start, end), phone.level(1000.0, start, end)
    print(f"phone hears 440 Hz at {heard:.1f} dBFS, 1000 Hz at {other:.1f} dBFS")
    assert heard == pytest.approx(TONE_LEVEL, abs=3.0)
    assert other < SILENT
    phone.close()
    await page.context.close()


async def test_ptt_button_gates_the_browser_audio(
    chromium: Chromium, server: ServerProcess, room: str
) -> None:
    page = await chromium.page(440.0)
    me = await join_room(page, server, room, "radio user", ptt=True)
    phone = await Phone().join(server, room)
    await asyncio.sleep(1.2)
    windows = {"before": (time.monotonic() - 0.8, time.monotonic())}

    await page.hover("#ptt")
    await page.mouse.down()
    await poll(lambda: _holder(server, room, me), 5.0, "the floor for the browser")
    await page.wait_for_selector("#ptt.held")
    pressed_at = time.monotonic()
    await asyncio.sleep(1.4)
    windows["button held"] = (pressed_at + 0.4, time.monotonic())
    await page.mouse.up()
    await poll(lambda: _holder(server, room, None), 5.0, "the floor released")
    released_at = time.monotonic()
    await asyncio.sleep(1.0)

    await page.keyboard.down("Space")  # the space bar is the other PTT key
    await poll(lambda: _holder(server, room, me), 5.0, "the floor for the space bar")
    spaced_at = time.monotonic()
    windows["released"] = (released_at + 0.4, spaced_at)
    await asyncio.sleep(1.2)
    windows["space held"] = (spaced_at + 0.4, time.monotonic())
    await page.keyboard.up("Space")
    await poll(lambda: _holder(server, room, None), 5.0, "the floor released by the space bar")
    await asyncio.sleep(1.0)
    windows["after"] = (time.monotonic() - 0.6, time.monotonic())

    levels = {name: phone.level(440.0, *window) for name, window in windows.items()}
    print("PTT, 440 Hz at the phone: " + ", ".join(f"{k} {v:.1f}" for k, v in levels.items()))
    for name, window in windows.items():
        assert phone.packets(*window) >= 20, name  # the phone hears the room all along
        if name.endswith("held"):
            assert levels[name] > -30.0, name
        else:
            assert levels[name] < SILENT, name
    assert not await page.locator("#ptt.held").count()
    phone.close()
    await page.context.close()


def _holder(server: ServerProcess, room: str, expected: str | None) -> bool:
    response = server.client.get(f"/api/v1/rooms/{room}/floor")
    return bool(response.json()["holder"] == expected)


async def test_browser_watches_another_browsers_camera(
    chromium: Chromium, server: ServerProcess, room: str
) -> None:
    publisher, watcher = await chromium.page(440.0), await chromium.page(440.0)
    source = await join_room(publisher, server, room, "camera", camera=True)
    await join_room(watcher, server, room, "watcher")
    await watcher.locator(f"tr[data-id='{source}'] button", has_text="video").click()
    tile = watcher.locator("#tiles .tile video")
    await tile.wait_for()
    decoded = await poll(
        lambda: _frames_decoded(watcher, at_least=10), 10.0, "10 decoded frames at the watcher"
    )
    size = await tile.evaluate("video => [video.videoWidth, video.videoHeight]")
    label = await watcher.locator("#tiles .tile span").text_content()
    print(f"watcher decoded {decoded} frames of {size[0]}x{size[1]} from {label!r}")
    assert decoded > 0 and size[0] > 0 and size[1] > 0
    assert label == "camera"
    for page in (publisher, watcher):
        await page.context.close()


async def _frames_decoded(page: Page, at_least: int) -> int:
    """framesDecoded of the page's inbound video once it reaches `at_least`, else 0."""
    decoded = int((await inbound_stats(page, "video")).get("framesDecoded", 0))
    return decoded if decoded >= at_least else 0
