"""Text to speech for announcements, with espeak-ng (the Debian package `espeak-ng`).

The text goes to espeak-ng on its standard input, never on a command line or through a shell,
so no text can be taken for an option. Rendering runs in a child process with a time limit,
off the event loop; at most `concurrency` run at once. Each rendering is kept as a WAV file
named after a hash of (language, text), so the same announcement is rendered once; the 500
most recently used are kept."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
from pathlib import Path
from typing import Literal

from mediacore.server.clips import MAX_CACHED, prune_oldest

Lang = Literal["zh", "en"]
VOICES: dict[str, str] = {"zh": "cmn", "en": "en"}  # espeak-ng voices: Mandarin, English
MAX_TEXT = 1000  # characters
WORDS_PER_MINUTE = 160
TIMEOUT_S = 30.0
PROGRAM = "espeak-ng"


class SpeechError(Exception):
    """Speech could not be rendered: `unavailable` (no espeak-ng), or it failed or timed out."""

    def __init__(self, detail: str, unavailable: bool = False) -> None:
        super().__init__(detail)
        self.unavailable = unavailable


def check_text(text: str, lang: str) -> str:
    """The text to speak, stripped. Raises ValueError for an empty or too long text, control
    characters, or a language other than zh and en."""
    if lang not in VOICES:
        raise ValueError(f"lang must be one of {', '.join(VOICES)}")
    text = text.strip()
    if not text:
        raise ValueError("the text is empty")
    if len(text) > MAX_TEXT:
        raise ValueError(f"the text is longer than {MAX_TEXT} characters")
    if any(ord(c) < 32 and c not in "\t\n\r" for c in text):
        raise ValueError("the text holds control characters")
    return text


def guess_lang(text: str) -> Lang:
    """ "zh" when the text holds Chinese characters, else "en"."""
    return (
        "zh" if any("\u3400" <= c <= "\u9fff" or "\uf900" <= c <= "\ufaff" for c in text) else "en"
    )


def speech_command(lang: str, output: Path, program: str = PROGRAM) -> list[str]:
    """The espeak-ng command line that writes speech in `lang` to the WAV file `output`, the
    text (UTF-8) read from standard input."""
    voice = VOICES[lang]
    return [
        program,
        "-v",
        voice,
        "-s",
        str(WORDS_PER_MINUTE),
        "-b",
        "1",
        "-w",
        str(output),
        "--stdin",
    ]


class Speech:
    """Rendered speech, cached in `directory`."""

    def __init__(
        self,
        directory: Path,
        program: str = PROGRAM,
        timeout_s: float = TIMEOUT_S,
        concurrency: int = 2,
    ) -> None:
        self.directory = directory
        self.program = program
        self.timeout_s = timeout_s
        self._running = asyncio.Semaphore(concurrency)

    async def render(self, text: str, lang: str) -> Path:
        """The WAV file of `text` (checked with check_text) spoken in `lang`. Raises
        SpeechError."""
        key = hashlib.sha256(f"{lang}\n{text}".encode()).hexdigest()[:32]
        path = self.directory / f"{key}.wav"
        if path.exists():
            os.utime(path)
            return path
        self.directory.mkdir(parents=True, exist_ok=True)
        temporary = self.directory / f".{key}.{secrets.token_hex(4)}.wav"
        try:
            async with self._running:
                await self._run(text, lang, temporary)
            if not temporary.exists() or temporary.stat().st_size <= 44:
                raise SpeechError("espeak-ng wrote no audio")
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        prune_oldest(self.directory, "*.wav", MAX_CACHED)
        return path

    async def _run(self, text: str, lang: str, output: Path) -> None:
        try:
            process = await asyncio.create_subprocess_exec(
                *speech_command(lang, output, self.program),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as error:  # not installed, or not executable
            raise SpeechError(f"{self.program} cannot run: {error}", unavailable=True) from None
        try:
            _, errors = await asyncio.wait_for(
                process.communicate(text.encode()), timeout=self.timeout_s
            )
        except TimeoutError:
            raise SpeechError(f"speech took longer than {self.timeout_s:g} s") from None
        finally:
            if process.returncode is None:  # timed out, or the request went away
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if process.returncode != 0:
            message = errors.decode(errors="replace").strip()[:200]
            raise SpeechError(f"espeak-ng failed ({process.returncode}): {message}")
