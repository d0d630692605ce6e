"""Throttling repeated authentication failures per address, on a fake clock."""

from __future__ import annotations

from sip.throttle import MAX_TRACKED, AuthThrottle

SCANNER = "203.0.113.66"
PHONE = "198.51.100.20"


def fail_times(throttle: AuthThrottle, address: str, times: list[float]) -> list[bool]:
    return [throttle.failed(address, now) for now in times]


def test_blocked_after_limit_failures_within_the_window() -> None:
    throttle = AuthThrottle(limit=3, window=60.0, block=300.0)
    assert fail_times(throttle, SCANNER, [0.0, 10.0]) == [False, False]
    assert not throttle.blocked(SCANNER, 10.0)
    assert throttle.failed(SCANNER, 20.0)
    assert throttle.blocked(SCANNER, 20.0)


def test_block_is_reported_once() -> None:
    """`failed` is True only for the failure that causes the block, so one event is raised."""
    throttle = AuthThrottle(limit=3, window=60.0, block=300.0)
    reports = fail_times(throttle, SCANNER, [0.0, 1.0, 2.0])
    assert reports == [False, False, True]
    assert throttle.blocked(SCANNER, 3.0)
    assert throttle.blocked(SCANNER, 4.0)  # asking again reports nothing new


def test_unblocked_after_the_block_time() -> None:
    throttle = AuthThrottle(limit=2, window=60.0, block=300.0)
    fail_times(throttle, SCANNER, [0.0, 1.0])
    assert throttle.blocked(SCANNER, 300.9)
    assert not throttle.blocked(SCANNER, 301.0)
    assert not throttle.blocked(SCANNER, 302.0)
    # after the block the count starts again: one failure does not block
    assert not throttle.failed(SCANNER, 310.0)
    assert throttle.failed(SCANNER, 311.0)  # a second block is reported too
    assert throttle.blocked(SCANNER, 311.0)


def test_success_resets_the_count() -> None:
    throttle = AuthThrottle(limit=3, window=60.0, block=300.0)
    fail_times(throttle, PHONE, [0.0, 1.0])
    throttle.succeeded(PHONE)
    assert fail_times(throttle, PHONE, [2.0, 3.0]) == [False, False]
    assert not throttle.blocked(PHONE, 3.0)
    assert throttle.failed(PHONE, 4.0)


def test_failures_older_than_the_window_do_not_count() -> None:
    throttle = AuthThrottle(limit=3, window=60.0, block=300.0)
    assert fail_times(throttle, PHONE, [0.0, 1.0, 61.5, 62.0]) == [False, False, False, False]
    assert not throttle.blocked(PHONE, 62.0)
    assert throttle.failed(PHONE, 62.5)  # 61.5, 62.0, 62.5 are within one window


def test_failures_at_the_window_edge_still_count() -> None:
    throttle = AuthThrottle(limit=3, window=60.0, block=300.0)
    assert fail_times(throttle, PHONE, [0.0, 30.0, 60.0]) == [False, False, True]


def test_addresses_are_counted_separately() -> None:
    throttle = AuthThrottle(limit=2, window=60.0, block=300.0)
    throttle.failed(SCANNER, 0.0)
    assert not throttle.failed(PHONE, 1.0)
    assert throttle.failed(SCANNER, 2.0)
    assert not throttle.blocked(PHONE, 2.0)
    throttle.succeeded(PHONE)
    assert throttle.blocked(SCANNER, 2.0)  # one address's success does not unblock another


def test_failure_counts_are_bounded_and_the_oldest_forgotten() -> None:
    throttle = AuthThrottle(limit=2, window=3600.0, block=300.0)
    throttle.failed("first", 0.0)
    for n in range(MAX_TRACKED + 500):
        throttle.failed(f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}", 1.0)
    assert len(throttle._failures) <= MAX_TRACKED
    assert not throttle.failed("first", 2.0)  # its first failure was forgotten


def test_blocked_addresses_are_bounded() -> None:
    """A scanner with many addresses (an IPv6 /64) cannot grow the block list without end."""
    throttle = AuthThrottle(limit=1, window=60.0, block=300.0)
    addresses = [f"2001:db8::{n:x}" for n in range(MAX_TRACKED + 500)]
    for address in addresses:
        assert throttle.failed(address, 0.0)
    assert len(throttle._blocked_until) <= MAX_TRACKED
    assert len(throttle._failures) <= MAX_TRACKED
    assert throttle.blocked(addresses[-1], 1.0)  # the newest blocks are the ones kept
