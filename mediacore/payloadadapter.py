"""Audio carried on the wire in another payload than the negotiated codec's.

A GB/T 28181 device may offer its talkback audio as G.711 inside a program stream (PS/90000);
the leg still mixes plain G.711. A `PayloadAdapter` sits between the leg's socket and its audio
session: what arrives goes through `received` (wire datagrams in, the session's RTP packets
out), what the leg sends goes through `sending` (its RTP packet in, wire datagrams out). Both
are sans-I/O. The edges implement it (ingest.psaudio); the server assembly injects it, and
`to_json` says how a media worker makes the same one again."""

from __future__ import annotations

from typing import Any, Protocol


class PayloadAdapter(Protocol):
    def received(self, data: bytes) -> list[bytes]:
        """One datagram from the peer; returns the datagrams the leg's session takes (none
        while a frame is incomplete; RTCP and other payloads as they came)."""
        ...

    def sending(self, packet: bytes) -> list[bytes]:
        """One RTP packet of the leg's (its negotiated codec); returns what goes on the wire."""
        ...

    def to_json(self) -> dict[str, Any]:
        """How to make it again (a "kind" key and its settings), e.g. in a media worker."""
        ...
