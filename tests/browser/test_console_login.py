"""Logging in through the console's form in real Chromium: a `[[sip.users]]` account types its
name and password, gets its rooms and its role shown, and logs out (the server then refuses
its token); a wrong password is explained; the review page logs in the same way."""

from __future__ import annotations

import httpx
import pytest

from tests.browser.conftest import Chromium
from tests.e2e.server import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

SERVER_CONFIG = """
[[sip.users]]
user = "3001"
password = "phone-secret-3001"
role = "operator"
name = "Unit 3001"
"""
ONLINE = "document.querySelector('#status').textContent.includes('online')"


async def test_a_sip_user_logs_in_and_out_through_the_console_form(
    chromium: Chromium, server: ServerProcess, room: str
) -> None:
    page = await chromium.page()
    await page.goto(f"{server.url}/console/")
    await page.fill("#user", "3001")
    await page.fill("#password", "phone-secret-3001")
    await page.press("#password", "Enter")
    await page.wait_for_function(ONLINE)
    await page.locator("#rooms li", has_text=room).wait_for()
    assert await page.text_content("#who") == "Unit 3001 · operator"
    assert await page.input_value("#password") == ""  # not kept in the page
    token = await page.evaluate("sessionStorage.getItem('mediacore-token')")
    assert token.startswith("ms1.")
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{server.url}/api/v1/rooms", headers=headers).status_code == 200

    await page.click("#logout")
    await page.wait_for_function(
        "document.querySelector('#status').textContent.includes('offline')"
    )
    assert await page.locator("#logout").is_hidden()
    assert await page.evaluate("sessionStorage.getItem('mediacore-token')") is None
    assert httpx.get(f"{server.url}/api/v1/rooms", headers=headers).status_code == 401


async def test_a_wrong_password_is_explained_and_logs_nobody_in(
    chromium: Chromium, server: ServerProcess
) -> None:
    page = await chromium.page()
    await page.goto(f"{server.url}/console/")
    await page.fill("#user", "3001")
    await page.fill("#password", "not-my-password")
    await page.click("#login")
    await page.wait_for_function(
        "document.querySelector('#banner').textContent.includes('Login failed')"
    )
    assert "wrong password" in (await page.text_content("#banner") or "")
    assert "offline" in (await page.text_content("#status") or "")


async def test_the_review_page_logs_in_with_a_password_too(
    chromium: Chromium, server: ServerProcess
) -> None:
    added = server.client.put(
        "/api/v1/accounts/reviewer1", json={"password": "review-pass-1", "role": "reviewer"}
    )
    assert added.status_code == 201, added.text
    page = await chromium.page()
    await page.goto(f"{server.url}/review")
    await page.fill("#user", "reviewer1")
    await page.fill("#password", "review-pass-1")
    async with page.expect_response(lambda r: "/api/v1/recordings" in r.url) as searched:
        await page.click("#login")
    assert (await searched.value).status == 200
    assert (await page.input_value("#token")).startswith("ms1.")
