"""The [webrtc] config section: STUN and TURN servers offered to and used by WebRTC peers.

```toml
[[webrtc.ice_servers]]
urls = "stun:stun.example.net:3478"

[[webrtc.ice_servers]]
urls = ["turn:turn.example.net:3478?transport=udp"]
username = "u"
credential = "p"
```

No servers (the default) means host candidates only: enough on a LAN or over a VPN."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ICE_SCHEMES = ("stun:", "turn:", "turns:")


@dataclass(frozen=True, slots=True)
class IceServer:
    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None

    def to_json(self) -> dict[str, Any]:
        """As an RTCIceServer dictionary for a browser's RTCPeerConnection configuration."""
        entry: dict[str, Any] = {"urls": list(self.urls)}
        if self.username is not None:
            entry["username"] = self.username
        if self.credential is not None:
            entry["credential"] = self.credential
        return entry


@dataclass(frozen=True, slots=True)
class WebRtcSettings:
    ice_servers: tuple[IceServer, ...] = field(default_factory=tuple)


def parse_webrtc_settings(table: dict[str, Any]) -> WebRtcSettings:
    """Build the settings from the [webrtc] TOML table.

    Raises: ValueError naming the bad key (unknown keys, URLs without stun:/turn:/turns:,
    TURN servers without username and credential)."""
    unknown = set(table) - {"ice_servers"}
    if unknown:
        raise ValueError(f"unknown key(s) in [webrtc]: {', '.join(sorted(unknown))}")
    entries = table.get("ice_servers", [])
    if not isinstance(entries, list):
        raise ValueError("webrtc.ice_servers must be an array of {urls, username, credential}")
    return WebRtcSettings(tuple(_ice_server(index, entry) for index, entry in enumerate(entries)))


def _ice_server(index: int, entry: Any) -> IceServer:
    where = f"webrtc.ice_servers[{index}]"
    if not isinstance(entry, dict) or set(entry) - {"urls", "username", "credential"}:
        raise ValueError(f"{where} takes urls and an optional username and credential")
    urls = entry.get("urls")
    if isinstance(urls, str):
        urls = [urls]
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
        raise ValueError(f"{where}: urls must be a URL or a list of URLs")
    for url in urls:
        if not url.lower().startswith(ICE_SCHEMES) or len(url) <= len("turn:"):
            raise ValueError(f"{where}: {url!r} is not a stun:, turn: or turns: URL")
    username, credential = entry.get("username"), entry.get("credential")
    for key, value in (("username", username), ("credential", credential)):
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{where}: {key} must be a string")
    if any(u.lower().startswith(("turn:", "turns:")) for u in urls) and not (
        username and credential
    ):
        raise ValueError(f"{where}: a TURN server needs a username and a credential")
    return IceServer(tuple(urls), username, credential)
