"""Where a SIP or plain RTP leg's video meets the room's in a media worker: the worker's hub.

A leg's camera published there goes up to control like a WebRTC camera of the worker
(`WorkerVideo.export`: control's walls and other workers' peers watch it there); a source the
leg is to receive comes from this worker's hub, brought from control when it is published
elsewhere (`WorkerVideo.ensure`: a field camera, a peer or leg of another worker). A leg's
composed picture is control's (ConferenceService): asked for with "video.composed", then
imported the same way."""

from __future__ import annotations

from mediacore.channelio import RequestFailed
from mediacore.server.legpictures import leg_picture_size
from mediacore.server.workervideo import WorkerVideo
from mediacore.videohub import VideoHub, VideoSource


class WorkerVideoPlace:
    def __init__(self, video: WorkerVideo) -> None:
        self.video = video

    @property
    def hub(self) -> VideoHub:
        return self.video.hub

    def published(self) -> None:
        self.video.export()

    async def find(self, source_id: str) -> VideoSource | None:
        try:
            await self.video.ensure(source_id)
            return self.video.hub.get(source_id)
        except (KeyError, ConnectionError):
            return None

    async def composed(
        self,
        room: str,
        participant: str,
        width: int | None,
        height: int | None,
        bitrate: float | None = None,
    ) -> VideoSource | None:
        width, height = leg_picture_size(width, height)
        try:
            answer = await self.video.channel.request(
                "video.composed",
                room=room,
                participant=participant,
                width=width,
                height=height,
                bitrate=bitrate,
            )
        except RequestFailed:  # no such room there, or a size it refuses
            return None
        return await self.find(str(answer["source"]))
