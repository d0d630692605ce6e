"""The [webrtc] config section."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediacore.server.config import ConfigError, load_config
from webrtc.ice import loopback_addresses, rtc_configuration
from webrtc.settings import IceServer, WebRtcSettings, parse_webrtc_settings

CONFIG = """
[[webrtc.ice_servers]]
urls = "stun:stun.example.net:3478"

[[webrtc.ice_servers]]
urls = ["turn:turn.example.net:3478", "turns:turn.example.net:5349"]
username = "u"
credential = "p"
"""


def test_ice_servers_come_from_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    config = load_config(path, environ={})
    assert config.webrtc.ice_servers == (
        IceServer(("stun:stun.example.net:3478",)),
        IceServer(("turn:turn.example.net:3478", "turns:turn.example.net:5349"), "u", "p"),
    )
    configuration = rtc_configuration(config.webrtc)
    assert configuration.iceServers is not None and len(configuration.iceServers) == 2
    assert configuration.iceServers[1].username == "u"


def test_no_servers_by_default_means_an_explicit_empty_list() -> None:
    assert load_config(None, environ={}).webrtc == WebRtcSettings()
    # None would make aiortc use a public STUN server and wait for it while gathering.
    assert rtc_configuration(WebRtcSettings()).iceServers == []


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"ice_servers": [{"urls": "http://stun.example.net"}]}, "not a stun:"),
        ({"ice_servers": [{"urls": "turn:turn.example.net"}]}, "needs a username"),
        ({"ice_servers": [{"urls": []}]}, "urls must be"),
        ({"ice_servers": [{"urls": "stun:x", "password": "p"}]}, "takes urls"),
        ({"ice_servers": "stun:x"}, "must be an array"),
        ({"stun": "stun:x"}, "unknown key"),
    ],
)
def test_bad_ice_servers_are_refused_with_the_key(table: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_webrtc_settings(table)


def test_a_bad_webrtc_section_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[webrtc]\nice_servers = [{ urls = "stun" }]\n')
    with pytest.raises(ConfigError, match="webrtc.ice_servers"):
        load_config(path, environ={})


def test_only_loopback_addresses_get_an_extra_candidate() -> None:
    given = ["0.0.0.0", "127.0.0.1", None, "[::1]", "192.0.2.7", "localhost", "127.0.0.1"]
    assert loopback_addresses(given) == ["127.0.0.1", "::1"]
