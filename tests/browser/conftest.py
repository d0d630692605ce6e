"""Real headless Chromium, driven by Playwright, against a real server.

One server per module (the e2e harness; the modules setting SERVER_SHARED share one), one
Chromium per fake microphone tone (Chromium takes its fake microphone from a file given at
launch), pages on the server's own origin. Every test module here runs its tests on one
module-wide event loop, the one the browsers were started on.
Skipped when /usr/bin/chromium or Playwright is missing (scripts/bootstrap installs both)."""

from __future__ import annotations

import asyncio
import inspect
import time
import wave
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytest_asyncio

from bench.rtppeer import RtpPeer
from mediacore.audio import float_to_int16, tone, tone_levels_by_block
from mediacore.codecs import PCMU
from tests.e2e.conftest import pytest_runtest_teardown, room, server, shared_server
from tests.e2e.server import TOKEN, ServerProcess

CHROMIUM = Path("/usr/bin/chromium")
try:
    from playwright.async_api import Browser, Page, async_playwright
except ImportError:  # pragma: no cover - CI installs it
    async_playwright = None  # type: ignore[assignment]

__all__ = ["pytest_runtest_teardown", "room", "server", "shared_server"]

TONE_LEVEL = -20.0  # dBFS RMS of every fake microphone tone
TONE_RATE = 48000
CHROMIUM_ARGS = [
    "--use-fake-device-for-media-stream",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--allow-loopback-in-peer-connection",  # else it offers no 127.0.0.1 candidate
    "--autoplay-policy=no-user-gesture-required",  # received audio decodes only while played
]
GRANT_MICROPHONE = "--use-fake-ui-for-media-stream"  # answers the permission prompt "allow"


def write_tone_wav(path: Path, frequency: float, seconds: float = 2.0) -> Path:
    """A mono 16-bit WAV of a sine at TONE_LEVEL; whole cycles, so Chromium's looping of the
    file makes no phase jump."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(TONE_RATE)
        out.writeframes(float_to_int16(tone(frequency, seconds, TONE_RATE, TONE_LEVEL)).tobytes())
    return path


class Chromium:
    """Launches Chromium on demand, one instance per (tone, permission) and keeps it for the
    module; `close()` ends them all."""

    def __init__(self, playwright: Any, folder: Path) -> None:
        self.playwright = playwright
        self.folder = folder
        self._browsers: dict[tuple[float | None, bool], Browser] = {}

    async def browser(self, tone_hz: float | None = None, *, grant: bool = True) -> Browser:
        """A browser whose fake microphone plays `tone_hz` (None: Chromium's own beeps) and
        that grants microphone and camera (`grant`) or leaves the prompt unanswered."""
        key = (tone_hz, grant)
        if key not in self._browsers:
            # Without the fake UI, a prompt would wait for a click no one makes: deny it.
            args = [*CHROMIUM_ARGS, GRANT_MICROPHONE if grant else "--deny-permission-prompts"]
            if tone_hz is not None:
                wav = write_tone_wav(self.folder / f"tone-{tone_hz:g}.wav", tone_hz)
                args.append(f"--use-file-for-fake-audio-capture={wav}")
            self._browsers[key] = await self.playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=args
            )
        return self._browsers[key]

    async def page(
        self, tone_hz: float | None = None, *, grant: bool = True, accept_certificate: bool = False
    ) -> Page:
        """A new page in its own context (its own storage: tokens do not leak between pages);
        `accept_certificate`: it accepts a certificate it cannot check (the server's self-signed
        one), as a user does after comparing the fingerprint."""
        browser = await self.browser(tone_hz, grant=grant)
        context = await browser.new_context(ignore_https_errors=accept_certificate)
        context.set_default_timeout(15_000)
        page = await context.new_page()
        page.on("pageerror", lambda error: print(f"page error: {error}"))
        return page

    async def close(self) -> None:
        for browser in self._browsers.values():
            await browser.close()
        self._browsers.clear()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chromium(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Chromium]:
    if async_playwright is None:
        pytest.skip("Playwright for Python is not installed (scripts/bootstrap installs it)")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (scripts/bootstrap installs Debian's chromium)")
    async with async_playwright() as playwright:
        browsers = Chromium(playwright, tmp_path_factory.mktemp("chromium"))
        try:
            yield browsers
        finally:
            await browsers.close()


# --- the console page ------------------------------------------------------------------------


async def open_console(page: Page, server: ServerProcess, query: str = "raw_audio=1") -> None:
    """Load the console from the server and log in by typing the token, as a user does."""
    await page.goto(f"{server.url}/console/?{query}")
    await page.fill("#token", TOKEN)
    await page.click("#login")
    await page.wait_for_function("document.querySelector('#status').textContent.includes('online')")


async def join_room(
    page: Page,
    server: ServerProcess,
    room: str,
    name: str,
    *,
    ptt: bool = False,
    camera: bool = False,
) -> str:
    """Through the console: log in, click the room, type a name, tick the boxes, click Join;
    returns the participant id once the peer connection is connected."""
    await open_console(page, server)
    await page.locator("#rooms li", has_text=f"{room} (").click()
    await page.fill("#myname", name)
    await page.set_checked("#pttmode", ptt)
    await page.set_checked("#withcam", camera)
    await page.click("#join")
    await page.wait_for_function(
        "() => { const s = window.mediacoreConsole;"
        " return s.me && s.pc && s.pc.connectionState === 'connected'; }"
    )
    return str(await page.evaluate("window.mediacoreConsole.me"))


async def inbound_stats(page: Page, kind: str) -> dict[str, Any]:
    """The console peer connection's inbound-rtp stats entry of `kind` ({} if none yet)."""
    found = await page.evaluate(
        """async (kind) => {
            const pc = window.mediacoreConsole.pc;
            if (!pc) return {};
            for (const entry of (await pc.getStats()).values()) {
                if (entry.type === 'inbound-rtp' && entry.kind === kind) return entry;
            }
            return {};
        }""",
        kind,
    )
    return dict(found)


async def poll(check: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    """Call `check` (plain or async) until it returns something truthy, which is returned;
    AssertionError after `timeout` seconds, naming `what` and the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}: {value!r}")
        await asyncio.sleep(every)


# --- a plain RTP phone that listens ----------------------------------------------------------


class Phone:
    """A plain RTP leg (PCMU, POST /rooms/{room}/rtp with the admin token) that records what
    it hears and sends silence every 20 ms, so the server's RTP timeout leaves it alone."""

    def __init__(self) -> None:
        self.peer = RtpPeer(PCMU)
        self.participant = ""
        self._sending: asyncio.Task[list[float]] | None = None

    async def join(self, server: ServerProcess, room: str, name: str = "phone") -> Phone:
        await self.peer.open()
        self.participant, answer = server.join(room, self.peer.make_offer(), name=name)
        self.peer.accept(answer)
        silence = self.peer.packetize(np.zeros(8000 * 60, dtype=np.float32))
        self._sending = asyncio.ensure_future(self.peer.play(silence))
        return self

    def packets(self, since: float, until: float) -> int:
        """How many packets arrived in [since, until)."""
        return sum(1 for a in self.peer.arrivals if since <= a.time < until)

    def level(self, frequency: float, since: float, until: float) -> float:
        """Median 20 ms block level (dBFS) of `frequency` in what arrived in [since, until)
        (-127 if nothing did)."""
        arrivals = self.peer.arrivals
        decoded = self.peer.decoded(0.0)  # PCMU: 160 samples per packet, stateless
        per_packet = PCMU.samples_per_packet(self.peer.ptime)
        index = [i for i, a in enumerate(arrivals) if since <= a.time < until]
        if not index:
            return -127.0
        pcm = decoded[index[0] * per_packet : (index[-1] + 1) * per_packet]
        levels = tone_levels_by_block(pcm, frequency, PCMU.sample_rate)
        return float(np.median(levels)) if len(levels) else -127.0

    def close(self) -> None:
        if self._sending is not None:
            self._sending.cancel()
        self.peer.close()
