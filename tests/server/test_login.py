"""Logging in over the API: a user name and a password for a short-lived token with the
account's role; failures throttled and evented; sessions end at logout, expiry, or when an
admin changes the account; admins manage accounts; only /login is open without a token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from mediacore.clock import FakeClock
from mediacore.events import Event
from mediacore.server.accounts import ACCOUNTS_FILE
from mediacore.server.auditlog import AUDIT_FILE
from mediacore.server.config import AuthSection
from mediacore.server.guard import PUBLIC_MAX_BODY
from sip.settings import SipUser
from tests.server.test_api import TOKENS, Api, assert_error, make_config, running

LOGIN = "/api/v1/login"
PHONE = SipUser("1001", "phone-secret-1001", "operator", "Unit 1")
CHIEF = SipUser("chief", "chief-secret-0001", "commander", "Chief Wang")
ATTEMPTS = 3


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    config = make_config(tmp_path)
    config = replace(
        config,
        sip=replace(config.sip, users=(PHONE, CHIEF)),
        auth=AuthSection(session_minutes=30, login_attempts=ATTEMPTS, login_window=60),
    )
    async with running(config) as started:
        yield started


def events(api: Api) -> list[Event]:
    seen: list[Event] = []
    api.server.bus.listen(seen.append)
    return seen


async def login(api: Api, user: str, password: str) -> httpx.Response:
    return await api.http.post(LOGIN, json={"user": user, "password": password})


async def as_token(api: Api, token: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return await api.http.request(method, url, headers=headers, **kwargs)


# -- logging in -------------------------------------------------------------------------------


async def test_a_sip_user_logs_in_with_its_role_and_the_token_works(api: Api) -> None:
    seen = events(api)
    response = await login(api, "1001", "phone-secret-1001")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["role"] == "operator" and body["user"] == "1001" and body["name"] == "Unit 1"
    expires = datetime.fromisoformat(body["expires"].replace("Z", "+00:00"))
    left = (expires - datetime.now(UTC)).total_seconds()
    assert 29 * 60 < left <= 30 * 60
    token = body["token"]
    assert (await as_token(api, token, "GET", "/api/v1/rooms")).status_code == 200
    # an operator's token: no room creation
    refused = await as_token(api, token, "POST", "/api/v1/rooms", json={"name": "x"})
    assert_error(refused, 403, "forbidden")
    succeeded = [e for e in seen if e.type == "login.succeeded"]
    assert [(e.data["user"], e.data["role"]) for e in succeeded] == [("1001", "operator")]
    assert "phone-secret" not in repr(seen) and token not in repr(seen)


async def test_a_commander_sip_user_gets_the_commanders_rights(api: Api) -> None:
    token = (await login(api, "chief", "chief-secret-0001")).json()["token"]
    created = await as_token(api, token, "POST", "/api/v1/rooms", json={"name": "ops"})
    assert created.status_code == 201, created.text


async def test_a_wrong_password_and_an_unknown_user_get_the_same_401(api: Api) -> None:
    seen = events(api)
    wrong = assert_error(await login(api, "1001", "not-the-password"), 401, "unauthorized")
    unknown = assert_error(await login(api, "nobody", "not-the-password"), 401, "unauthorized")
    assert wrong == unknown
    failed = [e.data for e in seen if e.type == "login.failed"]
    assert [d["user"] for d in failed] == ["1001", "nobody"]
    assert all(d["address"] == "127.0.0.1" for d in failed)
    assert "not-the-password" not in repr(seen)


@pytest.mark.parametrize(
    "body",
    [{}, {"user": "1001"}, {"user": "", "password": "x"}, {"user": "1001", "password": 5},
     {"user": "1001", "password": "x", "role": "admin"}, ["1001", "x"]],
)  # fmt: skip
async def test_malformed_logins_are_422_and_never_echo_the_password(api: Api, body: object) -> None:
    response = await api.http.post(LOGIN, json=body)
    detail = assert_error(response, 422, "invalid-request")
    assert "phone-secret" not in detail


async def test_failed_logins_lock_the_user_out_with_retry_after(api: Api) -> None:
    seen = events(api)
    for _ in range(ATTEMPTS - 1):
        assert_error(await login(api, "1001", "guess"), 401)
    locked = await login(api, "1001", "guess")
    assert_error(locked, 429, "too-many-logins")
    assert int(locked.headers["retry-after"]) == 60
    # Locked: even the right password is refused, and not even checked.
    again = await login(api, "1001", "phone-secret-1001")
    assert_error(again, 429)
    assert 0 < int(again.headers["retry-after"]) <= 60
    assert [e.data["seconds"] for e in seen if e.type == "login.locked"] == [60.0]
    assert not [e for e in seen if e.type == "login.succeeded"]


async def test_the_lockout_ends_and_doubles_the_next_time(api: Api) -> None:
    clock = FakeClock(2_000_000_000.0)
    api.server.logins.sessions.clock = clock.now
    for _ in range(ATTEMPTS):
        await login(api, "chief", "guess")
    clock.advance(61)
    assert (await login(api, "chief", "chief-secret-0001")).status_code == 200
    for _ in range(ATTEMPTS - 1):  # the address's count goes on: its next lockout doubles
        await login(api, "chief", "guess")
    assert (await login(api, "chief", "guess")).headers["retry-after"] == "120"


async def test_a_session_token_expires(api: Api) -> None:
    clock = FakeClock(2_000_000_000.0)
    api.server.logins.sessions.clock = clock.now
    token = (await login(api, "1001", "phone-secret-1001")).json()["token"]
    clock.advance(30 * 60 - 1)
    assert (await as_token(api, token, "GET", "/api/v1/rooms")).status_code == 200
    clock.advance(1)
    assert_error(await as_token(api, token, "GET", "/api/v1/rooms"), 401, "unauthorized")


async def test_logout_ends_the_session_and_only_that_one(api: Api) -> None:
    first = (await login(api, "1001", "phone-secret-1001")).json()["token"]
    second = (await login(api, "1001", "phone-secret-1001")).json()["token"]
    assert (await as_token(api, first, "POST", "/api/v1/logout")).status_code == 204
    assert_error(await as_token(api, first, "GET", "/api/v1/rooms"), 401)
    assert_error(await as_token(api, first, "POST", "/api/v1/logout"), 401)
    assert (await as_token(api, second, "GET", "/api/v1/rooms")).status_code == 200


async def test_machine_tokens_cannot_log_out_and_keep_working(api: Api) -> None:
    assert_error(await api.admin("POST", "/api/v1/logout"), 400, "not-a-session")
    assert (await api.admin("GET", "/api/v1/rooms")).status_code == 200


# -- the guard: only /login is open -----------------------------------------------------------


async def test_only_login_is_served_without_a_token(api: Api) -> None:
    assert (await login(api, "1001", "phone-secret-1001")).status_code == 200
    assert_error(await api.http.post("/api/v1/logout"), 401, "unauthorized")
    assert_error(await api.http.get("/api/v1/accounts"), 401, "unauthorized")
    assert_error(await api.http.get(LOGIN), 405)


async def test_a_login_body_is_limited_to_a_few_kilobytes(api: Api) -> None:
    body = {"user": "1001", "password": "x" * PUBLIC_MAX_BODY}
    assert_error(await api.http.post(LOGIN, json=body), 413, "too-large")


# -- the audit log ----------------------------------------------------------------------------


async def test_logins_are_audited_by_user_without_password_or_token(
    api: Api, tmp_path: Path
) -> None:
    token = (await login(api, "chief", "chief-secret-0001")).json()["token"]
    await login(api, "chief", "wrong-secret-0001")
    entries = (await api.admin("GET", "/api/v1/audit", params={"action": f"POST {LOGIN}"})).json()
    ok, failed = entries[-2:]
    assert (ok["who"], ok["role"], ok["identity"], ok["result"]) == (
        "chief", "commander", "account-chief", 200
    )  # fmt: skip
    assert failed["who"] is None and failed["result"] == 401
    text = (tmp_path / AUDIT_FILE).read_text()
    assert "secret-0001" not in text and token not in text and token[4:] not in text


# -- accounts, managed by admins --------------------------------------------------------------


async def test_admins_add_list_change_and_delete_accounts(api: Api, tmp_path: Path) -> None:
    added = await api.admin(
        "PUT", "/api/v1/accounts/li.na", json={"password": "dispatch-2026", "role": "commander",
                                                "name": "李娜"},
    )  # fmt: skip
    assert added.status_code == 201, added.text
    assert added.json() == {"user": "li.na", "role": "commander", "name": "李娜", "source": "api"}
    listed = (await api.admin("GET", "/api/v1/accounts")).json()
    assert {(a["user"], a["source"]) for a in listed} == {
        ("1001", "config"), ("chief", "config"), ("li.na", "api")
    }  # fmt: skip
    assert all("password" not in account for account in listed)
    assert "dispatch-2026" not in (tmp_path / ACCOUNTS_FILE).read_text()

    session = await login(api, "li.na", "dispatch-2026")
    assert session.json()["role"] == "commander"
    token = session.json()["token"]

    # A change (here the role only; the password stays) ends the account's sessions.
    changed = await api.admin("PUT", "/api/v1/accounts/li.na", json={"role": "reviewer"})
    assert changed.status_code == 200 and changed.json()["role"] == "reviewer"
    assert_error(await as_token(api, token, "GET", "/api/v1/rooms"), 401)
    relogged = await login(api, "li.na", "dispatch-2026")
    assert relogged.json()["role"] == "reviewer"

    assert (await api.admin("DELETE", "/api/v1/accounts/li.na")).status_code == 204
    assert_error(await login(api, "li.na", "dispatch-2026"), 401)
    assert_error(await as_token(api, relogged.json()["token"], "GET", "/api/v1/recordings"), 401)
    assert_error(await api.admin("GET", "/api/v1/accounts/li.na"), 404, "account-not-found")
    assert_error(await api.admin("DELETE", "/api/v1/accounts/li.na"), 404)


async def test_a_new_password_replaces_the_old(api: Api) -> None:
    url = "/api/v1/accounts/wang"
    await api.admin("PUT", url, json={"password": "first-password", "role": "operator"})
    await api.admin("PUT", url, json={"password": "second-password", "role": "operator"})
    assert_error(await login(api, "wang", "first-password"), 401)
    assert (await login(api, "wang", "second-password")).status_code == 200


@pytest.mark.parametrize("role", ["commander", "operator", "expert", "reviewer"])
async def test_only_admins_manage_accounts(api: Api, role: str) -> None:
    body = {"password": "dispatch-2026", "role": "admin"}
    assert_error(await api.as_role(role, "GET", "/api/v1/accounts"), 403, "forbidden")
    assert_error(await api.as_role(role, "PUT", "/api/v1/accounts/me", json=body), 403)
    assert_error(await api.as_role(role, "DELETE", "/api/v1/accounts/1001"), 403)


async def test_a_logged_in_admin_manages_accounts_too(api: Api) -> None:
    await api.admin(
        "PUT", "/api/v1/accounts/root", json={"password": "root-pass-1", "role": "admin"}
    )
    token = (await login(api, "root", "root-pass-1")).json()["token"]
    listed = await as_token(api, token, "GET", "/api/v1/accounts")
    assert listed.status_code == 200 and TOKENS["admin"] not in listed.text


@pytest.mark.parametrize(
    ("user", "body", "status"),
    [
        ("1001", {"password": "dispatch-2026", "role": "admin"}, 409),  # a [[sip.users]] account
        ("new", {"role": "operator"}, 422),  # no password
        ("new", {"password": "short", "role": "operator"}, 422),
        ("new", {"password": "dispatch-2026", "role": "superuser"}, 422),
        ("new", {"password": "dispatch-2026", "role": "metrics"}, 422),
        ("new", {"password": "dispatch-2026", "role": "admin", "extra": 1}, 422),
        ("bad name", {"password": "dispatch-2026", "role": "admin"}, 422),
    ],
)
async def test_bad_account_changes_are_refused_clearly(
    api: Api, user: str, body: dict[str, Any], status: int
) -> None:
    assert_error(await api.admin("PUT", f"/api/v1/accounts/{user}", json=body), status)
    assert_error(await api.admin("DELETE", "/api/v1/accounts/1001"), 409, "configured-account")
    assert (await login(api, "1001", "phone-secret-1001")).json()["role"] == "operator"
