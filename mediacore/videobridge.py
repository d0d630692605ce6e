"""Video sources carried between two processes' video hubs over a data path.

A source published in one process (a WebRTC camera in a media worker, a field camera in
control) becomes a source of the same id in another: the publishing side taps it and sends
each encoded frame as a data path frame (`FrameSender`); the other side registers a `proxy`
whose keyframe requests go back to the publisher (over the control channel, by the caller) and
pushes the frames that arrive into it (`push_frame`). Nothing is decoded or re-encoded.

The codec travels as JSON (`codec_json`): its name and SDP parameters, so an H.264 proxy keeps
the publisher's profile and packetization mode and subscribers negotiate what really comes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import av

from mediacore.datapath import MediaFrame, video
from mediacore.videohub import INSPECTORS, TIME_BASE, VideoSource, codec_parameters

FrameSender = Callable[[MediaFrame], object]


def codec_json(source: VideoSource) -> dict[str, Any]:
    """The source's codec for the other side: name ("" until known) and parameters."""
    if source.codec is not None:
        return {"name": source.codec.name.upper(), "parameters": dict(source.codec.parameters)}
    return {"name": source.codec_name, "parameters": {}}


def proxy(
    source_id: str,
    codec: dict[str, Any],
    participant_id: str | None,
    request_keyframe: Callable[[], None],
) -> VideoSource:
    """A local source standing for `source_id` of another process."""
    name = str(codec.get("name") or "")
    parameters = codec.get("parameters") or None
    known = codec_parameters(name, parameters) if name in INSPECTORS else (name or None)
    return VideoSource(
        source_id, known, participant_id=participant_id, keyframe_requester=request_keyframe
    )


def tap_to(source: VideoSource, send: FrameSender) -> Callable[[], None]:
    """Send every frame of `source` from now on; returns the function that stops it."""

    def forward(packet: av.Packet[Any], keyframe: bool) -> None:
        pts = int(packet.pts) if packet.pts is not None else None
        send(video(source.id, source.codec_name, bytes(packet), pts, keyframe))

    return source.add_tap(forward)


def push_frame(source: VideoSource, frame: MediaFrame) -> None:
    """Hand a frame that arrived on the data path to its proxy."""
    packet = av.Packet(frame.payload)
    packet.pts = frame.pts
    packet.time_base = TIME_BASE
    source.push(packet, frame.keyframe)
