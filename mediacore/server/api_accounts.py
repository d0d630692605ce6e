"""/api/v1/accounts: admins add, change, list and delete the accounts that log in with a
password (accounts.py). `[[sip.users]]` accounts are listed too, but changed in the config."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from mediacore.server.accounts import API, USER_NAME, Account, AccountError, Accounts
from mediacore.server.auth import Principal
from mediacore.server.config import ROLES
from mediacore.server.errors import ApiError
from mediacore.server.passwords import MAX_PASSWORD_BYTES, hash_password
from mediacore.server.security import permission
from mediacore.server.sessions import SessionStore

log = logging.getLogger(__name__)

MIN_PASSWORD = 8
UserName = Annotated[str, Path(pattern=f"^{USER_NAME.pattern}$")]
Admin = Annotated[Principal, Depends(permission("accounts:write"))]


class AccountRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str = Field(description="one of the roles: admin, commander, operator, expert, reviewer")
    name: str = Field("", max_length=128, description="shown to others; the user name if empty")
    password: str | None = Field(
        None,
        min_length=MIN_PASSWORD,
        max_length=MAX_PASSWORD_BYTES,
        description="required for a new account; left out, a change keeps the current one",
    )

    @field_validator("role")
    @classmethod
    def known_role(cls, role: str) -> str:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        return role


def build_accounts_router(accounts: Accounts, sessions: SessionStore) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["accounts"])

    def found(user: str) -> Account:
        account = accounts.get(user)
        if account is None:
            raise ApiError(404, "account-not-found", f"no account named {user!r}")
        return account

    @router.get("/accounts")
    async def list_accounts(_: Admin) -> list[dict[str, str]]:
        """Every account that may log in: `[{"user", "role", "name", "source"}]`, source
        "config" for `[[sip.users]]`, "api" for those added here. Never a password."""
        return [account.to_json() for account in accounts.all()]

    @router.get("/accounts/{user}")
    async def get_account(user: UserName, _: Admin) -> dict[str, str]:
        return found(user).to_json()

    @router.put("/accounts/{user}")
    async def put_account(
        user: UserName, body: AccountRequest, principal: Admin, response: Response
    ) -> dict[str, Any]:
        """Add (201) or change (200) an account; a change ends the account's open sessions.
        409 for a `[[sip.users]]` account, 422 for a new one without a password."""
        record = None
        if body.password is not None:  # scrypt, off the event loop
            record = await asyncio.to_thread(hash_password, body.password)
        try:
            created = accounts.put(Account(user, body.role, body.name, API), record)
        except AccountError as error:
            raise ApiError(error.status, error.error, str(error)) from None
        ended = sessions.revoke_user(user)
        log.info(
            "account saved",
            extra={"user": user, "role": body.role, "by": principal.name, "sessions_ended": ended},
        )
        response.status_code = 201 if created else 200
        return found(user).to_json()

    @router.delete("/accounts/{user}", status_code=204)
    async def delete_account(user: UserName, principal: Admin) -> Response:
        """Delete an account added over the API and end its sessions."""
        try:
            accounts.delete(user)
        except AccountError as error:
            raise ApiError(error.status, error.error, str(error)) from None
        sessions.revoke_user(user)
        log.info("account deleted", extra={"user": user, "by": principal.name})
        return Response(status_code=204)

    return router
