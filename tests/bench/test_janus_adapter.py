"""The Janus AudioBridge exchange command: its SDP answer satisfies our offerer, and (where the
janus binary is installed) a leg joined through it gets the room's mix back."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from bench.adapters.janus_audiobridge import answer_sdp
from bench.rtppeer import RtpPeer
from mediacore.codecs import PCMU
from mediacore.offeranswer import make_audio_offer, read_answer
from mediacore.sdp import SessionDescription


def test_answer_is_read_by_our_offerer() -> None:
    offer = make_audio_offer([PCMU], "127.0.0.1", 40000, session_id=1, ptime=20)
    negotiation = read_answer(
        offer, SessionDescription.parse(answer_sdp("127.0.0.1", 31000, "pcmu")), [PCMU]
    )
    assert (negotiation.remote_address, negotiation.remote_port) == ("127.0.0.1", 31000)
    assert negotiation.payload_type == 0


def _exchange(url: str, offer: str, room: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench.adapters.janus_audiobridge", "--url", url, *extra],
        input=offer,
        capture_output=True,
        text=True,
        env={**os.environ, "LEG_ROOM": room, "LEG_NAME": "test"},
        timeout=30,
    )


@pytest.mark.skipif(shutil.which("janus") is None, reason="janus is not installed")
def test_legs_joined_through_janus_hear_each_other(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bench.janus import JanusProcess

    async def run(url: str) -> list[int]:
        peers = []
        for _ in range(2):
            peer = RtpPeer(PCMU, 20)
            await peer.open()
            done = _exchange(url, peer.make_offer(), "test-room")
            assert done.returncode == 0, done.stderr
            peer.accept(done.stdout)
            peers.append(peer)
        silence = peers[0].packetize(np.zeros(160, dtype=np.float32))[0]
        for _ in range(50):
            for peer in peers:
                peer.send_payload(silence)
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
        counts = [peer.received_count for peer in peers]
        for peer in peers:
            peer.close()
        return counts

    with JanusProcess(tmp_path) as janus:
        assert all(count > 20 for count in asyncio.run(run(janus.url)))
        assert _exchange(janus.url, "", "test-room", "--destroy").returncode == 0
        bad = _exchange(janus.url, "not sdp", "test-room")
        assert bad.returncode == 1 and "bad SDP offer" in bad.stderr
