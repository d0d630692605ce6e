"""A room's whispers: audiences, and what happens when their people leave."""

from __future__ import annotations

import pytest

from mediacore.whispers import WhisperError, Whispers


def test_audiences_join_a_speakers_whispers() -> None:
    whispers = Whispers()
    one = whispers.add("boss", ["aide"])
    whispers.add("boss", ["deputy"])
    whispers.add("ops", ["aide"])
    assert whispers.audiences() == {"boss": {"aide", "deputy"}, "ops": {"aide"}}
    whispers.remove(one.id)
    assert whispers.audiences()["boss"] == {"deputy"}
    with pytest.raises(KeyError):
        whispers.remove(one.id)


def test_a_speaker_leaving_ends_its_whispers_and_a_listener_leaving_narrows_them() -> None:
    whispers = Whispers()
    two = whispers.add("boss", ["aide", "deputy"])
    solo = whispers.add("ops", ["aide"])
    ended, narrowed = whispers.left("aide")
    assert [w.id for w in ended] == [solo.id]
    assert [(w.id, w.listeners) for w in narrowed] == [(two.id, frozenset({"deputy"}))]
    ended, _ = whispers.left("boss")
    assert [w.id for w in ended] == [two.id] and not whispers


@pytest.mark.parametrize("listeners", [[], ["boss"], [f"p{n}" for n in range(65)]])
def test_impossible_whispers_are_refused(listeners: list[str]) -> None:
    with pytest.raises(WhisperError):
        Whispers().add("boss", listeners)
