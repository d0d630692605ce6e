"""The payload adapters a media worker can put on a leg it makes for the control process
(mediacore.payloadadapter): made again from their `to_json()` settings."""

from __future__ import annotations

from typing import Any

from ingest.psaudio import PsAudioAdapter
from mediacore.payloadadapter import PayloadAdapter


def payload_adapter(data: dict[str, Any]) -> PayloadAdapter:
    """The adapter `data` describes; raises ValueError for one this server does not know."""
    if data.get("kind") == "ps":
        return PsAudioAdapter.from_json(data)
    raise ValueError(f"unknown payload adapter {str(data.get('kind'))[:40]!r}")
