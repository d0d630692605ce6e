"""The WebRTC signalling protocol of one WebSocket, without the socket.

The route (mediacore/server/api_webrtc.py) authenticates, then feeds every text message to
`SignallingSession.receive()` and sends whatever appears in `outbox`. Every message is a JSON
object with a "type"; a bad message gets an "error" reply and the session goes on.

Client to server                                       Server to client
  join {name?, offer, duplex?: "full"|"half"}          joined {participant, answer}
  answer {sdp}           (to a server "offer")         offer {sdp}     (renegotiation)
  ptt {action: "press"|"release"}                      floor {action, result, holder}
  mute {muted}                                         muted {muted}
  subscribe {source} / unsubscribe {source}            subscribed / unsubscribed {source}
    (source "composed": the room's composed picture     (with "video": the source it is)
     as this participant sees it)
  share {offer?, mid}                                  shared {answer, source}
    (the video track `mid` is the room's content;       (answer: null without an offer)
     offer: the call offered again with that track)
  unshare                                              unshared {source}
  leave                                                left {participant, reason}
                                                       moved {participant, from, to}
  ping                                                 pong
                                                       event {event: <room event>}
                                                       error {code, detail, for}"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Protocol

from mediacore.contentshares import Share
from mediacore.events import Event, Subscription
from mediacore.room import RoomClosed, RoomError
from webrtc.contentshare import MAX_MID
from webrtc.peer import WebRtcError
from webrtc.peerroom import MEDIA_LOST, Peer, PeerJoin, PeerRoom

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024  # the route closes the socket (1009) beyond this
MAX_SDP_BYTES = 16 * 1024
MAX_NAME = 128
RATE_PER_SECOND = 20.0  # messages a client may send, sustained ...
BURST = 20.0  # ... and at once
OUTBOX_SIZE = 256  # messages waiting for the socket; beyond, the oldest event goes
EVENT_QUEUE = 100  # room events waiting to be forwarded

Message = dict[str, Any]
# The source name that asks for the room's composed conference picture (continuous presence).
COMPOSED = "composed"
# Names the hub source of a participant's composed picture: (room, participant) -> source id.
ComposedSource = Callable[[str, str], Awaitable[str]]
# The source a subscriber is given for the one it asked (an H.265 source's H.264 twin).
PlayableSource = Callable[[str, str | None], str]  # (source asked, viewer) -> given


class ContentDesk(Protocol):
    """Each room's shared content (mediacore.server.roomcontent)."""

    def start(self, room: str, participant: str, name: str, source: str) -> None: ...

    def stop(self, room: str, reason: str, *, participant: str | None = None) -> Share | None:
        """End the room's share, only `participant`'s when given; None when there was none."""
        ...


class MessageError(Exception):
    """A client message that cannot be carried out; becomes an "error" reply."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class TokenBucket:
    """At most `rate` per second on average and `burst` at once; the caller passes the time."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._last: float | None = None

    def take(self, now: float) -> bool:
        if self._last is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class SignallingSession:
    def __init__(
        self,
        room: PeerRoom,
        *,
        user: str,
        may_talk: bool,
        loopback: Sequence[str] = (),
        owner: str = "",
        find_room: Callable[[str], PeerRoom | None] | None = None,
        composed: ComposedSource | None = None,
        playable: PlayableSource | None = None,
        content: ContentDesk | None = None,
    ) -> None:
        """`room` is the room the socket was opened for; `user` names the caller (the default
        participant name); `may_talk` allows PTT; `loopback` see webrtc.ice; `owner` is the
        caller's identity, recorded as the owner of its participant (default `user`);
        `find_room` finds the room the participant was moved to, which the session then
        acts on and forwards the events of; `composed` names the source of a participant's
        composed picture (None: the server paints none); `playable(source, participant)` the
        source given to the participant for one asked (None: the one asked); `content` keeps
        each room's shared content (None: nobody may share)."""
        self.room = room
        self.composed = composed
        self.playable = playable
        self.content = content
        self.name = user  # the participant's, once joined
        self.find_room = find_room
        self.user = user
        self.owner = owner or user
        self.may_talk = may_talk
        self.loopback = list(loopback)
        self.outbox: asyncio.Queue[Message] = asyncio.Queue(maxsize=OUTBOX_SIZE)
        self.peer: Peer | None = None
        # Set when the peer's media process died: the socket closes, and the client joins again.
        self.media_lost = asyncio.Event()
        self.dropped = 0  # messages dropped because the client did not read
        self._bucket = TokenBucket(RATE_PER_SECOND, BURST)
        self._subscription: Subscription | None = None
        self._forwarder: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._offer_again = False
        self._handlers: dict[str, Callable[[Message], Awaitable[None]]] = {
            "join": self._join,
            "answer": self._answer,
            "ptt": self._ptt,
            "mute": self._mute,
            "subscribe": self._subscribe,
            "unsubscribe": self._unsubscribe,
            "share": self._share,
            "unshare": self._unshare,
            "leave": self._leave,
            "ping": self._ping,
        }

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Begin forwarding the room's events to the client."""
        self._subscription = self.room.events(EVENT_QUEUE)
        self._forwarder = self._spawn(self._forward_events())

    async def close(self) -> None:
        """The socket is gone: the participant leaves and event forwarding stops."""
        if self._subscription is not None:
            self._subscription.close()
        for task in list(self._tasks):
            task.cancel()
        peer, self.peer = self.peer, None
        if peer is not None and not peer.closed:
            with contextlib.suppress(KeyError):  # it left meanwhile
                await self.room.remove(peer.participant_id, "websocket-closed")

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def post(self, message: Message) -> None:
        """Queue a message for the client; when the client does not read, the oldest goes."""
        if self.outbox.full():
            self.outbox.get_nowait()
            self.dropped += 1
        self.outbox.put_nowait(message)

    def error(self, code: str, detail: str, regarding: str | None = None) -> None:
        self.post({"type": "error", "code": code, "detail": detail, "for": regarding})

    def drain(self) -> list[Message]:
        """Everything queued for the client now (for tests and tools)."""
        messages = []
        while not self.outbox.empty():
            messages.append(self.outbox.get_nowait())
        return messages

    async def _forward_events(self) -> None:
        assert self._subscription is not None
        while True:
            event = await self._subscription.get()
            if event.room == self.room.name:  # not the server-wide ones (SIP registrations)
                self.post({"type": "event", "event": event.to_json()})
            if event.type == "participant.moved" and self._follow_peer(_moved_to(event)):
                return  # the new room's forwarder goes on

    def _follow_peer(self, moved: tuple[str, str] | None = None) -> bool:
        """When the participant was moved to another room, act on that room from now on and
        forward its events (a "moved" message says so); True when it did. `moved` is what a
        `participant.moved` event said (participant, new room): the old room's event may be
        read before the peer has heard the new room's, which moves it."""
        peer = self.peer
        if peer is None or self.find_room is None:
            return False
        if moved is not None and moved[0] == peer.participant_id:
            peer.room = moved[1]  # as Peers.follow will on the new room's event
        if peer.room == self.room.name:
            return False
        room = self.find_room(peer.room)
        if room is None:
            return False
        old, self.room = self.room.name, room
        if self._subscription is not None:
            self._subscription.close()
            forwarder = self._forwarder
            self._subscription = room.events(EVENT_QUEUE)
            self._forwarder = self._spawn(self._forward_events())
            if forwarder is not None and forwarder is not asyncio.current_task():
                forwarder.cancel()
        self.post(
            {"type": "moved", "participant": peer.participant_id, "from": old, "to": room.name}
        )
        return True

    # -- receiving ------------------------------------------------------------------------

    async def receive(self, text: str, now: float) -> None:
        """Handle one text message from the client; replies go to `outbox`."""
        if not self._bucket.take(now):
            self.error("rate-limited", f"at most {RATE_PER_SECOND:g} messages a second")
            return
        try:
            message = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: nested past the stack
            self.error("bad-json", "a message is one JSON object")
            return
        if not _is_unicode(message):
            self.error("bad-json", "a message's strings are Unicode text (no lone surrogates)")
            return
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            self.error("bad-message", 'a message is a JSON object with a string "type"')
            return
        kind = message["type"]
        self._follow_peer()  # a move the event forwarding has not seen yet
        handler = self._handlers.get(kind)
        if handler is None:
            self.error("unknown-type", f"unknown message type {kind[:64]!r}", kind[:64])
            return
        try:
            await handler(message)
        except MessageError as problem:
            self.error(problem.code, problem.detail, kind)

    def _joined(self) -> Peer:
        if self.peer is None:
            raise MessageError("not-joined", "join the room first")
        return self.peer

    async def _join(self, message: Message) -> None:
        if self.peer is not None:
            raise MessageError("already-joined", "this socket already has a participant")
        offer = _text(message, "offer", limit=MAX_SDP_BYTES)
        name = message.get("name", self.user) or self.user
        if not isinstance(name, str) or len(name) > MAX_NAME:
            raise MessageError("bad-field", f'"name" must be a string of at most {MAX_NAME}')
        duplex = message.get("duplex", "full")
        if duplex not in ("full", "half"):
            raise MessageError("bad-field", '"duplex" must be "full" or "half"')
        try:
            peer, answer = await self.room.join(
                PeerJoin(
                    offer,
                    name=name,
                    owner=self.owner,
                    mode="session",
                    duplex=duplex,
                    loopback=self.loopback,
                )
            )
        except WebRtcError as error:
            raise MessageError(error.reason, str(error)) from None
        except RoomClosed as error:
            raise MessageError("room-closed", str(error)) from None
        except RoomError as error:
            raise MessageError("room-full", str(error)) from None
        self.peer = peer
        self.name = name
        peer.on_negotiation_needed = self._negotiation_needed
        peer.on_close(lambda reason: self._left(peer, reason))
        self.post({"type": "joined", "participant": peer.participant_id, "answer": answer})

    def _left(self, peer: Peer, reason: str) -> None:
        if self.peer is peer:
            self.peer = None
            self._offer_again = False
        if reason == MEDIA_LOST:
            self.media_lost.set()
            return
        self.post({"type": "left", "participant": peer.participant_id, "reason": reason})

    async def _answer(self, message: Message) -> None:
        peer = self._joined()
        sdp = _text(message, "sdp", limit=MAX_SDP_BYTES)
        try:
            await peer.accept_answer(sdp)
        except WebRtcError as error:
            raise MessageError(error.reason, str(error)) from None
        if self._offer_again:
            self._offer_again = False
            self._negotiation_needed()

    def _negotiation_needed(self) -> None:
        peer = self.peer
        if peer is None:
            return
        if peer.negotiating:
            self._offer_again = True  # one round at a time; the next follows the answer
            return
        self._spawn(self._offer(peer))

    async def _offer(self, peer: Peer) -> None:
        await asyncio.sleep(0)  # let the change that asked for it finish (several senders)
        if peer is not self.peer or peer.closed:
            return
        try:
            sdp = await peer.renegotiate()
        except WebRtcError:
            self._offer_again = True
            return
        self.post({"type": "offer", "sdp": sdp})

    async def _ptt(self, message: Message) -> None:
        peer = self._joined()
        action = message.get("action")
        if action not in ("press", "release"):
            raise MessageError("bad-field", '"action" must be "press" or "release"')
        if not self.may_talk:
            raise MessageError("forbidden", "this role may not take the floor")
        try:
            result = await self.room.floor(peer.participant_id, action)
        except KeyError:
            raise MessageError("not-joined", "the participant has left") from None
        except RoomError as error:
            raise MessageError("bad-field", str(error)) from None
        self.post({"type": "floor", "action": action, **result})

    async def _mute(self, message: Message) -> None:
        peer = self._joined()
        muted = message.get("muted")
        if not isinstance(muted, bool):
            raise MessageError("bad-field", '"muted" must be true or false')
        try:
            await self.room.mute(peer.participant_id, muted)
        except KeyError:
            raise MessageError("not-joined", "the participant has left") from None
        self.post({"type": "muted", "muted": muted})

    async def _subscribe(self, message: Message) -> None:
        peer = self._joined()
        asked = source = _text(message, "source", limit=64)
        try:
            if asked == COMPOSED:
                source = await self._composed(peer)
            elif not self.room.may_watch(source):  # another room's: as unknown
                raise KeyError(source)
            elif self.playable is not None:
                source = self.playable(source, peer.participant_id)
            await peer.subscribe(source)
        except KeyError:
            raise MessageError("unknown-source", f"no video source {asked!r}") from None
        except WebRtcError as error:
            raise MessageError(error.reason, str(error)) from None
        self.post({"type": "subscribed", "source": asked, "video": source})

    async def _composed(self, peer: Peer) -> str:
        if self.composed is None:
            raise MessageError("video-unavailable", "this server paints no composed picture")
        try:
            return await self.composed(self.room.name, peer.participant_id)
        except (TimeoutError, OSError) as error:
            raise MessageError("video-unavailable", f"the composed picture: {error}") from None

    async def _unsubscribe(self, message: Message) -> None:
        peer = self._joined()
        asked = source = _text(message, "source", limit=64)
        try:
            if asked == COMPOSED:
                source = await self._composed(peer)
            elif self.playable is not None:
                source = self.playable(source, peer.participant_id)
            await peer.unsubscribe(source)
        except KeyError:
            raise MessageError("not-subscribed", f"not subscribed to {asked!r}") from None
        except WebRtcError as error:
            raise MessageError(error.reason, str(error)) from None
        self.post({"type": "unsubscribed", "source": asked})

    async def _share(self, message: Message) -> None:
        peer, content = self._joined(), self.content
        if content is None:
            raise MessageError("video-unavailable", "this server takes no shared content")
        offer = None
        if message.get("offer") is not None:
            offer = _text(message, "offer", limit=MAX_SDP_BYTES)
        mid = _text(message, "mid", limit=MAX_MID)
        if peer.negotiating:
            raise MessageError("negotiating", "answer the server's offer first, then share again")
        try:
            answer, source = await peer.share(offer, mid)
        except KeyError:
            raise MessageError("not-joined", "the participant has left") from None
        except WebRtcError as error:
            raise MessageError(error.reason, str(error)) from None
        self.post({"type": "shared", "answer": answer, "source": source})
        content.start(self.room.name, peer.participant_id, self.name, source)
        if self._offer_again:  # a change of ours waited while the peer's offer was answered
            self._offer_again = False
            self._negotiation_needed()

    async def _unshare(self, message: Message) -> None:
        peer = self._joined()
        stopped = None
        if self.content is not None:
            stopped = self.content.stop(self.room.name, "unshared", participant=peer.participant_id)
        if stopped is None:
            raise MessageError("not-sharing", "this participant shares no content")
        self.post({"type": "unshared", "source": stopped.source})

    async def _leave(self, message: Message) -> None:
        peer = self._joined()
        with contextlib.suppress(KeyError):  # already gone: its "left" was sent then
            await self.room.remove(peer.participant_id, "left")

    async def _ping(self, message: Message) -> None:
        self.post({"type": "pong"})


def _is_unicode(message: Any) -> bool:
    """Whether every string in `message` encodes to UTF-8: JSON's \\ud800 escapes decode to
    lone surrogates, which no reply, log line or event could carry."""
    try:
        json.dumps(message, ensure_ascii=False).encode()
    except (UnicodeEncodeError, RecursionError):
        return False
    return True


def _text(message: Message, key: str, *, limit: int) -> str:
    value = message.get(key)
    if value is None:
        raise MessageError("missing-field", f'"{key}" is required')
    if not isinstance(value, str) or not value:
        raise MessageError("bad-field", f'"{key}" must be a non-empty string')
    if len(value.encode()) > limit:
        code = "sdp-too-large" if limit == MAX_SDP_BYTES else "bad-field"
        raise MessageError(code, f'"{key}" is limited to {limit} bytes')
    return value


def _moved_to(event: Event) -> tuple[str, str] | None:
    """(participant, new room) of a `participant.moved` event; None when it says neither."""
    participant, to = event.data.get("participant"), event.data.get("to")
    return (participant, to) if isinstance(participant, str) and isinstance(to, str) else None
