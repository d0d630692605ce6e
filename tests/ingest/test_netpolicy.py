"""Which addresses sources and wall outputs may reach: allow and deny lists, loopback, names."""

from __future__ import annotations

import ipaddress

import pytest

from ingest.netpolicy import DEFAULT_DENIED_NETWORKS, AddressRefused, NetworkPolicy

DEFAULT = NetworkPolicy.parse("0.0.0.0/0, ::/0", DEFAULT_DENIED_NETWORKS)


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("10.1.2.3", True),
        ("192.168.1.20", True),
        ("203.0.113.7", True),
        ("2001:db8::1", True),
        ("169.254.169.254", False),  # cloud metadata
        ("169.254.1.1", False),
        ("fe80::1", False),
        ("100.100.100.200", False),
        ("fd00:ec2::254", False),
        ("::ffff:169.254.169.254", False),  # mapped IPv6 is judged as IPv4
        ("127.0.0.1", False),
        ("127.8.9.10", False),
        ("::1", False),
        ("0.0.0.0", False),
        ("::", False),
    ],
)
def test_the_default_policy(address: str, allowed: bool) -> None:
    assert DEFAULT.allows(ipaddress.ip_address(address)) is allowed


def test_loopback_only_when_allowed_and_deny_wins_over_allow() -> None:
    lab = NetworkPolicy.parse("10.0.0.0/8", "10.9.0.0/16", allow_loopback=True)
    assert lab.allows(ipaddress.ip_address("127.0.0.1"))
    assert lab.allows(ipaddress.ip_address("10.1.0.1"))
    assert not lab.allows(ipaddress.ip_address("10.9.0.1"))
    assert not lab.allows(ipaddress.ip_address("192.168.0.1"))  # not in the allow list


def test_a_bad_network_is_named() -> None:
    with pytest.raises(ValueError, match="'10.0.0.0/33'"):
        NetworkPolicy.parse("10.0.0.0/33", "")


async def test_names_are_judged_by_every_address_they_resolve_to() -> None:
    assert await DEFAULT.check_url("rtsp://10.0.0.5:554/x") == [ipaddress.ip_address("10.0.0.5")]
    for url in (
        "rtsp://localhost/x",
        "rtmp://2130706433/live/x",  # 127.0.0.1 as one number
        "rtsp://[::ffff:127.0.0.1]/x",
        "rtsp://evil\\@10.0.0.5/x",  # a host FFmpeg might split otherwise
        "rtsp://10.0.0.5:99999/x",
    ):
        with pytest.raises(AddressRefused):
            await DEFAULT.check_url(url)
    with pytest.raises(OSError):
        await DEFAULT.check_url("rtsp://no-such-host.invalid/x")
