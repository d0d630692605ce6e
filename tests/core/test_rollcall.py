"""The roll-call book: one per room, replaced, ended, timed out on a fake clock, ended when the
participant leaves."""

from __future__ import annotations

import pytest

from mediacore.clock import FakeClock
from mediacore.rollcall import ENDED, LEFT, REPLACED, TIMEOUT, RollCalls


def test_one_roll_call_per_room_the_next_replaces_it() -> None:
    clock, book = FakeClock(), RollCalls()
    first, replaced = book.start("r", "a", "Alice", "cmd", 30, clock.now())
    assert replaced is None and book.focus("r") == "a" and book.focus("other") is None
    second, replaced = book.start("r", "b", "Bob", "cmd", 30, clock.now())
    assert replaced is not None and replaced.roll_call is first and replaced.reason == REPLACED
    assert book.get("r") is second and book.focus("r") == "b"
    ended = book.end("r")
    assert ended is not None and ended.reason == ENDED and book.end("r") is None
    with pytest.raises(ValueError):
        book.start("r", "a", "Alice", "cmd", 0, clock.now())


def test_the_timer_ends_roll_calls_whose_time_is_up() -> None:
    clock, book = FakeClock(), RollCalls()
    assert book.timer() is None
    book.start("r", "a", "Alice", "cmd", 10, clock.now())
    book.start("s", "b", "Bob", "cmd", 20, clock.now())
    assert book.timer() == clock.now() + 10
    assert book.handle_timer(clock.advance(9.9)) == []
    [ended] = book.handle_timer(clock.advance(0.1))
    assert (ended.roll_call.room, ended.reason) == ("r", TIMEOUT)
    assert book.timer() == clock.now() + 10
    assert book.focus("s") == "b"


def test_the_participant_leaving_ends_its_roll_call_and_nobody_elses() -> None:
    book = RollCalls()
    book.start("r", "a", "Alice", "cmd", 10, 0.0)
    assert book.left("r", "b") is None and book.focus("r") == "a"
    ended = book.left("r", "a")
    assert ended is not None and ended.reason == LEFT and book.focus("r") is None
