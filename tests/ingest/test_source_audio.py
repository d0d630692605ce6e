"""A field camera's audio in the room mix, measured at a real listener.

ffmpeg plays a test pattern and a 1 kHz sine: AAC over RTMP (the API's path) and G.711 over
RTP/UDP described by SDP (the RTSP/UDP path). A plain RTP leg in the same room hears the mix;
the tone is checked by its frequency (FFT peak) and level, and by its absence where it must not
be heard (`"audio": false`, muted)."""

from __future__ import annotations

import asyncio
import functools
import io
import socket
import subprocess
import threading
import time
import wave
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from fractions import Fraction
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from bench.rtppeer import RtpPeer
from ingest.puller import SourceReader, pull_options_for_file
from ingest.source import FieldSource, FieldSourceSettings
from mediacore.audio import (
    dominant_frequency,
    level_dbfs,
    tone_level_dbfs,
    tone_levels_by_block,
)
from mediacore.codecs import PCMU
from mediacore.events import Event
from mediacore.participant import Participant
from tests.server.test_api import SDP, Api, make_config, running
from tests.waiting import wait_for

FFMPEG = "/usr/bin/ffmpeg"
PICTURE = ["-re", "-f", "lavfi", "-i", "color=c=red:s=320x240:r=25"]
H264 = ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25"]
TONE = 1000.0
# lavfi's sine has amplitude 1/8: -18.1 dBFS peak, -21.1 dBFS RMS
TONE_DBFS = -21.1
SILENT = -50.0


def sine(rate: int) -> list[str]:
    return ["-re", "-f", "lavfi", "-i", f"sine=frequency={TONE:.0f}:sample_rate={rate}"]


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def free_rtp_port() -> int:
    """An even UDP port whose odd neighbour (RTCP) is free too."""
    for _ in range(50):
        port = free_port(socket.SOCK_DGRAM) & ~1
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a:
                a.bind(("127.0.0.1", port))
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
                    b.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise AssertionError("no free RTP port pair")


@contextmanager
def rtmp_camera(*audio: str) -> Iterator[str]:
    """ffmpeg as an RTMP camera (one client only: never probe it); yields its URL."""
    url = f"rtmp://127.0.0.1:{free_port()}/live/x"
    command = [FFMPEG, "-hide_banner", "-loglevel", "error", *PICTURE, *sine(44100), *H264]
    command += [*audio, "-f", "flv", "-listen", "1", url]
    process = subprocess.Popen(command)
    time.sleep(0.5)  # listening
    try:
        yield url
    finally:
        process.kill()
        process.wait()


@contextmanager
def rtp_camera(sdp: Path, video: list[str], audio: list[str] | None = None) -> Iterator[Path]:
    """ffmpeg sending RTP to loopback (video, and audio on a second port); yields its SDP."""
    command = [FFMPEG, "-hide_banner", "-loglevel", "error", *PICTURE]
    if audio is not None:
        command += sine(8000)
    command += ["-map", "0:v", *video, "-f", "rtp", f"rtp://127.0.0.1:{free_rtp_port()}"]
    if audio is not None:
        command += ["-map", "1:a", *audio, "-f", "rtp", f"rtp://127.0.0.1:{free_rtp_port()}"]
    process = subprocess.Popen([*command[:-1], "-sdp_file", str(sdp), command[-1]])
    try:
        expected = "m=audio" if audio is not None else "m=video"
        deadline = time.monotonic() + 5
        while not (sdp.exists() and expected in sdp.read_text()):
            assert time.monotonic() < deadline, "ffmpeg wrote no SDP"
            time.sleep(0.05)
        time.sleep(0.1)  # the rest of the file
        yield sdp
    finally:
        process.kill()
        process.wait()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def hls_camera(directory: Path) -> Iterator[str]:
    """ffmpeg writing a live HLS playlist (1 s segments) served over loopback HTTP."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    playlist = directory / "live.m3u8"
    command = [FFMPEG, "-hide_banner", "-loglevel", "error", *PICTURE, *sine(44100), *H264]
    command += ["-c:a", "aac", "-ac", "1", "-f", "hls", "-hls_time", "1"]
    command += ["-hls_list_size", "6", "-hls_flags", "delete_segments", str(playlist)]
    process = subprocess.Popen(command)
    try:
        deadline = time.monotonic() + 8
        while not (playlist.exists() and playlist.read_text().count("#EXTINF") >= 2):
            assert time.monotonic() < deadline, "ffmpeg wrote no playlist"
            time.sleep(0.1)
        yield f"http://127.0.0.1:{server.server_address[1]}/live.m3u8"
    finally:
        process.kill()
        process.wait()
        server.shutdown()
        server.server_close()


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running(make_config(tmp_path)) as started:
        yield started


def event_log(api: Api) -> list[Event]:
    events: list[Event] = []
    api.server.bus.listen(events.append)
    return events


def talking(events: list[Event], participant: str) -> list[bool]:
    return [
        bool(e.data["talking"])
        for e in events
        if e.type == "talking" and e.data.get("participant") == participant
    ]


def went_live(events: list[Event], participant: str) -> bool:
    return any(
        e.type == "source.state"
        and e.data["participant"] == participant
        and e.data["state"] == "live"
        for e in events
    )


@asynccontextmanager
async def listener(api: Api) -> AsyncIterator[RtpPeer]:
    """A plain RTP leg (PCMU) in room "command" that only listens; closed on leaving."""
    peer = RtpPeer(PCMU)
    await peer.open()
    try:
        response = await api.admin(
            "POST",
            "/api/v1/rooms/command/rtp",
            content=peer.make_offer(),
            headers=SDP,
            params={"name": "listener"},
        )
        assert response.status_code == 201, response.text
        peer.accept(response.text)
        yield peer
    finally:
        peer.close()


async def hear(peer: RtpPeer, seconds: float) -> np.ndarray:
    since = time.monotonic()
    await asyncio.sleep(seconds)
    return peer.decoded(since)


async def add_source(api: Api, url: str, **body: Any) -> dict[str, Any]:
    response = await api.admin(
        "POST", "/api/v1/rooms/command/sources", json={"url": url, "name": "drone 1", **body}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def source_entry(api: Api, source_id: str) -> dict[str, Any]:
    listed = (await api.admin("GET", "/api/v1/rooms/command/sources")).json()
    return dict(next(s for s in listed if s["id"] == source_id))


@pytest.mark.slow
async def test_aac_of_an_rtmp_camera_is_heard_at_1khz_and_muting_it_silences_it(
    api: Api,
) -> None:
    events = event_log(api)
    async with listener(api) as peer:
        with rtmp_camera("-c:a", "aac", "-ac", "1") as url:
            created = await add_source(api, url)
            source_id = created["id"]
            assert created["audio"] is True  # the default: a source's audio joins the mix
            await wait_for(lambda: went_live(events, source_id), 5)
            await wait_for(lambda: True in talking(events, source_id), 5)
            await asyncio.sleep(0.3)  # past the onset
            heard = await hear(peer, 1.5)
            entry = await source_entry(api, source_id)

            muted = await api.admin(
                "PATCH", f"/api/v1/rooms/command/participants/{source_id}", json={"muted": True}
            )
            assert muted.status_code == 200, muted.text
            await asyncio.sleep(0.2)
            heard_muted = await hear(peer, 1.0)
            await api.admin(
                "PATCH", f"/api/v1/rooms/command/participants/{source_id}", json={"muted": False}
            )
            await asyncio.sleep(0.2)
            heard_again = await hear(peer, 1.0)
            final = await source_entry(api, source_id)
    frequency = dominant_frequency(heard, PCMU.sample_rate)
    level = tone_level_dbfs(heard, TONE, PCMU.sample_rate)
    print(f"AAC/RTMP -> PCMU listener: {frequency:.1f} Hz at {level:.1f} dBFS")
    assert len(heard) >= PCMU.sample_rate  # a second and a half of mix arrived
    assert frequency == pytest.approx(TONE, abs=20)
    assert level == pytest.approx(TONE_DBFS, abs=2.0)
    assert level_dbfs(heard) - level < 1.0  # the tone is all there is: no noise, no clicks
    assert tone_level_dbfs(heard_muted, TONE, PCMU.sample_rate) < SILENT
    assert tone_level_dbfs(heard_again, TONE, PCMU.sample_rate) == pytest.approx(TONE_DBFS, abs=2.0)
    assert entry["codec"] == "H264" and entry["kind"] == "video"
    assert (entry["audio"], entry["audio_codec"], entry["audio_rate"]) == (True, "aac", 44100)
    assert entry["audio_channels"] == 1
    assert entry["audio_frames"] > 50 and entry["audio_errors"] == 0
    assert entry["talking"] is True and entry["level_db"] > -30
    print(
        "source audio counters:",
        {k: v for k, v in final.items() if k.startswith("audio_")},
    )
    assert final["audio_buffered_ms"] <= 300
    assert {"audio_underruns", "audio_overflows", "audio_dropped_ms"} <= set(final)


@pytest.mark.slow
async def test_audio_false_keeps_the_camera_out_of_the_mix_but_shows_its_codec(
    api: Api,
) -> None:
    events = event_log(api)
    async with listener(api) as peer:
        with rtmp_camera("-c:a", "aac", "-ac", "1") as url:
            created = await add_source(api, url, audio=False)
            source_id = created["id"]
            assert created["audio"] is False
            await wait_for(lambda: went_live(events, source_id), 5)
            await asyncio.sleep(0.5)
            heard = await hear(peer, 1.5)
            entry = await source_entry(api, source_id)
    assert len(heard) >= PCMU.sample_rate
    level = tone_level_dbfs(heard, TONE, PCMU.sample_rate)
    print(f"audio false: the listener hears {level:.1f} dBFS at 1 kHz")
    assert level < SILENT
    assert talking(events, source_id) == []
    assert entry["audio"] is False and entry["audio_codec"] == "aac"  # known, not mixed
    assert entry["talking"] is False
    assert "audio_underruns" not in entry  # no feed: nothing is buffered for the mix


@pytest.mark.slow
async def test_hls_audio_arriving_a_segment_at_a_time_plays_without_gaps(
    api: Api, tmp_path: Path
) -> None:
    events = event_log(api)
    async with listener(api) as peer:
        with hls_camera(tmp_path) as url:
            source_id = (await add_source(api, url))["id"]
            await wait_for(lambda: went_live(events, source_id), 8)
            await wait_for(lambda: True in talking(events, source_id), 5)
            await asyncio.sleep(0.3)
            heard = await hear(peer, 3.0)  # three segments' worth
            entry = await source_entry(api, source_id)
    blocks = tone_levels_by_block(heard, TONE, PCMU.sample_rate, block_seconds=0.1)
    print(
        f"HLS: 1 kHz over {len(blocks)} blocks of 100 ms: {blocks.min():.1f} to "
        f"{blocks.max():.1f} dBFS; buffered {entry['audio_buffered_ms']} ms, "
        f"underruns {entry['audio_underruns']}, overflows {entry['audio_overflows']}"
    )
    assert len(blocks) >= 25
    assert blocks.min() > TONE_DBFS - 3 and blocks.max() < TONE_DBFS + 2  # no gap, no drop
    assert entry["audio_overflows"] == 0 and entry["audio_underruns"] == 0


async def test_audio_must_be_true_or_false(api: Api) -> None:
    for value in ("yes", 1, None):
        response = await api.admin(
            "POST",
            "/api/v1/rooms/command/sources",
            json={"url": "rtmp://127.0.0.1:1/live/x", "audio": value},
        )
        assert response.status_code == 422, (value, response.text)
    assert (await api.admin("GET", "/api/v1/rooms/command/sources")).json() == []


@pytest.mark.slow
async def test_g711_over_rtp_is_mixed_raises_talking_and_is_recorded_as_its_own_track(
    api: Api, tmp_path: Path
) -> None:
    events = event_log(api)
    room = api.server.directory.get("command")
    hub = api.server.webrtc.video_hub
    assert hub is not None
    video = [*H264]
    audio = ["-c:a", "pcm_mulaw", "-ar", "8000", "-ac", "1"]
    async with listener(api) as peer:
        with rtp_camera(tmp_path / "camera.sdp", video, audio) as sdp:
            target = pull_options_for_file(str(sdp), read_timeout=3)
            source = FieldSource(str(sdp), target, hub, FieldSourceSettings(max_attempts=1))
            participant = room.add(Participant(name="body cam", endpoint=source))
            await wait_for(lambda: went_live(events, participant.id), 5)
            await wait_for(lambda: True in talking(events, participant.id), 5)
            started = await api.admin("POST", "/api/v1/rooms/command/recordings")
            assert started.status_code == 201, started.text
            recording_id = started.json()["id"]
            await asyncio.sleep(0.3)
            heard = await hear(peer, 2.0)
            stopped = await api.admin("POST", f"/api/v1/recordings/{recording_id}/stop")
            assert stopped.status_code == 200, stopped.text
            entry = source.describe()
    frequency = dominant_frequency(heard, PCMU.sample_rate)
    level = tone_level_dbfs(heard, TONE, PCMU.sample_rate)
    print(f"G.711/RTP -> PCMU listener: {frequency:.1f} Hz at {level:.1f} dBFS")
    assert frequency == pytest.approx(TONE, abs=20)
    assert level == pytest.approx(TONE_DBFS, abs=2.0)
    assert (entry["audio_codec"], entry["audio_rate"]) == ("pcm_mulaw", 8000)

    manifest = (await api.admin("GET", f"/api/v1/recordings/{recording_id}")).json()
    tracks = [
        t
        for t in manifest["tracks"]
        if t.get("participant") == participant.id and t.get("kind") == "participant"
    ]
    assert len(tracks) == 1, manifest["tracks"]  # the source's own audio track
    recorded = next(p for p in manifest["participants"] if p["id"] == participant.id)
    assert (recorded["kind"], recorded["codec"]) == ("video", "H264")
    wav = await api.admin("GET", f"/api/v1/recordings/{recording_id}/tracks/{tracks[0]['id']}")
    assert wav.status_code == 200
    with wave.open(io.BytesIO(wav.content)) as reader:
        rate = reader.getframerate()
        samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
    pcm = samples.astype(np.float32) / 32768
    voiced = pcm[np.abs(pcm) > 0]
    track_frequency = dominant_frequency(voiced, rate)
    track_level = tone_level_dbfs(voiced[:rate], TONE, rate)
    print(
        f"recorded source track: {rate} Hz, {len(pcm) / rate:.2f} s, "
        f"{track_frequency:.1f} Hz at {track_level:.1f} dBFS"
    )
    assert rate == room.settings.rate
    assert track_frequency == pytest.approx(TONE, abs=20)
    assert track_level == pytest.approx(TONE_DBFS, abs=1.5)


def write_black_video(path: Path, codec: str, pix_fmt: str) -> None:
    """Ten black 160x128 pictures at 25 fps, encoded with `codec`, alone in Matroska."""
    with av.open(str(path), "w", format="matroska") as out:
        stream = out.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = 160, 128, pix_fmt
        for index in range(10):
            frame = av.VideoFrame.from_ndarray(np.zeros((128, 160, 3), np.uint8), format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, 25)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def write_av_file(path: Path, corrupt_every: int) -> tuple[int, int]:
    """Two seconds of H.264 and stereo AAC (1 kHz) in Matroska, every `corrupt_every`-th audio
    packet replaced by garbage. Returns (audio packets, corrupted)."""
    packets = corrupted = 0
    with av.open(str(path), "w", format="matroska") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 160, 128, "yuv420p"
        audio = out.add_stream("aac", rate=48000)
        audio.layout = "stereo"
        sample = 0
        for index in range(50):
            picture = av.VideoFrame.from_ndarray(np.zeros((128, 160, 3), np.uint8), format="rgb24")
            picture.pts, picture.time_base = index, Fraction(1, 25)
            out.mux(video.encode(picture))
            while sample < (index + 1) * 48000 // 25:
                t = np.arange(sample, sample + 1024) / 48000
                wave_ = (0.125 * np.sin(2 * np.pi * TONE * t)).astype(np.float32)
                frame = av.AudioFrame.from_ndarray(
                    np.stack([wave_, wave_]), format="fltp", layout="stereo"
                )
                frame.sample_rate, frame.pts = 48000, sample
                frame.time_base = Fraction(1, 48000)
                sample += 1024
                for packet in audio.encode(frame):
                    packets += 1
                    if packets % corrupt_every == 0:
                        garbage = av.Packet(bytes([0xFF, 0xF1]) + bytes(range(200, 255)) * 3)
                        garbage.pts, garbage.dts = packet.pts, packet.dts
                        garbage.time_base, garbage.stream = packet.time_base, audio
                        packet = garbage
                        corrupted += 1
                    out.mux(packet)
        out.mux(video.encode(None))
        out.mux(audio.encode(None))
    return packets, corrupted


def test_corrupt_audio_packets_are_skipped_and_counted_and_the_video_goes_on(
    tmp_path: Path,
) -> None:
    path = tmp_path / "camera.mkv"
    packets, corrupted = write_av_file(path, corrupt_every=5)
    reader = SourceReader(pull_options_for_file(str(path)))
    opened: list[dict[str, Any]] = []
    keyframes: list[bool] = []
    audio: list[tuple[np.ndarray, int]] = []
    reader.run(
        opened.append,
        lambda data, pts, keyframe: keyframes.append(keyframe),
        lambda pcm, rate: audio.append((pcm, rate)),
    )  # returns at the end of the file: the bad packets did not end the connection
    assert opened[0]["audio_codec"] == "aac" and opened[0]["audio_channels"] == 2
    assert reader.audio_errors == corrupted and corrupted >= 15
    assert reader.audio_frames == len(audio) >= packets - corrupted - 3  # encoder priming
    assert len(keyframes) >= 40  # all but what probing read (fflags=nobuffer)
    pcm = np.concatenate([p for p, _ in audio])
    assert {rate for _, rate in audio} == {48000}
    assert pcm.dtype == np.float32
    assert dominant_frequency(pcm, 48000) == pytest.approx(TONE, abs=20)
    assert level_dbfs(pcm) == pytest.approx(TONE_DBFS, abs=1.0)  # stereo mixed down, not summed


def test_a_source_without_audio_never_calls_on_audio_and_opens_with_audio_none(
    tmp_path: Path,
) -> None:
    path = tmp_path / "silent.mkv"
    write_black_video(path, "libx264", "yuv420p")
    reader = SourceReader(pull_options_for_file(str(path)))
    opened: list[dict[str, Any]] = []
    frames: list[bool] = []
    calls: list[int] = []
    reader.run(opened.append, lambda d, p, k: frames.append(k), lambda p, r: calls.append(r))
    # fflags=nobuffer: the packets probing read are not replayed, hence not all 10
    assert opened[0]["audio_codec"] is None and len(frames) >= 5 and calls == []
