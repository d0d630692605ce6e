"""Text to speech with espeak-ng: the command line, the checks on the text, the cache, and the
speech itself measured (energy for about the time the text takes to say)."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

from mediacore.audio import level_dbfs
from mediacore.server.clips import decode_mono
from mediacore.server.speech import (
    MAX_TEXT,
    Speech,
    SpeechError,
    check_text,
    guess_lang,
    speech_command,
)

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng missing")


def test_the_command_names_the_voice_and_reads_the_text_from_stdin(tmp_path: Path) -> None:
    out = tmp_path / "x.wav"
    zh = speech_command("zh", out)
    assert zh[:3] == ["espeak-ng", "-v", "cmn"]
    assert zh[-1] == "--stdin" and ["-w", str(out)] == zh[zh.index("-w") : zh.index("-w") + 2]
    assert ["-b", "1"] == zh[zh.index("-b") : zh.index("-b") + 2]  # the text is UTF-8
    assert speech_command("en", out)[2] == "en"


@pytest.mark.parametrize(
    ("text", "lang", "problem"),
    [("", "en", "empty"), ("   \n", "zh", "empty"), ("x" * (MAX_TEXT + 1), "en", "longer"),
     ("hello", "fr", "lang"), ("bell\x07", "en", "control")],
)  # fmt: skip
def test_bad_texts_are_refused(text: str, lang: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        check_text(text, lang)


def test_a_text_is_stripped_and_may_start_like_an_option() -> None:
    assert check_text("  --help me \n", "en") == "--help me"


def test_chinese_text_is_guessed_mandarin() -> None:
    assert guess_lang("各单位注意") == "zh"
    assert guess_lang("All units, attention") == "en"


def speech_span(path: Path, rate: int = 16000) -> tuple[float, float]:
    """Seconds of 20 ms blocks above -40 dBFS, and the loudest block's level."""
    pcm = decode_mono(path, rate).astype(np.float32) / 32768
    block = rate // 50
    levels = [level_dbfs(pcm[i : i + block]) for i in range(0, len(pcm) - block, block)]
    return sum(level > -40 for level in levels) * 0.02, max(levels)


@needs_espeak
@pytest.mark.parametrize(
    ("text", "lang"),
    [("Attention all units. This is a test of the announcement system.", "en"),
     ("各单位请注意，这是广播系统的测试。", "zh")],
)  # fmt: skip
async def test_speech_has_energy_for_about_as_long_as_the_text_takes(
    tmp_path: Path, text: str, lang: str
) -> None:
    path = await Speech(tmp_path).render(text, lang)
    voiced, loudest = speech_span(path)
    assert 1.0 < voiced < 8.0, voiced
    assert loudest > -30, loudest


@needs_espeak
async def test_the_same_text_is_rendered_once(tmp_path: Path) -> None:
    first = await Speech(tmp_path).render("Stand by.", "en")
    # A second Speech whose program does not exist still answers from the cache.
    again = await Speech(tmp_path, program=str(tmp_path / "missing")).render("Stand by.", "en")
    assert again == first
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no temporary left


async def test_without_espeak_speech_is_unavailable(tmp_path: Path) -> None:
    speech = Speech(tmp_path, program=str(tmp_path / "no-espeak"))
    with pytest.raises(SpeechError) as failure:
        await speech.render("hello", "en")
    assert failure.value.unavailable


async def test_a_hanging_renderer_is_killed_at_the_time_limit(tmp_path: Path) -> None:
    program = tmp_path / "slow-espeak"
    program.write_text("#!/bin/sh\nexec sleep 30\n")
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    speech = Speech(tmp_path / "cache", program=str(program), timeout_s=0.5)
    with pytest.raises(SpeechError, match="longer than"):
        await speech.render("hello", "en")
    assert not any((tmp_path / "cache").iterdir())


async def test_a_failing_renderer_is_an_error(tmp_path: Path) -> None:
    program = tmp_path / "bad-espeak"
    program.write_text("#!/bin/sh\necho 'no voice' >&2\nexit 1\n")
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    with pytest.raises(SpeechError, match="no voice"):
        await Speech(tmp_path / "cache", program=str(program)).render("hello", "en")
