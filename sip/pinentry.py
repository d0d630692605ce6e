"""Room PIN entry for callers without an account: prompt with beeps, collect DTMF, decide.

The caller is answered but not yet in the room: it hears only the prompt (two short beeps
every few seconds) and nobody hears it. Digits end with `#`, or a pause of ENTRY_PAUSE, or the
twelfth digit; `*` starts over. Three wrong PINs, or no PIN within the time limit, hang up.
Nothing in when or how the entry is checked depends on the PIN's length (it used to be checked
as soon as that many digits came, which told its length), and the comparison is of two keyed
digests in constant time.

The prompt waits for the caller's first RTP packet: nothing is streamed to the SDP's address
before something there has sent us media (the leg then sends to where that packet came from),
so a forged INVITE cannot turn the prompt on a stranger."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Protocol

import numpy as np

from mediacore.audio import tone
from mediacore.clock import MONOTONIC, Clock
from mediacore.codecs import registry
from mediacore.dtmf import DtmfDigit
from sip.roomport import MediaLeg

ATTEMPTS = 3
TIME_LIMIT = 45.0
PROMPT_EVERY = 3.0
PROMPT_FREQUENCY = 880.0
ENTRY_PAUSE = 3.0  # seconds without a digit that end an entry
MAX_DIGITS = 12  # the longest PIN a room may have: an entry this long is checked at once
_KEY = secrets.token_bytes(32)  # digests compared, not PINs: equal length, no early exit


class PinPrompt(Protocol):
    """A PIN entry in progress, wherever its prompt plays."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def digit(self, digit: DtmfDigit) -> None: ...


class PinEntry:
    def __init__(
        self,
        pin: str,
        leg: MediaLeg,
        granted: Callable[[], None],
        refused: Callable[[], None],
        *,
        wrong: Callable[[], None] | None = None,
        clock: Clock = MONOTONIC,
    ) -> None:
        """Prompt on `leg` for `pin`; `granted` or `refused` is called once, and `wrong` at
        every wrong PIN (the user agent counts them across calls)."""
        self.pin = pin
        self.clock = clock
        self.leg = leg
        self.granted = granted
        self.refused = refused
        self.wrong = wrong
        self.entered = ""
        self.attempts = 0
        self.done = False
        self._last_digit = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._prompt())

    def stop(self) -> None:
        self.done = True
        if self._task is not None:
            self._task.cancel()

    def digit(self, digit: DtmfDigit) -> None:
        if self.done:
            return
        self._last_digit = self.clock.now()
        if digit.digit == "*":
            self.entered = ""
        elif digit.digit == "#":
            if self.entered:  # "#" after an entry already checked (a pause) ends nothing
                self._check()
        elif digit.digit.isdigit():
            self.entered += digit.digit
            if len(self.entered) >= MAX_DIGITS:
                self._check()

    def paused(self, now: float) -> None:
        """Check a pending entry once ENTRY_PAUSE has passed without a digit."""
        if self.entered and not self.done and now - self._last_digit >= ENTRY_PAUSE:
            self._check()

    def _check(self) -> None:
        entered, self.entered = self.entered, ""
        if hmac.compare_digest(_digest(entered), _digest(self.pin)):
            self.stop()
            self.granted()
            return
        self.attempts += 1
        if self.wrong is not None:
            self.wrong()
        if self.attempts >= ATTEMPTS and not self.done:
            self.stop()
            self.refused()

    async def _prompt(self) -> None:
        """Send the prompt on the leg's own clock until the PIN is decided or time runs out."""
        codec, ptime = self.leg.negotiation.codec, self.leg.negotiation.ptime
        frames = _prompt_frames(codec.sample_rate, ptime)
        encoder = registry.new_encoder(codec, ptime)
        silence = encoder.encode(np.zeros_like(frames[0]))
        period = ptime / 1000
        per_prompt = int(PROMPT_EVERY / period)
        start = self.clock.now()
        tick = 0
        while self.clock.now() - start < TIME_LIMIT:
            tick += 1
            delay = start + tick * period - self.clock.now()
            if delay > 0:
                await asyncio.sleep(delay)
            self.paused(self.clock.now())
            if self.done:
                return
            output = self.leg.audio_output
            if output is None or not self._heard_caller():
                continue  # on hold, or not heard from yet: keep time, send nothing
            index = tick % per_prompt
            payload = encoder.encode(frames[index]) if index < len(frames) else silence
            output.send_payload(payload, tick)
        self.done = True
        self.refused()

    def _heard_caller(self) -> bool:
        return self.leg.statistics().get("packets_received", 0) > 0


def _digest(entry: str) -> bytes:
    return hmac.new(_KEY, entry.encode(), hashlib.sha256).digest()


def _prompt_frames(rate: int, ptime: int) -> list[np.ndarray]:
    """Two 150 ms beeps with 100 ms between them, cut into packets."""
    samples = rate * ptime // 1000
    beep = tone(PROMPT_FREQUENCY, 0.15, rate, -12.0)
    gap = np.zeros(rate // 10, dtype=np.float32)
    signal = np.concatenate([beep, gap, beep]).astype(np.float32)
    count = len(signal) // samples
    return [signal[i * samples : (i + 1) * samples] for i in range(count)]
