"""/api/v1/messages: texts (短信) to phones over SIP MESSAGE, and the history the consoles read
(mediacore/server/messages.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from mediacore.server.auth import Principal
from mediacore.server.errors import ApiError
from mediacore.server.messagehistory import DEFAULT_RESULTS, MAX_RESULTS
from mediacore.server.messages import Messages
from mediacore.server.security import permission
from sip.pager import PartyError
from sip.textmessage import TextRefused

MAX_PARTY = 256
# The model lets through more than any configured limit ([sip] message_max_chars, at most
# 10000): the service says 413 with the limit in force.
MAX_TEXT_FIELD = 10_001


class MessageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str = Field(
        min_length=1,
        max_length=MAX_PARTY,
        description="a sip:/sips:/tel: URI, a SIP account's name, a number (through the first "
        "trunk), or a room's name (every SIP phone in the room)",
    )
    text: str = Field(max_length=MAX_TEXT_FIELD, description="UTF-8 text, sent as text/plain")


def build_messages_router(messages: Messages) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["messages"])

    @router.post("/messages", status_code=202)
    async def send(
        body: MessageCreate, principal: Annotated[Principal, Depends(permission("messages:send"))]
    ) -> dict[str, Any]:
        """Text a party over SIP MESSAGE (RFC 3428). Answers at once
        `{"id", "status": "sending", "to", "room", "recipients"}`; each recipient's delivery
        follows as `message.status` events ("sent", then "delivered" on a 2xx or "failed" on
        an error answer or none within `[sip] message_timeout`, with `code` and `reason`).
        400 for an empty text or a bad URI, 413 past `[sip] message_max_chars`, 404 for an
        unknown party, 409 for a room without SIP phones."""
        try:
            return messages.send(body.to, body.text, principal.name)
        except TextRefused as refused:
            code = "text-too-long" if refused.status == 413 else "bad-text"
            raise ApiError(refused.status, code, refused.reason) from None
        except PartyError as error:
            raise ApiError(error.status, error.code, str(error)) from None

    @router.get("/messages", dependencies=[Depends(permission("messages:read"))])
    async def history(
        party: Annotated[str | None, Query(max_length=MAX_PARTY)] = None,
        room: Annotated[str | None, Query(max_length=128)] = None,
        since: Annotated[str | None, Query(max_length=64, description="ISO 8601")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_RESULTS)] = DEFAULT_RESULTS,
    ) -> list[dict[str, Any]]:
        """Texts both ways, oldest first: the newest `limit` (at most 500) from or to `party`
        (an address, or an account's name), in `room`, since `since`. Each: `id`, `at`,
        `direction` ("in"|"out"), `target` ("room", "user", "console", "party"), `from`,
        `from_name`, `to`, `room`, `text`, `status` ("received", "sending", "sent",
        "delivered", "failed"), `code`, `reason`, `by`."""
        start = None
        if since is not None:
            try:
                start = datetime.fromisoformat(since.replace("Z", "+00:00")).timestamp()
            except ValueError:
                detail = f"since: not an ISO 8601 time: {since!r}"
                raise ApiError(400, "bad-since", detail) from None
        return await messages.search(party, room, start, limit)

    return router
