"""Room PIN guessing bounded across calls, on a fake clock: lockouts per address and per room,
and the cap on calls entering a PIN; and the entry itself, which never reveals the PIN's
length."""

from __future__ import annotations

from typing import Any

from mediacore.dtmf import DtmfDigit
from sip.pinentry import ENTRY_PAUSE, PinEntry
from sip.pinguard import Lockout, PinGuard, PinLimits

LIMITS = PinLimits(
    failures_per_source=3, failures_per_room=5, window=60.0, lockout=120.0,
    calls_per_source=2, calls=3,
)  # fmt: skip
SCANNER, OTHER = "203.0.113.66", "198.51.100.20"


def test_wrong_pins_from_one_address_lock_it_out_of_every_room() -> None:
    guard = PinGuard(LIMITS)
    assert guard.wrong(SCANNER, "a", 0.0) == []
    assert guard.wrong(SCANNER, "b", 1.0) == []
    assert guard.wrong(SCANNER, "c", 2.0) == [Lockout("source", SCANNER, 3, 120.0)]
    assert guard.refusal(SCANNER, "d", 3.0) == (403, "PIN Entry Locked")
    assert guard.refusal(OTHER, "d", 3.0) is None
    assert guard.refusal(SCANNER, "d", 122.1) is None  # the lockout ends


def test_wrong_pins_for_one_room_from_many_addresses_lock_its_pin_entry() -> None:
    guard = PinGuard(LIMITS)
    begun = [guard.wrong(f"192.0.2.{n}", "room", float(n)) for n in range(5)]
    assert begun[:4] == [[], [], [], []] and begun[4] == [Lockout("room", "room", 5, 120.0)]
    assert guard.refusal("192.0.2.99", "room", 5.0) == (403, "PIN Entry Locked")
    assert guard.refusal("192.0.2.99", "other-room", 5.0) is None
    assert guard.locked(None, "room", 5.0)  # a trunk's callers too


def test_a_trunk_counts_for_the_room_only() -> None:
    guard = PinGuard(LIMITS)
    for second in range(4):
        guard.wrong(None, "room", float(second))
    assert guard.refusal(None, "room", 4.0) is None


def test_calls_entering_a_pin_are_capped_per_address_and_in_total() -> None:
    guard = PinGuard(LIMITS)
    guard.entering("call-1", SCANNER)
    guard.entering("call-2", SCANNER)
    assert guard.refusal(SCANNER, "room", 0.0) == (486, "Too Many PIN Calls From Here")
    guard.entering("call-3", None)  # a trunk's caller
    assert guard.refusal(OTHER, "room", 0.0) == (503, "Too Many PIN Calls")
    guard.left("call-1")
    guard.left("call-1")  # twice is harmless
    assert guard.refusal(SCANNER, "room", 0.0) is None and guard.calls_entering == 2


class Clock:
    def __init__(self) -> None:
        self.time = 0.0

    def now(self) -> float:
        return self.time


def entry(pin: str = "2468") -> tuple[PinEntry, list[str], Clock]:
    outcomes: list[str] = []
    clock = Clock()
    leg: Any = None  # the prompt is not started: only the digits are tested
    pin_entry = PinEntry(
        pin,
        leg,
        lambda: outcomes.append("granted"),
        lambda: outcomes.append("refused"),
        wrong=lambda: outcomes.append("wrong"),
        clock=clock,
    )
    return pin_entry, outcomes, clock


def press(pin_entry: PinEntry, digits: str) -> None:
    for digit in digits:
        pin_entry.digit(DtmfDigit(digit, 800, 10, 0))


def test_a_pin_is_not_checked_when_as_many_digits_as_it_has_are_in() -> None:
    """Checking at the PIN's length told a guesser how long the PIN is."""
    pin_entry, outcomes, clock = entry("2468")
    press(pin_entry, "1357")
    assert outcomes == []
    press(pin_entry, "#")
    assert outcomes == ["wrong"]
    press(pin_entry, "2468")
    clock.time = ENTRY_PAUSE - 0.1
    pin_entry.paused(clock.time)
    assert outcomes == ["wrong"]
    clock.time = ENTRY_PAUSE
    pin_entry.paused(clock.time)  # a pause ends an entry as "#" does
    assert outcomes == ["wrong", "granted"]


def test_twelve_digits_are_checked_at_once_and_three_wrong_ones_refuse() -> None:
    pin_entry, outcomes, _ = entry("2468")
    press(pin_entry, "1" * 12)
    press(pin_entry, "1111#")
    press(pin_entry, "24681#")  # the PIN followed by more is wrong, not a match of a prefix
    assert outcomes == ["wrong", "wrong", "wrong", "refused"]
    press(pin_entry, "2468#")
    assert outcomes[-1] == "refused" and pin_entry.done
