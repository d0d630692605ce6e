"""/api/v1 login and logout: a user name and a password for a short-lived bearer token.

`POST /login` is the one route under /api/ that needs no token (the guard lets it through with
a small body limit); what it answers is a token like any other, with the account's role."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from mediacore.clock import iso8601
from mediacore.server.audittrail import AUDIT_PRINCIPAL
from mediacore.server.auth import session_principal
from mediacore.server.errors import ApiError, error_response
from mediacore.server.guard import bearer_token
from mediacore.server.logins import LoginRefused, Logins
from mediacore.server.passwords import MAX_PASSWORD_BYTES
from mediacore.server.security import authenticate
from mediacore.server.sessions import PREFIX as SESSION_PREFIX


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD_BYTES)]


def build_login_router(logins: Logins) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["login"])

    @router.post("/login", response_model=None)
    async def login(body: LoginRequest, request: Request) -> dict[str, Any] | JSONResponse:
        """Log in: `{"token", "role", "expires", "user", "name"}`. The token is sent as
        `Authorization: Bearer <token>` until it expires (`[auth] session_minutes`) or
        `POST /logout`. 401 for a wrong user or password (the same answer for both), 429 with
        Retry-After after too many failures from the address or for the user."""
        address = request.client.host if request.client else "?"
        try:
            done = await logins.login(body.user, body.password, address)
        except LoginRefused as refused:
            code = "too-many-logins" if refused.status == 429 else "unauthorized"
            answer = error_response(refused.status, code, refused.detail)
            if refused.retry_after:
                answer.headers["Retry-After"] = str(refused.retry_after)
            return answer
        session = done.session
        setattr(request.state, AUDIT_PRINCIPAL, session_principal(session))
        return {
            "token": done.token,
            "role": session.role,
            "expires": iso8601(datetime.fromtimestamp(session.expires, UTC)),
            "user": session.user,
            "name": session.name,
        }

    @router.post("/logout", status_code=204)
    async def logout(request: Request) -> Response:
        """End the caller's login session: its token is refused from now on. Machine tokens
        and join links cannot log out (400)."""
        principal = authenticate(request)
        if principal.room is not None:
            raise ApiError(403, "forbidden", f"this link is for room {principal.room} only")
        token = bearer_token(request.scope) or ""
        if not token.startswith(SESSION_PREFIX) or not logins.sessions.revoke(token):
            raise ApiError(400, "not-a-session", "only a login session's token can log out")
        logins.bus.publish("logout", None, user=principal.name)
        return Response(status_code=204)

    return router
