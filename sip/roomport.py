"""What SIP calls need of a room, of the legs it makes, and of a call's media leg.

The user agent, the dialer and the calls use only these: a room of this process (`Room` with the
directory's `LegFactory` and `RtpLeg`s) fits them, and so does a room in a media worker, whose
view and remote legs the server assembly provides (mediacore/server/callroom.py). SIP stays the
same wherever the media runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from mediacore.codecs.base import CodecInfo
from mediacore.dtmf import DtmfDigit
from mediacore.endpoint import AudioInput, AudioOutput
from mediacore.joinedroom import JoinedRoom, Member
from mediacore.legpolicy import LegPolicy
from mediacore.offeranswer import AudioNegotiation
from mediacore.participant import Participant
from mediacore.rtpsession import RtpLeg
from mediacore.sdp import MediaDescription, SessionDescription


class CallRoomSettings(Protocol):
    @property
    def pin(self) -> str: ...

    @property
    def rate(self) -> int: ...

    @property
    def ptime(self) -> int: ...


class CallRoom(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def settings(self) -> CallRoomSettings: ...

    @property
    def participants(self) -> Mapping[str, Participant]: ...

    def check_capacity(self) -> None:
        """Raise RoomClosed or RoomFull when a new participant could not join now."""
        ...

    def add(self, participant: Participant) -> Participant:
        """Join `participant`; raises RoomError when the room refuses it."""
        ...

    async def remove(self, participant_id: str, reason: str) -> None: ...

    def update(self, participant_id: str, **changes: Any) -> Participant: ...

    def dtmf_pressed(self, participant: Participant, digit: str) -> None:
        """A digit from the participant (phones in PTT mode talk with `*`, stop with `#`)."""
        ...


class MediaLeg(Protocol):
    """A call's media, bound and negotiated; the room mixes it, the call renegotiates it."""

    @property
    def kind(self) -> str: ...

    @property
    def audio_input(self) -> AudioInput | None: ...

    @property
    def audio_output(self) -> AudioOutput | None: ...

    @property
    def floor_listener(self) -> bool: ...

    @property
    def negotiation(self) -> AudioNegotiation: ...

    session_id: int
    session_version: int
    on_dtmf: Callable[[DtmfDigit], None] | None

    @property
    def local_port(self) -> int: ...

    def renegotiate(self, negotiation: AudioNegotiation) -> None: ...

    def video_offer(self, direction: str) -> tuple[int, MediaDescription] | None:
        """Our last answer's m=video line as a line of our next offer (held: `sendonly`), with
        its index; None when the session never had one."""
        ...

    async def update_video(self, offer: SessionDescription, answer: SessionDescription) -> None:
        """Answer `offer`'s video inside `answer` (its audio answer): added, changed or
        removed; a leg without video leaves the video line refused (port 0)."""
        ...

    async def offer_video(self, offer: SessionDescription) -> None:
        """Add our video line to our `offer` (a dial-out with video); a leg that cannot carry
        video leaves it as it is."""
        ...

    async def video_answered(self, answer: SessionDescription) -> None:
        """The far end answered the offer `offer_video` added video to."""
        ...

    def joined(self, room: JoinedRoom, participant: Member) -> None: ...

    def floor_changed(self, holder: str | None, priority: int) -> None: ...

    async def close(self, reason: str) -> None: ...

    def check(self, now: float) -> str | None: ...

    def statistics(self) -> dict[str, float]: ...

    def describe(self) -> dict[str, Any]: ...


class CallLegs(Protocol):
    """Makes bound media legs by offer/answer for a room (mediacore.legs.LegFactory)."""

    async def answer(
        self,
        offer: SessionDescription,
        room: CallRoom,
        local_address: str,
        make_leg: Callable[..., RtpLeg],
        policy: LegPolicy = ...,
        **leg_options: Any,
    ) -> tuple[MediaLeg, SessionDescription]: ...

    async def offer(
        self,
        room: CallRoom,
        local_address: str,
        make_leg: Callable[..., RtpLeg],
        codecs: list[CodecInfo] | None = None,
        policy: LegPolicy = ...,
        **leg_options: Any,
    ) -> tuple[MediaLeg, SessionDescription]: ...
