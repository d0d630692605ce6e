"""The API's answers to failed room calls: one mapping from room failures to HTTP errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from mediacore.offeranswer import OfferAnswerError
from mediacore.ports import PortsExhausted
from mediacore.room import RoomClosed, RoomError, RoomFull
from mediacore.server.directory import RoomExists
from mediacore.server.errors import ApiError
from mediacore.server.rooms import (
    MoveRefused,
    NodeDown,
    NoRunningShard,
    NoSuchParticipant,
    NoSuchRoom,
)


@contextmanager
def room_errors(bad: str = "bad-room", full: str | None = None) -> Iterator[None]:
    """Turn room failures raised inside into ApiErrors.

    `bad` is the 400 code for a setting or change the room refuses; with `full`, a refusal is a
    409 of that code instead (a leg the room has no place for)."""
    try:
        yield
    except NoSuchRoom as error:
        raise ApiError(404, "room-not-found", str(error)) from None
    except NoSuchParticipant as error:
        raise ApiError(404, "participant-not-found", str(error)) from None
    except RoomExists as error:
        raise ApiError(409, "room-exists", str(error)) from None
    except RoomClosed as error:
        raise ApiError(409, "room-closed", str(error)) from None
    except OfferAnswerError as error:
        raise ApiError(400, error.reason, str(error)) from None
    except PortsExhausted as error:
        raise ApiError(503, "no-ports", str(error)) from None
    except (NoRunningShard, ConnectionError) as error:
        raise ApiError(
            503, "worker-restarting", f"the room's media worker restarts: {error}"
        ) from None
    except RoomFull as error:
        raise ApiError(409, full or "room-full", str(error)) from None
    except MoveRefused as error:
        raise ApiError(409, error.code, str(error)) from None
    except NodeDown as error:  # in a cluster: the room's node is down
        raise ApiError(503, "node-down", str(error)) from None
    except RoomError as error:
        if full is not None:
            raise ApiError(409, full, str(error)) from None
        raise ApiError(400, bad, str(error)) from None
