"""Video on plain RTP and SIP legs against a real server (media workers, its default), with
ffmpeg as the camera and as the screen, checked by the colour of the decoded picture.

One leg's offer sends H.264 (ffmpeg, libx264 at its default settings but for a half-second GOP)
into the room; another leg's offer receives video, which ffmpeg decodes from an SDP file: it
receives the room's composed picture at the size its a=imageattr asks, showing the only camera
the room has, so its picture is the first one's colour. A SIP call then adds and removes video
by re-INVITE while its audio keeps flowing, and a hold from the API re-INVITEs it with its video
line kept. A wall shows a leg's camera (slow)."""

from __future__ import annotations

import asyncio
import re
import secrets
import shutil
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mediacore.sdp import SessionDescription
from sip.digest import Challenge, answer_challenge
from sip.message import Request, make_response, parse_message
from tests.e2e.server import ServerProcess
from tests.e2e.sipclient import SipClient
from tests.e2e.test_ffmpeg_interop import ffmpeg, free_rtp_port
from tests.e2e.videoterminal import colour_at, grab_until, picture_size, screen_sdp
from tests.walls.wallreceiver import OutputReceiver, near

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not on PATH")

SERVER_CONFIG = """
[[sip.users]]
user = "alice"
password = "alice-secret"
role = "operator"
"""
# the composed picture legs receive: small and slow, to spare the CPU
ROOM_SETTINGS = {"video": {"layout": {"kind": "grid"}, "width": 640, "height": 360, "fps": 10}}
RED = (255, 0, 0)
BLUE = (0, 0, 255)


def offer(audio_port: int, video_port: int, direction: str, *, bandwidth: int = 0) -> str:
    """Audio we neither send nor take (inactive) and H.264 video in `direction` (ours)."""
    lines = [
        "v=0",
        f"o=- {secrets.randbits(40)} 1 IN IP4 127.0.0.1",
        "s=video leg",
        "c=IN IP4 127.0.0.1",
        "t=0 0",
        f"m=audio {audio_port} RTP/AVP 0",
        "a=inactive",
        f"m=video {video_port} RTP/AVP 96",
        *([f"b=AS:{bandwidth}"] if bandwidth else []),
        "a=rtpmap:96 H264/90000",
        "a=fmtp:96 packetization-mode=1;profile-level-id=64001f",
        "a=rtcp-fb:96 nack pli",
        f"a={direction}",
        "",
    ]
    return "\r\n".join(lines)


def video_port(answer: str) -> int:
    line = next(line for line in answer.splitlines() if line.startswith("m=video"))
    return int(line.split()[1])


def camera_command(port: int, local_port: int, colour: str, size: str, seconds: float) -> list[str]:
    return [
        *("-re", "-f", "lavfi", "-i", f"color=c={colour}:s={size}:r=10"),
        *("-t", str(seconds), "-pix_fmt", "yuv420p", "-c:v", "libx264", "-g", "5"),
        *("-payload_type", "96", "-f", "rtp", f"rtp://127.0.0.1:{port}?localrtpport={local_port}"),
    ]


class Talk:
    """RTP (PCMU silence) from the call's audio socket to the server's audio port, a packet
    every 0.1 s while waiting, so that the call is not hung up for want of RTP."""

    def __init__(self, audio: socket.socket, answer: str) -> None:
        line = next(line for line in answer.splitlines() if line.startswith("m=audio"))
        self.audio, self.port, self.sequence = audio, int(line.split()[1]), 0

    def until(self, done: Callable[[], bool], what: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, f"the call never {what}"
            self.sequence += 1
            header = struct.pack("!BBHII", 0x80, 0, self.sequence, self.sequence * 800, 0x5EED)
            self.audio.sendto(header + b"\xff" * 160, ("127.0.0.1", self.port))
            time.sleep(0.1)


def composed_viewers(server: ServerProcess, room: str) -> int:
    """How many watch the room's composed picture (0 when nobody ever did)."""
    described = server.client.get(f"/api/v1/rooms/{room}").json()
    return int(described.get("composed", {}).get("viewers", 0))


def participant(server: ServerProcess, room: str, pid: str) -> dict[str, Any]:
    response = server.client.get(f"/api/v1/rooms/{room}/participants/{pid}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def check_composed(server: ServerProcess, room: str, folder: Path, size: str) -> None:
    """A camera of `size` on one leg; another leg that only receives, asking for a picture of
    `size` (a=imageattr), sees the room's composed picture: the camera alone, in its grid."""
    width, height = map(int, size.split("x"))
    camera_audio, camera_video = free_rtp_port(), free_rtp_port()
    camera, camera_answer = server.join(
        room, offer(camera_audio, camera_video, "sendonly"), name="camera"
    )
    screen_video = free_rtp_port()
    screen_offer = offer(free_rtp_port(), screen_video, "recvonly", bandwidth=768).replace(
        "a=recvonly", f"a=imageattr:96 send * recv [x={width},y={height}]\r\na=recvonly"
    )
    screen, screen_answer = server.join(room, screen_offer, name="screen")
    assert "a=recvonly" in camera_answer and "a=sendonly" in screen_answer
    picture, sdp = folder / "screen.png", screen_sdp(folder, screen_video)
    sending = camera_command(video_port(camera_answer), camera_video, "red", size, 30)
    async with ffmpeg(sending):
        await grab_until(
            sdp, picture, lambda grabbed: near(colour_at(grabbed, width // 2, height // 2), RED, 30)
        )
        seen = participant(server, room, camera)["video"]
        shown = participant(server, room, screen)["video"]
    assert picture_size(picture) == (width, height)
    assert seen["source"] == camera and seen["frames_received"] > 0
    assert (seen["codec"], seen["direction"]) == ("H264", "recvonly")
    assert shown["sending"] == f"composed-{room}-{screen}" and shown["frames_sent"] > 0
    assert shown["picture"] == "composed"
    assert shown["max_bitrate"] == 768_000  # b=AS, for the composed picture's encoder


async def test_an_ffmpeg_camera_on_one_rtp_leg_is_the_picture_of_another(
    server: ServerProcess, room: str, tmp_path: Path
) -> None:
    await check_composed(server, room, tmp_path, "640x360")


@pytest.mark.slow
async def test_a_720p_camera_is_forwarded_whole(
    server: ServerProcess, room: str, tmp_path: Path
) -> None:
    """A 1280x720 keyframe spans dozens of FU-A packets each way."""
    await check_composed(server, room, tmp_path, "1280x720")


@pytest.mark.slow
async def test_a_legs_camera_is_shown_on_a_wall(
    server: ServerProcess, room: str, tmp_path: Path
) -> None:
    """The wall composes in a video process fed by the server's hub: in worker mode the leg's
    camera crosses from its media worker's hub to control's, as a WebRTC camera does."""
    camera_video = free_rtp_port()
    camera, answer = server.join(
        room, offer(free_rtp_port(), camera_video, "sendonly"), name="camera"
    )
    region = {"x": 0, "y": 0, "w": 320, "h": 180, "source": camera, "label": "leg"}
    wall = {
        "canvas": {"width": 320, "height": 180, "fps": 10},
        "layout": {"kind": "custom", "regions": [region]},
        "room": room,
        "outputs": [{"kind": "rtp", "url": f"rtp://127.0.0.1:{free_rtp_port()}"}],
    }
    sending = camera_command(video_port(answer), camera_video, "red", "640x360", 20)
    async with ffmpeg(sending):
        put = server.client.put("/api/v1/walls/legwall", json=wall)
        assert put.status_code == 201, put.text
        receiver = None
        try:
            sdp = server.client.get("/api/v1/walls/legwall/outputs/0.sdp")
            assert sdp.status_code == 200, sdp.text
            (tmp_path / "wall.sdp").write_text(sdp.text)
            receiver = OutputReceiver(tmp_path / "wall.sdp")
            await wait_for_async_colour(receiver, (160, 60), RED)
        finally:
            if receiver is not None:
                receiver.stop()
            server.client.delete("/api/v1/walls/legwall")


async def wait_for_async_colour(
    receiver: OutputReceiver, at: tuple[int, int], colour: tuple[int, int, int]
) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if receiver.latest is not None and near(receiver.colour(*at), colour):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"the wall never showed {colour} ({receiver.error!r})")


def test_an_offer_whose_video_we_cannot_take_is_answered_with_port_0_and_audio(
    server: ServerProcess, room: str
) -> None:
    text = offer(free_rtp_port(), free_rtp_port(), "sendrecv").replace(
        "packetization-mode=1", "packetization-mode=0"
    )
    pid, answer = server.join(room, text, name="mode-0")
    assert video_port(answer) == 0 and "m=audio " in answer
    assert "packetization-mode 0" in participant(server, room, pid)["video"]["refused"]


# -- SIP: re-INVITEs add and remove video -----------------------------------------------------


class Call:
    """One SIP dialog spoken byte by byte: INVITE with digest, ACK, re-INVITEs."""

    def __init__(self, client: SipClient, room: str) -> None:
        self.client = client
        self.uri = f"sip:{room}@127.0.0.1:{client.server.sip_port}"
        self.call_id = f"video-{time.monotonic_ns()}"
        self.from_tag = secrets.token_hex(4)
        self.to_tag = ""
        self.cseq = 0
        self.authorization = ""

    def _text(self, method: str, body: str = "", cseq: int | None = None) -> str:
        if cseq is None:
            self.cseq += 1
        headers = {"Content-Type": "application/sdp"} if body else {}
        if self.authorization and method == "INVITE":
            headers["Authorization"] = self.authorization
        text = self.client.request(
            method, self.uri, call_id=self.call_id, cseq=cseq or self.cseq, to_tag=self.to_tag,
            body=body, headers=headers,
        )  # fmt: skip
        return re.sub(r"^(From: .*);tag=\S+", rf"\1;tag={self.from_tag}", text, flags=re.M)

    def invite(self, body: str) -> str:
        """INVITE (a re-INVITE once in the dialog); ACKs the 200 and returns its SDP."""
        response = self.client.exchange(self._text("INVITE", body), timeout=5)
        if response is not None and response.status == 401:
            challenge = Challenge.parse(response.headers.get_all("WWW-Authenticate")[0])
            self.authorization = answer_challenge(
                challenge, username="alice", password="alice-secret", method="INVITE",
                uri=self.uri,
            ).header_value()  # fmt: skip
            response = self.client.exchange(self._text("INVITE", body), timeout=5)
        while response is not None and response.status < 200:
            response = self.client.response(5)
        assert response is not None and response.status == 200, response
        self.to_tag = self.to_tag or str(response.to.tag)
        self.client.send(self._text("ACK", cseq=self.cseq))
        return response.body.decode()

    def bye(self) -> None:
        self.client.exchange(self._text("BYE"))


def sip_offer(audio_port: int, video: int, version: int) -> str:
    text = offer(audio_port, video, "sendrecv").replace("a=inactive", "a=sendrecv")
    return text.replace(" 1 IN IP4 127.0.0.1", f" {version} IN IP4 127.0.0.1", 1)


def audio_packets(sock: socket.socket, seconds: float) -> int:
    count, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            sock.recv(2048)
            count += 1
        except TimeoutError:
            pass
    return count


def hold_answering(
    server: ServerProcess, room: str, pid: str, client: SipClient, tag: str
) -> tuple[str, str]:
    """Hold the call from the API; answer the server's re-INVITE as the phone does. Returns
    the directions it offered for audio and video (RFC 3264 section 8: the video line stays)."""
    result: list[int] = []
    holding = threading.Thread(
        target=lambda: result.append(
            server.client.post(f"/api/v1/rooms/{room}/participants/{pid}/hold").status_code
        )
    )
    holding.start()
    try:
        data, source = client.sock.recvfrom(65535)
        reinvite = parse_message(data)
        assert isinstance(reinvite, Request) and reinvite.method == "INVITE", data
        sdp = SessionDescription.parse(reinvite.body)
        directions = tuple(sdp.effective_direction(m) for m in sdp.media)
        answer = sdp.serialize().replace("a=sendonly", "a=recvonly")
        answer = answer.replace("a=inactive", "a=recvonly")
        ok = make_response(reinvite, 200, to_tag=tag)
        ok.headers.add("Contact", f"<sip:alice@127.0.0.1:{client.port}>")
        ok.headers.add("Content-Type", "application/sdp")
        ok.body = answer.encode()
        client.sock.sendto(ok.serialize(), source)
    finally:
        holding.join(10)
    assert result == [200]
    assert [m.kind for m in sdp.media] == ["audio", "video"]
    return directions[0], directions[1]


def test_reinvites_add_and_remove_video_while_the_audio_goes_on(
    server: ServerProcess, room: str
) -> None:
    client = SipClient(server)
    audio = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    audio.bind(("127.0.0.1", 0))
    audio.settimeout(0.1)
    audio_port = audio.getsockname()[1]
    call = Call(client, room)
    try:
        first = call.invite(sip_offer(audio_port, 0, 1))
        assert video_port(first) == 0  # offered with port 0: no video yet
        (entry,) = server.roster(room)
        assert "video" not in entry
        assert audio_packets(audio, 0.5) > 10  # the room's mix comes, 20 ms apart

        added = call.invite(sip_offer(audio_port, free_rtp_port(), 2))
        assert video_port(added) > 0
        (entry,) = server.roster(room)
        assert entry["video"]["codec"] == "H264" and entry["video"]["source"] == entry["id"]
        talk = Talk(audio, added)  # the call talks on while we look (no RTP time-out)
        talk.until(lambda: composed_viewers(server, room) == 1, "watched the composed picture")
        assert audio_packets(audio, 0.5) > 10

        held = hold_answering(server, room, entry["id"], client, call.from_tag)
        assert held[0] == "sendonly" and held[1] in ("sendonly", "inactive")  # audio, video

        removed = call.invite(sip_offer(audio_port, 0, 3))
        assert video_port(removed) == 0
        (entry,) = server.roster(room)
        assert "video" not in entry
        assert audio_packets(audio, 0.5) > 10
        # its view of the composed picture ended with its video: nobody watches the room
        talk.until(lambda: composed_viewers(server, room) == 0, "ended its view with its video")
        call.bye()
    finally:
        audio.close()
        client.close()
