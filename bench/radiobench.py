"""`bench radio`: radio key-up latency and API floor grants in a room loaded with RTP legs.

One server (started here), one room (floor hang `FLOOR_HANG_MS`, so cycles are quick) loaded
with N plain RTP legs from `bench.loadgen` processes (a few talkers, the rest listeners, all
sending 20 ms packets), and two simulated ED-137B gateways A and B in this process.

1. Key-up latency, K times: A opens its squelch and sends audio with SQU=1 every ptime; the
   time runs from the send of A's first SQU=1 packet to the arrival at B of the first audio
   packet with PTT set (one process, one monotonic clock). A then closes its squelch; the next
   key-up waits for B's PTT-off keep-alive (the floor is free again), a fixed gap and a random
   fraction of a tick, so key-ups fall on every phase of the 20 ms mixer tick.
2. API floor grants, M times: `POST /rooms/{room}/floor` request then release for one of the
   loaded legs, over one keep-alive HTTP connection; each round trip is timed.
3. The server's CPU and RSS throughout, from /proc, and the room clock's late ticks.

Targets: key-up p99 <= 60 ms at ptime 20; API grant p99 <= 10 ms."""

from __future__ import annotations

import asyncio
import itertools
import random
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.loadprocs import start_load, stop_load
from bench.radiogateway import Ed137Gateway, RadioArrival
from bench.sampling import ProcessSampler
from bench.serverproc import TOKEN, ServerProcess
from mediacore.audio import level_dbfs, tone
from mediacore.codecs import PCMU, registry

ROOM = "bench-radio"
PTIME = 20
FLOOR_HANG_MS = 100
KEYUP_TARGET_P99_MS = 60.0
GRANT_TARGET_P99_MS = 10.0
# Between key-ups: the gap keeps A's squelch below the server's flap limit (more than 10
# changes in 1 s), and the random part of a tick spreads the key-ups over the tick's phases.
GAP = 0.15
KEYUP_TIMEOUT = 1.0  # no PTT at B by then: a missed key-up
FREE_TIMEOUT = FLOOR_HANG_MS / 1000 + 2.0
TALKERS = 4
VOICE_DBFS = -40.0  # A sends a -20 dBFS tone; a keyed packet above this carries it

Progress = Callable[[str], None]


@dataclass
class RadioBenchmark:
    legs: int = 100
    keyups: int = 100
    grants: int = 500


class WatchedGateway(Ed137Gateway):
    """An ED-137 gateway whose arrivals wake a waiting coroutine (no polling)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arrived = asyncio.Event()
        self._decoder = registry.new_decoder(self.codec)  # PCMU: stateless, reusable

    def datagram_received(self, data: bytes, addr: tuple[object, ...]) -> None:
        super().datagram_received(data, addr)
        self.arrived.set()

    def is_audio(self, arrival: RadioArrival) -> bool:
        return arrival.payload_type != self.session.keepalive_pt

    def carries_voice(self, arrival: RadioArrival) -> bool:
        """Keyed audio louder than VOICE_DBFS (the mixer sends silence with PTT until the
        holder's own audio is out of its jitter buffer)."""
        if not arrival.ptt or not self.is_audio(arrival):
            return False
        return level_dbfs(self._decoder.decode(arrival.payload)) > VOICE_DBFS

    async def first_arrival(
        self, since: int, wanted: Callable[[RadioArrival], bool], timeout: float
    ) -> tuple[int, RadioArrival] | None:
        """The first arrival at index >= `since` that is `wanted`, with its index; None when
        none came within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        scanned = since
        while True:
            arrivals = self.radio_arrivals
            for index in range(scanned, len(arrivals)):
                if wanted(arrivals[index]):
                    return index, arrivals[index]
            scanned = len(arrivals)
            self.arrived.clear()  # no await since the scan: nothing arrived unseen
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                await asyncio.wait_for(self.arrived.wait(), remaining)
            except TimeoutError:
                return None


class ServerLoad(ProcessSampler):
    """The server's CPU (cores) and RSS every half second, from /proc, tagged by phase."""

    def summary(self) -> dict[str, Any]:
        measured = [s for s in self.samples if s["phase"] != "setup"] or self.samples
        return {
            "mean_cores": round(sum(s["cores"] for s in measured) / len(measured), 3)
            if measured
            else None,
            "keyup_cores": self.cores("keyup"),
            "grant_cores": self.cores("grant"),
            "max_rss_mb": max((s["rss_mb"] for s in self.samples), default=None),
        }


def run(benchmark: RadioBenchmark, progress: Progress) -> dict[str, Any]:
    """Start a server, load its room, measure; the report's `keyup`, `grant`, `server`, `load`
    parts and `passed`. Stops every process it started, also on errors."""
    data = Path(tempfile.mkdtemp(prefix="mediacore-bench-radio-"))
    server = ServerProcess(
        data, rtp_ports=max(1000, (benchmark.legs + 8) * 4), MEDIACORE_SERVER_LOG_LEVEL="warning"
    )
    loaders: list[subprocess.Popen[str]] = []
    report: dict[str, Any] = {}
    try:
        created = server.client.post(
            "/api/v1/rooms",
            json={"name": ROOM, "ptime": PTIME, "floor_hang_ms": FLOOR_HANG_MS},
        )
        created.raise_for_status()
        duration = 60 + benchmark.keyups * (KEYUP_TIMEOUT + FREE_TIMEOUT) + benchmark.grants * 0.1
        loaders = start_load(server, ROOM, benchmark.legs, talkers=TALKERS, ptime=PTIME,
                             duration=duration, progress=progress)  # fmt: skip
        report = asyncio.run(_measure(benchmark, server, loaders, progress))
    finally:
        stop_load(loaders)
        report["server_exit"] = server.stop()
        report["server_log"] = str(server.log_path)
    return report


async def _measure(
    benchmark: RadioBenchmark,
    server: ServerProcess,
    loaders: list[subprocess.Popen[str]],
    progress: Progress,
) -> dict[str, Any]:
    with ServerLoad(server.process.pid) as load:
        async with httpx.AsyncClient(
            base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        ) as client:
            a, a_id = await _join_gateway(client, "gateway-a")
            b, b_id = await _join_gateway(client, "gateway-b")
            try:
                await asyncio.sleep(1.0)  # the load is flowing, jitter buffers settled
                clock_before = (await client.get(f"/api/v1/rooms/{ROOM}")).json()["clock"]
                load.phase = "keyup"
                progress(
                    f"bench radio: {benchmark.keyups} key-ups of gateway A, heard at gateway B"
                )
                keyup = await _keyups(client, a, b, benchmark.keyups, progress)
                load.phase = "grant"
                grant_leg = await _grant_participant(client, a_id, benchmark.legs)
                progress(f"bench radio: {benchmark.grants} API floor requests and releases")
                grant = await _grants(client, grant_leg, benchmark.grants)
                load.phase = "done"
                room = (await client.get(f"/api/v1/rooms/{ROOM}")).json()
                participants = room["participants"]
                clock = room["clock"]
            finally:
                a.close()
                b.close()
    alive = sum(p.poll() is None for p in loaders)
    return {
        "keyup": keyup,
        "grant": grant,
        "server": {
            **load.summary(),
            "late_ticks": clock["late_ticks"] - clock_before["late_ticks"],
            "ticks": clock["ticks"] - clock_before["ticks"],
            "max_lateness_ms": clock["max_lateness_ms"],
            "samples": load.samples,
        },
        "load": {
            "legs": benchmark.legs,
            "talkers": min(TALKERS, benchmark.legs),
            "processes": len(loaders),
            "processes_alive": alive,  # all of them: the load ran to the end
            "participants_in_room": participants,
        },
        "passed": bool(
            keyup["missed"] == 0
            and keyup["p99_ms"] is not None
            and keyup["p99_ms"] <= KEYUP_TARGET_P99_MS
            and grant["not_granted"] == 0
            and grant["p99_ms"] is not None
            and grant["p99_ms"] <= GRANT_TARGET_P99_MS
        ),
    }


async def _join_gateway(client: httpx.AsyncClient, name: str) -> tuple[WatchedGateway, str]:
    gateway = WatchedGateway(PCMU, PTIME)
    await gateway.open()
    response = await client.post(
        f"/api/v1/rooms/{ROOM}/rtp",
        params={"radio": "ed137", "name": name},
        content=gateway.make_offer(),
        headers={"Content-Type": "application/sdp"},
    )
    if response.status_code != 201:
        raise RuntimeError(f"join {name}: {response.status_code} {response.text}")
    gateway.accept(response.text)
    gateway.start_keepalives()
    return gateway, response.headers["Location"].rsplit("/", 1)[1]


async def _keyups(
    client: httpx.AsyncClient,
    a: WatchedGateway,
    b: WatchedGateway,
    count: int,
    progress: Progress,
) -> dict[str, Any]:
    payloads = a.packetize(tone(1000.0, 1.0, 8000, -20.0))
    latencies: list[float] = []  # seconds; a missed key-up is counted instead
    voices: list[float] = []  # to the first keyed packet that carries A's tone, seconds
    silent_first = 0  # key-ups whose first keyed packet carried silence
    sent: list[float] = []  # monotonic send time of each heard key-up's first SQU=1 packet
    missed = 0
    report_every = max(1, count // 10)
    for number in range(count):
        await asyncio.sleep(GAP + random.uniform(0, PTIME / 1000))
        since = len(b.radio_arrivals)
        a.squelch = True
        started = time.monotonic()
        a.send_payload(payloads[0])
        sender = asyncio.get_running_loop().create_task(_talk(a, payloads, started))
        try:
            heard = await b.first_arrival(since, lambda x: x.ptt and b.is_audio(x), KEYUP_TIMEOUT)
            voice = None
            if heard is not None:
                voice = await b.first_arrival(heard[0], b.carries_voice, KEYUP_TIMEOUT)
        finally:
            sender.cancel()
            a.squelch = False
            a.send_keepalive()  # SQU off at once, as a gateway reports its squelch closing
        if heard is None:
            missed += 1
            since = len(b.radio_arrivals)
        else:
            since, arrival = heard
            latencies.append(arrival.time - started)
            sent.append(started)
            if voice is not None:
                since = voice[0]
                voices.append(voice[1].time - started)
                silent_first += voice[0] != heard[0]
        freed = await b.first_arrival(
            since, lambda x: not x.ptt and not b.is_audio(x), FREE_TIMEOUT
        )
        if freed is None or not await _floor_free(client):
            raise RuntimeError(f"key-up {number}: the floor was not freed after squelch closed")
        if (number + 1) % report_every == 0:
            recent = np.asarray(latencies[-report_every:]) * 1000
            progress(
                f"  {number + 1}/{count} key-ups"
                + (f", last p50 {np.percentile(recent, 50):.1f} ms" if len(recent) else "")
                + f", {missed} missed"
            )
    phases = _send_phases(b, sent)
    values = [round(x * 1000, 3) for x in latencies]
    return {
        **_stats(values, ("p50", 50), ("p95", 95), ("p99", 99)),
        "min_ms": min(values, default=None),
        "mean_ms": round(float(np.mean(values)), 3) if values else None,
        "missed": missed,
        "target_p99_ms": KEYUP_TARGET_P99_MS,
        # For information: to the first keyed packet at B carrying A's tone (not silence).
        "voice": {
            **_stats([round(x * 1000, 3) for x in voices], ("p50", 50), ("p99", 99)),
            "first_keyed_packet_silent": silent_first,
        },
        "latencies_ms": values,
        "send_phase_ms": phases,
    }


async def _talk(gateway: WatchedGateway, payloads: list[bytes], started: float) -> None:
    """A's audio after the first packet, every ptime on absolute deadlines."""
    period = PTIME / 1000
    for index in itertools.count(1):
        delay = started + index * period - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        gateway.send_payload(payloads[index % len(payloads)])


async def _floor_free(client: httpx.AsyncClient) -> bool:
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        if (await client.get(f"/api/v1/rooms/{ROOM}/floor")).json()["holder"] is None:
            return True
        await asyncio.sleep(0.01)
    return False


def _send_phases(b: WatchedGateway, sent: list[float]) -> list[float] | None:
    """Each key-up's send time within the mixer tick, 0 = when a tick's packets reach B.

    The server's ticks are on absolute deadlines, so every keyed audio packet B received sits
    at one phase of the 20 ms grid (plus delivery jitter): their circular mean is the grid."""
    times = np.asarray([x.time for x in b.radio_arrivals if x.ptt and b.is_audio(x)])
    if not len(times) or not sent:
        return None
    period = PTIME / 1000
    angles = 2 * np.pi * np.mod(times, period) / period
    grid = float(np.angle(np.mean(np.exp(1j * angles)))) / (2 * np.pi) * period
    return [round(float(np.mod(t - grid, period)) * 1000, 3) for t in sent]


async def _grant_participant(client: httpx.AsyncClient, fallback: str, legs: int) -> str:
    """A loaded plain leg (the API PTT of a console), or gateway A's leg without load."""
    if legs <= 0:
        return fallback
    roster = (await client.get(f"/api/v1/rooms/{ROOM}/participants")).json()
    name = f"load-{legs - 1}"
    return next((p["id"] for p in roster if p["name"] == name), fallback)


async def _grants(client: httpx.AsyncClient, participant: str, count: int) -> dict[str, Any]:
    url = f"/api/v1/rooms/{ROOM}/floor"
    requests: list[float] = []
    releases: list[float] = []
    not_granted = 0
    for _ in range(count):
        started = time.monotonic()
        answer = await client.post(url, json={"participant": participant, "action": "request"})
        requests.append(time.monotonic() - started)
        if answer.status_code != 200 or answer.json().get("result") != "granted":
            not_granted += 1
        started = time.monotonic()
        answer = await client.post(url, json={"participant": participant, "action": "release"})
        releases.append(time.monotonic() - started)
    values = [round(x * 1000, 3) for x in requests]
    released = [round(x * 1000, 3) for x in releases]
    return {
        **_stats(values, ("p50", 50), ("p99", 99)),
        "not_granted": not_granted,
        "release": _stats(released, ("p50", 50), ("p99", 99)),
        "target_p99_ms": GRANT_TARGET_P99_MS,
        "latencies_ms": values,
        "release_latencies_ms": released,
    }


def _stats(values_ms: list[float], *quantiles: tuple[str, float]) -> dict[str, Any]:
    """`samples`, the named percentiles and `max_ms` (None without samples)."""
    found: dict[str, Any] = {"samples": len(values_ms)}
    for name, q in quantiles:
        found[f"{name}_ms"] = round(float(np.percentile(values_ms, q)), 3) if values_ms else None
    found["max_ms"] = max(values_ms, default=None)
    return found
