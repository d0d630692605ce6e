"""Offer/answer for a GB/T 28181 talkback whose audio is G.711 in a program stream (语音对讲
with `m=audio <port> RTP/AVP 96`, `a=rtpmap:96 PS/90000`, as many cameras and WVP's broadcast
offer it).

No I/O. `ps_audio_offer(offer)` recognises such an offer and returns what the core leg
answers instead: the same offer with plain G.711 in place of PS (A-law, or μ-law when the f=
line's audio format says G.711U), and the adapter settings. `ps_audio_answer` turns the core
leg's answer back into the PS form the device asked for: the PS payload type, its rtpmap, the
offer's y= (SSRC) and an f= line for G.711 audio (annex F: `f=v/////a/1/8/1`).

The audio part of f= is `a/<format>/<bit rate>/<sample rate>`; format 1 is G.711 (A-law here)
and 2 is G.711U as GB/T 28181-2022 numbers them; anything else is taken as A-law."""

from __future__ import annotations

import copy
from dataclasses import dataclass

from ingest.psaudio import G711_PAYLOAD_TYPES, PsAudioAdapter
from mediacore.sdp import MediaDescription, SessionDescription

PS_ENCODING = "PS"
PS_CLOCK = 90000
F_AUDIO_FORMATS = {"1": "pcma", "2": "pcmu"}
_G711_ENCODINGS = frozenset({"PCMA", "PCMU"})


@dataclass(frozen=True, slots=True)
class PsAudio:
    """A PS audio offer: its PS payload type, the G.711 law, and its y= line (or None)."""

    payload_type: int
    codec: str
    ssrc: str | None

    def adapter(self) -> PsAudioAdapter:
        return PsAudioAdapter(self.payload_type, self.codec)

    def f_line(self) -> str:
        audio_format = next(k for k, v in F_AUDIO_FORMATS.items() if v == self.codec)
        return f"v/////a/{audio_format}/8/1"


def ps_audio_offer(offer: SessionDescription) -> tuple[PsAudio, SessionDescription] | None:
    """The PS audio of `offer` and the plain G.711 offer the core answers in its place; None
    when its audio is not offered in PS only (plain G.711 beside PS is answered plainly)."""
    index = _audio_index(offer)
    if index is None:
        return None
    media = offer.media[index]
    rtpmaps = media.rtpmaps
    ps_types = []
    for payload_type in media.payload_types:
        rtpmap = rtpmaps.get(payload_type)
        if payload_type in G711_PAYLOAD_TYPES.values():
            return None
        if rtpmap is None:
            continue
        if rtpmap.encoding.upper() in _G711_ENCODINGS:
            return None
        if rtpmap.encoding.upper() == PS_ENCODING and rtpmap.clock_rate == PS_CLOCK:
            ps_types.append(payload_type)
    if not ps_types:
        return None
    lines = _gb_lines(offer, media)
    codec = F_AUDIO_FORMATS.get(_f_audio_format(lines.get("f", "")), "pcma")
    audio = PsAudio(ps_types[0], codec, lines.get("y"))
    plain = copy.deepcopy(offer)
    g711 = plain.media[index]
    g711.formats = [str(G711_PAYLOAD_TYPES[codec])]
    g711.attributes = [(n, v) for n, v in g711.attributes if n not in ("rtpmap", "fmtp")]
    g711.extra_lines = [(k, v) for k, v in g711.extra_lines if k not in ("y", "f")]
    return audio, plain


def ps_audio_answer(answer: SessionDescription, audio: PsAudio) -> SessionDescription:
    """The core leg's plain G.711 `answer`, written back in PS as the device offered."""
    ps = copy.deepcopy(answer)
    index = _audio_index(ps)
    if index is None:
        return ps
    media = ps.media[index]
    media.formats = [str(audio.payload_type)]
    attributes = [(n, v) for n, v in media.attributes if n not in ("rtpmap", "fmtp")]
    media.attributes = [("rtpmap", f"{audio.payload_type} {PS_ENCODING}/{PS_CLOCK}")]
    media.attributes += attributes
    extra = [(k, v) for k, v in media.extra_lines if k not in ("y", "f")]
    if audio.ssrc is not None:
        extra.append(("y", audio.ssrc))
    media.extra_lines = [*extra, ("f", audio.f_line())]
    return ps


def _audio_index(sdp: SessionDescription) -> int | None:
    return next(
        (i for i, m in enumerate(sdp.media) if m.kind == "audio" and m.port != 0),
        None,
    )


def _gb_lines(sdp: SessionDescription, media: MediaDescription) -> dict[str, str]:
    """The y= and f= lines, in the media section or (as some devices write them) the
    session's."""
    session = {k: v for k, v in sdp.extra_lines if k in ("y", "f")}
    return session | {k: v for k, v in media.extra_lines if k in ("y", "f")}


def _f_audio_format(f_line: str) -> str:
    """The audio format field of an f= line ("v/2/5/25/1/4096a/1/8/1" gives "1"), "" if none."""
    _, found, audio = f_line.partition("a/")
    return audio.split("/", 1)[0].strip() if found else ""
