"""ffmpeg, an independent RTP implementation, as the peer of a real server, proven by measurement.

ffmpeg sends a 1000 Hz sine as RTP PCMA from the port its sendonly offer named, and receives
the server's mix of a recvonly leg through an SDP file, writing it to a WAV file. Levels are
read with the same single-bin DFT as the other end-to-end tests, over the steady part only."""

from __future__ import annotations

import asyncio
import math
import secrets
import shutil
import socket
import time
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.rtppeer import RtpPeer
from mediacore.audio import int16_to_float, tone, tone_level_dbfs, tone_levels_by_block
from mediacore.codecs import PCMA, PCMU, registry
from mediacore.codecs.base import CodecInfo, Pcm
from mediacore.offeranswer import AudioNegotiation, make_audio_offer, read_answer
from mediacore.sdp import SessionDescription
from tests.e2e.server import ServerProcess

FFMPEG = shutil.which("ffmpeg")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        FFMPEG is None, reason="ffmpeg is not on PATH (the test bootstrap installs Debian's)"
    ),
]

SERVER_SHARED = True  # its own rooms only: the shared server (tests/e2e/conftest.py)
RATE = 8000
SINE = 1000.0  # what ffmpeg sends
# ffmpeg's sine source has a peak of 1/8 full scale: 20 log10(1/8 / sqrt 2) = -21.07 dBFS RMS.
SINE_LEVEL = 20 * math.log10(1 / 8 / math.sqrt(2))
LEVEL = -20.0  # dBFS RMS of the RtpPeer tones
SILENT = -50.0  # below this a tone is "not heard"
FFMPEG_ENCODERS = {"PCMA": "pcm_alaw", "PCMU": "pcm_mulaw"}


def free_rtp_port() -> int:
    """An even loopback UDP port whose odd neighbour (RTCP) is free too, both released."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rtp:
            rtp.bind(("127.0.0.1", 0))
            port = int(rtp.getsockname()[1])
            if port % 2 or port >= 65535:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rtcp:
                try:
                    rtcp.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free even UDP port pair on loopback")


@dataclass
class FfmpegLeg:
    """A leg whose media end is ffmpeg: the port the offer named and what the answer agreed."""

    participant: str
    port: int
    negotiation: AudioNegotiation


def join_ffmpeg(
    server: ServerProcess, room: str, name: str, direction: str, codec: CodecInfo = PCMA
) -> FfmpegLeg:
    port = free_rtp_port()
    offer = make_audio_offer(
        [codec],
        "127.0.0.1",
        port,
        session_id=secrets.randbits(40),
        direction=direction,
        telephone_event=False,
    )
    participant, answer = server.join(room, offer.serialize(), name=name)
    negotiation = read_answer(offer, SessionDescription.parse(answer), [codec])
    assert negotiation.codec == codec and negotiation.direction == direction, answer
    return FfmpegLeg(participant, port, negotiation)


def sender_command(leg: FfmpegLeg, seconds: float) -> list[str]:
    """ffmpeg pacing (-re) a 1000 Hz sine as 20 ms RTP packets from the offered port."""
    n = leg.negotiation
    return [
        *("-re", "-f", "lavfi"),
        *("-i", f"sine=frequency={SINE:g}:sample_rate={RATE}:samples_per_frame={RATE // 50}"),
        *("-t", f"{seconds}", "-c:a", FFMPEG_ENCODERS[n.codec.name]),
        *("-payload_type", str(n.payload_type), "-f", "rtp"),
        f"rtp://{n.remote_address}:{n.remote_port}?localrtpport={leg.port}",
    ]


def receiver_command(leg: FfmpegLeg, directory: Path, seconds: float) -> tuple[list[str], Path]:
    """ffmpeg listening on the offered port, described by an SDP file, recording to a WAV."""
    n = leg.negotiation
    sdp = directory / f"{leg.participant}.sdp"
    sdp.write_text(
        "\r\n".join(
            [
                "v=0",
                "o=- 0 0 IN IP4 127.0.0.1",
                "s=mediacore to ffmpeg",
                "c=IN IP4 127.0.0.1",
                "t=0 0",
                f"m=audio {leg.port} RTP/AVP {n.payload_type}",
                f"a=rtpmap:{n.payload_type} {n.codec.name}/{n.codec.clock_rate}",
                "a=recvonly",
                "",
            ]
        )
    )
    wav = directory / f"{leg.participant}.wav"
    command = [
        *("-protocol_whitelist", "file,udp,rtp", "-i", str(sdp)),
        *("-t", f"{seconds}", "-c:a", "pcm_s16le", "-ar", str(RATE), "-ac", "1", str(wav)),
    ]
    return command, wav


@asynccontextmanager
async def ffmpeg(arguments: list[str]) -> AsyncIterator[asyncio.subprocess.Process]:
    """ffmpeg running quietly; killed on the way out if it has not finished."""
    assert FFMPEG is not None
    process = await asyncio.create_subprocess_exec(
        FFMPEG,
        *("-nostdin", "-hide_banner", "-loglevel", "error", "-y"),
        *arguments,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,  # the RTP muxer prints its SDP there
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def finished(process: asyncio.subprocess.Process, timeout: float) -> None:
    """Wait for ffmpeg to end on its own, and insist that it ended well."""
    try:
        _, errors = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        pytest.fail(f"ffmpeg did not finish within {timeout} s")
    assert process.returncode == 0, errors.decode(errors="replace")


def read_wav(path: Path) -> Pcm:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, RATE)
        frames = wav.readframes(wav.getnframes())
    return int16_to_float(np.frombuffer(frames, dtype="<i2"))


@asynccontextmanager
async def tone_leg(
    server: ServerProcess, room: str, name: str, frequency: float, seconds: float
) -> AsyncIterator[tuple[RtpPeer, asyncio.Future[list[float]]]]:
    """An RtpPeer PCMU leg playing a tone at LEVEL; yields it and its playing task."""
    peer = RtpPeer(PCMU)
    await peer.open()
    try:
        _, answer = server.join(room, peer.make_offer(), name=name)
        peer.accept(answer)
        playing = asyncio.ensure_future(
            peer.play(peer.packetize(tone(frequency, seconds, RATE, LEVEL)))
        )
        try:
            yield peer, playing
        finally:
            playing.cancel()
    finally:
        peer.close()


def participant(server: ServerProcess, room: str, leg: FfmpegLeg) -> dict[str, Any]:
    response = server.client.get(f"/api/v1/rooms/{room}/participants/{leg.participant}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def received_between(peer: RtpPeer, start: float, end: float) -> Pcm:
    """What the peer received between two monotonic times, decoded."""
    decoder = registry.new_decoder(peer.codec)
    parts = [decoder.decode(a.payload) for a in peer.arrivals if start <= a.time < end]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def steady(pcm: Pcm, skip: float, keep: float) -> Pcm:
    """`keep` seconds after the first `skip` seconds; fails if the recording is shorter."""
    part = pcm[round(skip * RATE) : round((skip + keep) * RATE)]
    assert part.size == round(keep * RATE), f"only {pcm.size / RATE:.2f} s recorded"
    return part


async def test_ffmpeg_sine_sent_as_pcma_is_heard_by_a_pcmu_leg_at_its_level_and_then_stops(
    server: ServerProcess, room: str
) -> None:
    sender = join_ffmpeg(server, room, "ffmpeg-sender", "sendonly")
    own = 500.0
    async with tone_leg(server, room, "listener", own, 5.0) as (listener, talking):
        start = time.monotonic()
        async with ffmpeg(sender_command(sender, 3.0)) as process:
            await finished(process, 10)
        stopped = time.monotonic()
        details = participant(server, room, sender)
        await talking
    pcm = received_between(listener, start + 0.8, start + 2.8)
    assert pcm.size >= 1.9 * RATE
    heard = tone_level_dbfs(pcm, SINE, RATE)
    blocks = tone_levels_by_block(pcm, SINE, RATE)
    # The leg's jitter buffer may have grown on a loaded machine (at most 300 ms).
    after = received_between(listener, stopped + 0.4, stopped + 0.9)
    print(
        f"ffmpeg's sine heard at {heard:.2f} dBFS (20 ms blocks {blocks.min():.2f} to "
        f"{blocks.max():.2f}); own tone {tone_level_dbfs(pcm, own, RATE):.1f}; "
        f"after ffmpeg stopped {tone_level_dbfs(after, SINE, RATE):.1f}"
    )
    assert heard == pytest.approx(SINE_LEVEL, abs=2.0)
    # A packet concealed under load dips a block (fading repeat: -6 dB); a hole would be silence.
    assert blocks.min() > SINE_LEVEL - 12, "the sine has gaps"
    assert tone_level_dbfs(pcm, own, RATE) < SILENT, "the listener hears itself"
    assert after.size >= 0.45 * RATE and tone_level_dbfs(after, SINE, RATE) < SILENT
    assert details["codec"] == "PCMA/8000" and details["direction"] == "recvonly"
    assert details["remote"] == f"127.0.0.1:{sender.port}"  # latched to the offered port
    stats = details["statistics"]
    assert stats["packets_received"] >= 145  # 3 s of 20 ms packets
    assert stats["packets_lost"] == 0 and stats["dropped_packets"] == 0
    assert stats["packets_sent"] == 0  # the offer was sendonly: nothing is sent to ffmpeg


async def test_ffmpeg_receiving_a_recvonly_leg_through_an_sdp_file_records_the_talker(
    server: ServerProcess, room: str, tmp_path: Path
) -> None:
    receiver = join_ffmpeg(server, room, "ffmpeg-receiver", "recvonly")
    talked = 700.0
    async with tone_leg(server, room, "talker", talked, 3.5) as (_, talking):
        command, wav = receiver_command(receiver, tmp_path, 2.5)
        async with ffmpeg(command) as process:
            await finished(process, 10)
        stats = participant(server, room, receiver)["statistics"]
        await talking
    recorded = read_wav(wav)
    pcm = steady(recorded, 0.5, 1.8)
    heard = tone_level_dbfs(pcm, talked, RATE)
    print(f"ffmpeg recorded the talker at {heard:.2f} dBFS in {recorded.size / RATE:.2f} s")
    assert heard == pytest.approx(LEVEL, abs=2.0)
    assert tone_levels_by_block(pcm, talked, RATE).min() > LEVEL - 6, "the tone has gaps"
    assert tone_level_dbfs(pcm, SINE, RATE) < SILENT
    assert stats["packets_received"] == 0 and stats["packets_sent"] >= 125


async def test_ffmpeg_sender_is_heard_by_an_ffmpeg_receiver_in_the_same_room(
    server: ServerProcess, room: str, tmp_path: Path
) -> None:
    receiver = join_ffmpeg(server, room, "ffmpeg-receiver", "recvonly")
    sender = join_ffmpeg(server, room, "ffmpeg-sender", "sendonly", PCMU)
    command, wav = receiver_command(receiver, tmp_path, 2.5)
    async with ffmpeg(sender_command(sender, 3.5)) as sending, ffmpeg(command) as receiving:
        await finished(receiving, 10)
        await finished(sending, 10)
    recorded = read_wav(wav)
    pcm = steady(recorded, 0.5, 1.8)
    heard = tone_level_dbfs(pcm, SINE, RATE)
    print(f"ffmpeg recorded ffmpeg at {heard:.2f} dBFS in {recorded.size / RATE:.2f} s")
    assert heard == pytest.approx(SINE_LEVEL, abs=2.0)
    assert tone_levels_by_block(pcm, SINE, RATE).min() > SINE_LEVEL - 12, "the sine has gaps"


async def test_a_listen_only_ffmpeg_leg_is_kept_past_the_rtp_timeout(
    server: ServerProcess, room: str, tmp_path: Path
) -> None:
    receiver = join_ffmpeg(server, room, "ffmpeg-receiver", "recvonly")
    async with tone_leg(server, room, "talker", 700.0, 5.0) as (_, talking):
        command, wav = receiver_command(receiver, tmp_path, 4.5)
        async with ffmpeg(command) as process:
            await finished(process, 10)  # the server's RTCP BYE ends ffmpeg early if it drops us
        roster = [p["id"] for p in server.roster(room)]
        await talking
    assert receiver.participant in roster, "the listen-only leg was removed"
    recorded = read_wav(wav)
    assert recorded.size >= 4.4 * RATE, f"only {recorded.size / RATE:.2f} s recorded"
