"""RFC 4028 session timers on a fake clock: `now` is a plain float in seconds."""

from __future__ import annotations

import pytest

from sip.sessiontimer import SessionTimer, parse_session_expires


def test_we_refresh_at_half_the_interval() -> None:
    """RFC 4028 §10: the refresher sends its refresh at half the session interval."""
    timer = SessionTimer(1800, "uac", "uac", last_refresh=100.0)
    assert timer.we_refresh
    assert not timer.refresh_due(100.0 + 899.9)
    assert timer.refresh_due(100.0 + 900.0)
    assert timer.refresh_due(100.0 + 5000.0)


def test_refresher_never_declares_the_session_expired() -> None:
    timer = SessionTimer(1800, "uas", "uas", last_refresh=0.0)
    assert not timer.expired(10.0**6)


def test_peer_refreshing_is_never_due_for_us() -> None:
    timer = SessionTimer(1800, "uac", "uas", last_refresh=0.0)
    assert not timer.we_refresh
    assert not timer.refresh_due(10.0**6)


@pytest.mark.parametrize(
    ("interval", "deadline"),
    [(1800, 1800 - 32), (96, 96 - 32), (90, 90 - 30), (60, 60 - 20)],
)
def test_expired_at_interval_minus_the_smaller_of_32_and_a_third(
    interval: int, deadline: float
) -> None:
    """RFC 4028 §10: without a refresh, BYE at expiry minus min(32, interval/3) seconds."""
    timer = SessionTimer(interval, "uac", "uas", last_refresh=1000.0)
    assert not timer.expired(1000.0 + deadline)
    assert timer.expired(1000.0 + deadline + 0.001)


def test_refreshed_restarts_the_clock_and_may_swap_refresher() -> None:
    timer = SessionTimer(1800, "uac", "uac", last_refresh=0.0)
    timer.refreshed(1000.0, 1200, "uas")  # a re-INVITE from the peer made it the refresher
    assert (timer.interval, timer.refresher, timer.last_refresh) == (1200, "uas", 1000.0)
    assert not timer.refresh_due(1000.0 + 600.0)
    assert not timer.expired(1000.0 + 1200 - 32)
    assert timer.expired(1000.0 + 1200 - 31)


def test_header_value() -> None:
    assert SessionTimer(1800, "uac", "uas", 0.0).header_value() == "1800;refresher=uac"


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("1800;refresher=uac", (1800, "uac")),
        ("1800;refresher=uas", (1800, "uas")),
        ("90", (90, None)),
        (" 1800 ; Refresher = UAS ", (1800, "uas")),
        ("1800;foo=bar;refresher=uac", (1800, "uac")),
        ("1800;foo", (1800, None)),
        ("000090", (90, None)),
        ("999999999", (999999999, None)),
    ],
)
def test_parse_session_expires_valid(value: str, parsed: tuple[int, str | None]) -> None:
    """RFC 4028 §4: Session-Expires = delta-seconds *(SEMI se-params), refresher uac/uas."""
    assert parse_session_expires(value) == parsed


@pytest.mark.parametrize(
    "value",
    [
        "",
        "abc",
        "-1",
        "1.5",
        "1e3",
        "1234567890",
        "1800;refresher=proxy",
        "1800;refresher=",
        "1800;refresher",
        "\u00b2",
        "\u0661\u0668\u0660\u0660",
        ";refresher=uac",
    ],
)
def test_parse_session_expires_invalid_is_none(value: str) -> None:
    assert parse_session_expires(value) is None
