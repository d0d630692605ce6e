"""A load-generator process: many RTP legs on one 20 ms send clock (each leg at its own phase of
it, as independent phones send), probe listeners.

Run by bench/scenario.py as `python -m bench.loadgen`; it reads its job (JSON) from stdin,
joins its legs, prints "ready", waits for "start", sends for the job's duration, and prints
one JSON line of results. Legs are joined through mediacore's API, or through any command that
reads an SDP offer on stdin and prints the answer (`exchange`), so the same run can drive
another plain-RTP conference server."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np

from bench.onsets import ON_DBFS, find_onsets, levels_by_packet, self_hearing
from bench.rtppeer import RtpPeer
from mediacore.audio import tone
from mediacore.codecs import PCMU
from mediacore.server.niceness import renice
from mediacore.uvloops import install_uvloop

BURST_PERIOD = 0.5  # seconds between one talker's tone onsets
BURST_LENGTH = 0.2
# 500 ppm moves the send phase through a whole 20 ms tick every 40 s.
TALKER_FREQUENCIES = (500.0, 900.0, 1300.0, 1700.0, 2100.0, 2500.0)
LEVEL_DBFS = -20.0
PHASES = 8  # slots of the packet time the legs send at (see phase_groups)


@dataclass
class Leg:
    name: str
    room: str
    talker: int | None  # index among the room's talkers, or None for a listener
    probe: bool
    peer: RtpPeer
    burst: list[bytes] | None = None
    tone: int = 0  # its index into the job's frequencies (default: its talker index)
    offset: float = 0.0  # where in the burst period its bursts start (0..1)
    url: str = ""  # the API it joins through when not the job's (a cluster node's own)


async def join(job: dict[str, Any], legs: list[Leg]) -> None:
    semaphore = asyncio.Semaphore(8)
    async with httpx.AsyncClient(
        base_url=job.get("url", ""),
        timeout=30,
        headers={"Authorization": f"Bearer {job.get('token', '')}"},
    ) as client:

        async def one(leg: Leg) -> None:
            await leg.peer.open()
            offer = leg.peer.make_offer()
            async with semaphore:
                if job.get("exchange"):
                    answer = await asyncio.to_thread(_exchange, job["exchange"], leg, offer)
                else:
                    response = await client.post(
                        f"{leg.url}/api/v1/rooms/{leg.room}/rtp",
                        params={"name": leg.name},
                        content=offer,
                        headers={"Content-Type": "application/sdp"},
                    )
                    if response.status_code != 201:
                        raise RuntimeError(
                            f"join {leg.name}: {response.status_code} {response.text}"
                        )
                    answer = response.text
            leg.peer.accept(answer)

        await asyncio.gather(*(one(leg) for leg in legs))


def _exchange(command: str, leg: Leg, offer: str) -> str:
    env = {**os.environ, "LEG_NAME": leg.name, "LEG_ROOM": leg.room}
    done = subprocess.run(
        command,
        shell=True,
        input=offer,
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    if done.returncode != 0:  # say why: the controller shows this line when the join fails
        raise RuntimeError(
            f"exchange for {leg.name} exited {done.returncode}: {done.stderr.strip()[-500:]}"
        )
    return done.stdout


def phase_groups(legs: list[Leg], phases: int) -> list[list[Leg]]:
    """The legs by the fraction of a packet time they send at: `phases` evenly spaced slots,
    each leg's chosen by its name, so every process of a run spreads its legs alike. Phones'
    clocks are independent: a room's packets arrive spread over the packet time, not all in
    one instant (`phases` = 1 sends that way, a worst case no population of phones makes)."""
    groups: list[list[Leg]] = [[] for _ in range(max(1, phases))]
    for leg in legs:
        groups[zlib.crc32(leg.name.encode()) % len(groups)].append(leg)
    return groups


async def send(
    legs: list[Leg], start: float, duration: float, ptime: int, drift_ppm: float, phases: int
) -> dict[str, Any]:
    silence = legs[0].peer.packetize(np.zeros(PCMU.samples_per_packet(ptime), dtype=np.float32))[0]
    # Real senders' clocks drift against the server's; a fixed phase would measure one point of
    # the 0..ptime wait for the next mixer tick instead of its whole spread.
    period = ptime / 1000 * (1 + drift_ppm / 1e6)
    ticks = int(duration / period)
    per_burst = int(BURST_PERIOD / period)
    onsets: dict[str, list[float]] = {leg.name: [] for leg in legs if leg.talker is not None}
    lateness = []
    groups = phase_groups(legs, phases)
    for tick in range(ticks):
        for slot, group in enumerate(groups):
            if group:
                lateness.append(await _until(start + (tick + slot / len(groups)) * period))
            for leg in group:
                _send_one(leg, tick, per_burst, silence, onsets)
    return {"onsets": onsets, "lateness": lateness, "packets": ticks * len(legs)}


async def _until(deadline: float) -> float:
    """Sleep until `deadline`; answers how late it woke."""
    delay = deadline - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)
    return time.monotonic() - deadline


def _send_one(
    leg: Leg, tick: int, per_burst: int, silence: bytes, onsets: dict[str, list[float]]
) -> None:
    """One packet of `leg` for `tick`: its tone burst's, or silence."""
    payload = silence
    if leg.burst is not None and leg.talker is not None:
        # Talkers take turns: each starts its bursts `offset` of a period in.
        phase = (tick - int(leg.offset * per_burst)) % per_burst
        if phase < len(leg.burst):
            payload = leg.burst[phase]
            if phase == 0:
                onsets[leg.name].append(time.monotonic())
    leg.peer.send_payload(payload)


async def run(job: dict[str, Any]) -> dict[str, Any]:
    ptime = int(job.get("ptime", 20))
    frequencies = tuple(job.get("frequencies") or TALKER_FREQUENCIES)
    legs = []
    for spec in job["legs"]:
        peer = RtpPeer(PCMU, ptime, job.get("host", "127.0.0.1"))
        # Probes time the onsets they hear; self-checking talkers listen for their own tone.
        peer.record = bool(spec["probe"] or spec.get("self_check"))
        url = str(spec.get("url", ""))
        leg = Leg(spec["name"], spec["room"], spec["talker"], spec["probe"], peer, url=url)
        if leg.talker is not None:
            # By default talker k uses the k-th tone and starts k quarter-periods in.
            leg.tone = int(spec.get("tone", leg.talker)) % len(frequencies)
            leg.offset = float(spec.get("offset", leg.talker / 4)) % 1.0
            frequency = frequencies[leg.tone]
            leg.burst = peer.packetize(tone(frequency, BURST_LENGTH, 8000, LEVEL_DBFS))
        legs.append(leg)
    await join(job, legs)
    print("ready", flush=True)
    line = await asyncio.to_thread(sys.stdin.readline)
    start = float(line.split()[1])
    sent = await send(
        legs,
        start,
        float(job["duration"]),
        ptime,
        float(job.get("drift_ppm", 500)),
        int(job.get("phases", PHASES)),
    )
    await asyncio.sleep(0.3)  # the last packets are still on their way
    heard = []
    for leg in legs:
        if leg.probe and leg.peer.arrivals:
            arrivals = leg.peer.arrivals
            levels = levels_by_packet([a.payload for a in arrivals], PCMU, frequencies)
            for index, times in enumerate(find_onsets([a.time for a in arrivals], levels)):
                heard.append({"room": leg.room, "probe": leg.name, "talker": index, "times": times})
    self_checks = []
    for leg in legs:
        if leg.talker is not None and leg.peer.record:
            arrivals = [a for a in leg.peer.arrivals if a.time >= start]
            levels = levels_by_packet([a.payload for a in arrivals], PCMU, frequencies)
            own = leg.tone
            check = {"room": leg.room, "name": leg.name, **self_hearing(levels, own)}
            # When, after the start, packets carried the talker's own tone (the first ten): to
            # tell a mix-minus leak (during its own bursts) from something else at its pitch.
            loud = [
                a for a, level in zip(arrivals, levels[:, own], strict=True) if level >= ON_DBFS
            ]
            check["own_tone_at_s"] = [round(a.time - start, 3) for a in loud[:10]]
            self_checks.append(check)
    result = {
        "self_checks": self_checks,
        "sent_onsets": [
            {
                "room": leg.room,
                "talker": leg.talker,
                "tone": leg.tone,
                "name": leg.name,
                "times": sent["onsets"][leg.name],
            }
            for leg in legs
            if leg.talker is not None
        ],
        "heard_onsets": heard,
        "packets_received": sum(leg.peer.received_count for leg in legs),
        "packets_sent": sent["packets"],
        "send_lateness_p99": float(np.percentile(sent["lateness"], 99))
        if sent["lateness"]
        else 0.0,
    }
    for leg in legs:
        leg.peer.close()
    return result


def main() -> None:
    job = json.loads(sys.stdin.readline())
    # the media workers' niceness (bench/scenario.py says why), before any thread exists
    renice(int(job.get("nice", 0)) - os.getpriority(os.PRIO_PROCESS, 0))
    install_uvloop()
    result = asyncio.run(run(job))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
