"""The cascade link: one room shard's talkers carried to another shard of the same room.

A room too big for one worker (or one machine) is split into shards. Every shard mixes for its
own legs, and after each tick sends each of its local talkers (the ones its mixer chose, plus a
floor holder) to every other shard as one RTP packet of its own:

    RTP, PT 96, L16 mono at the room rate, one packet per talker per tick
    SSRC      one per talker and sending shard, timestamp = tick x samples per tick
    RFC 8285 one-byte header extension:
        id 1  the talker's participant id (ASCII, 1-16 bytes)
        id 2  RFC 6464 audio level: -dBov 0..127 (the V bit set while it talks)
        id 3  the talker's priority (0-3); bit 0x80 set when it holds the floor

A receiving shard treats each remote talker as a source-only participant of its mixer: it is
chosen among the local talkers by the same rule (priority, then level), so the talker limit
holds across the room, and it is never sent back, so nobody hears themselves. The link adds at
most one tick: the receiver hands frames from the sender's clock to its own through a
FrameRelay, which drops a frame rather than carry a whole extra tick of delay. Everything here
is pure: the asyncio socket lives in cascadeio.py, and the SRTP that protects every link in
cascadesec.py."""

from __future__ import annotations

import secrets
import zlib
from dataclasses import dataclass

import numpy as np

from mediacore.audio import float_to_int16
from mediacore.codecs.base import Pcm
from mediacore.framerelay import FrameRelay
from mediacore.rtp import RtpError, RtpPacket
from mediacore.rtpext import RtpExtensionError, build_extensions, parse_extensions

CASCADE_PT = 96
EXT_PARTICIPANT = 1
EXT_LEVEL = 2
EXT_PRIORITY = 3
FLOOR_FLAG = 0x80
FORGET_AFTER = 1.0  # seconds without a frame before a remote talker leaves the mix
_SCALE = np.float32(1.0 / 32768.0)
_BIG_ENDIAN_INT16 = np.dtype(">i2")


class CascadeError(ValueError):
    """A datagram that is not a cascade packet."""


@dataclass(frozen=True, slots=True)
class CascadeFrame:
    """One tick of one remote talker's audio at the room rate."""

    participant: str
    tick: int
    level_db: float
    priority: int
    has_floor: bool
    pcm: Pcm


def build_packet(
    frame: CascadeFrame, sequence: int, samples_per_tick: int, ssrc: int | None = None
) -> bytes:
    """The RTP packet carrying `frame` (SSRC: `ssrc`, else `talker_ssrc`); raises CascadeError
    for an id that cannot be carried."""
    participant = frame.participant.encode("ascii", "replace")
    if not 1 <= len(participant) <= 16:
        raise CascadeError(f"participant id {frame.participant!r} is not 1-16 ASCII bytes")
    level = min(127, max(0, round(-frame.level_db)))
    profile, body = build_extensions(
        [
            (EXT_PARTICIPANT, participant),
            (EXT_LEVEL, bytes((0x80 | level,))),
            (EXT_PRIORITY, bytes((frame.priority | (FLOOR_FLAG if frame.has_floor else 0),))),
        ]
    )
    packet = RtpPacket(
        payload_type=CASCADE_PT,
        sequence_number=sequence & 0xFFFF,
        timestamp=(frame.tick * samples_per_tick) & 0xFFFFFFFF,
        ssrc=talker_ssrc(frame.participant) if ssrc is None else ssrc,
        payload=float_to_int16(frame.pcm).astype(_BIG_ENDIAN_INT16).tobytes(),
        extension_profile=profile,
        extension_data=body,
    )
    return packet.serialize()


def parse_packet(data: bytes, samples_per_tick: int) -> CascadeFrame:
    """The frame in a cascade packet; raises CascadeError for anything else."""
    try:
        packet = RtpPacket.parse(data)
        if packet.payload_type != CASCADE_PT or packet.extension_profile is None:
            raise CascadeError("not a cascade packet")
        elements = dict(parse_extensions(packet.extension_profile, packet.extension_data))
    except (RtpError, RtpExtensionError) as error:
        raise CascadeError(str(error)) from None
    participant = elements.get(EXT_PARTICIPANT, b"")
    level = elements.get(EXT_LEVEL, b"")
    priority = elements.get(EXT_PRIORITY, b"")
    if not participant or len(level) != 1 or len(priority) != 1:
        raise CascadeError("a cascade packet needs participant, level and priority elements")
    if not participant.replace(b"-", b"").isalnum() or not participant.isascii():
        raise CascadeError("a cascade participant id is ASCII letters, digits and '-'")
    if len(packet.payload) != 2 * samples_per_tick:
        raise CascadeError(f"{len(packet.payload)} payload bytes is not one tick of audio")
    pcm = np.frombuffer(packet.payload, dtype=_BIG_ENDIAN_INT16).astype(np.float32) * _SCALE
    return CascadeFrame(
        participant=participant.decode(),
        tick=packet.timestamp // samples_per_tick,
        level_db=-float(level[0] & 0x7F),
        priority=min(3, priority[0] & 0x7F),
        has_floor=bool(priority[0] & FLOOR_FLAG),
        pcm=pcm,
    )


def talker_ssrc(participant: str) -> int:
    """A talker's SSRC on every link: stable, so a receiver can tell talkers apart."""
    return zlib.crc32(participant.encode()) or 1


class CascadeSender:
    """Numbers the packets of each talker on one link socket.

    The links are SRTP (cascadesec.py): a talker's sequence numbers never start again while
    the socket lives (a talker quiet for a while goes on where it stopped), and its SSRC is
    `talker_ssrc` masked with a random number of this sender's, so two senders, or two lives of
    one, do not protect the same SSRC and index with a receiver's key."""

    def __init__(self, samples_per_tick: int, ssrc_mask: int | None = None) -> None:
        self.samples_per_tick = samples_per_tick
        self.ssrc_mask = secrets.randbits(32) if ssrc_mask is None else ssrc_mask
        self._sequences: dict[str, int] = {}  # every talker it sent: the room's legs at most
        self.packets_sent = 0

    def packets(self, frames: list[CascadeFrame]) -> list[bytes]:
        """One packet per frame."""
        packets = []
        for frame in frames:
            sequence = self._sequences.get(frame.participant, 0)
            ssrc = (talker_ssrc(frame.participant) ^ self.ssrc_mask) or 1
            packets.append(build_packet(frame, sequence, self.samples_per_tick, ssrc))
            self._sequences[frame.participant] = (sequence + 1) & 0xFFFF
        self.packets_sent += len(packets)
        return packets


@dataclass(slots=True)
class RemoteTalker:
    """What a shard knows of a talker on another shard: its latest frames and state."""

    participant: str
    frames: FrameRelay  # from the sending shard's clock to this one's
    priority: int = 0
    has_floor: bool = False
    last_heard: float = 0.0

    def read(self, now: float) -> Pcm | None:
        """This tick's frame, or None when none arrived."""
        return self.frames.pop(now)


class CascadeReceiver:
    """The remote talkers heard on a shard's links, one frame queue each."""

    def __init__(self, samples_per_tick: int, period: float = 0.02) -> None:
        """`period`: the room's tick, seconds."""
        self.samples_per_tick = samples_per_tick
        self.period = period
        self.talkers: dict[str, RemoteTalker] = {}
        self.packets_received = 0
        self.packets_dropped = 0

    def receive(self, data: bytes, now: float) -> RemoteTalker | None:
        """Queue the frame in `data`; returns its talker (new or known), None when dropped."""
        try:
            frame = parse_packet(data, self.samples_per_tick)
        except CascadeError:
            self.packets_dropped += 1
            return None
        self.packets_received += 1
        talker = self.talkers.get(frame.participant)
        if talker is None:
            talker = RemoteTalker(frame.participant, FrameRelay(self.period))
            self.talkers[frame.participant] = talker
        talker.priority = frame.priority
        talker.has_floor = frame.has_floor
        talker.last_heard = now
        talker.frames.push(frame.pcm, now)
        return talker

    def expire(self, now: float) -> list[str]:
        """Forget talkers silent for FORGET_AFTER seconds; returns their ids."""
        gone = [pid for pid, t in self.talkers.items() if now - t.last_heard > FORGET_AFTER]
        for participant in gone:
            del self.talkers[participant]
        return gone
