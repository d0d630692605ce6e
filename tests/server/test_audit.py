"""The audit log over HTTP: every control action is entered with who, role, address, what and
the result (refusals too), only admins read it, searches filter and page, each entry is signed
and chained, and a recording's export of its audit holds its room's actions over its time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mediacore.chainedlog import entry_signed
from mediacore.server.auditlog import AUDIT_FILE
from mediacore.signing import PublicKey
from tests.server.test_api import Api, assert_error, make_config, running


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running(make_config(tmp_path)) as started:
        yield started


async def audit(api: Api, **query: object) -> list[dict[str, object]]:
    response = await api.admin("GET", "/api/v1/audit", params=query)
    assert response.status_code == 200, response.text
    return list(response.json())


async def test_a_room_created_and_a_refused_action_are_on_record(api: Api) -> None:
    created = await api.admin("POST", "/api/v1/rooms", json={"name": "ops"})
    assert created.status_code == 201, created.text
    refused = await api.as_role("expert", "DELETE", "/api/v1/rooms/ops")
    assert_error(refused, 403)
    anonymous = await api.as_role(None, "POST", "/api/v1/rooms", json={"name": "x"})
    assert_error(anonymous, 401)
    entries = await audit(api)
    made, denied, unknown = entries[-3:]
    assert {k: made[k] for k in ("who", "role", "address", "action", "room", "result")} == {
        "who": "admin user", "role": "admin", "address": "127.0.0.1",
        "action": "POST /api/v1/rooms", "room": "ops", "result": 201,
    }  # fmt: skip
    assert denied["who"] == "expert user" and denied["result"] == 403
    assert denied["action"] == "DELETE /api/v1/rooms/{room}" and denied["room"] == "ops"
    assert unknown["who"] is None and unknown["result"] == 401
    assert [entry["seq"] for entry in entries] == list(range(1, len(entries) + 1))


async def test_only_admins_read_the_audit(api: Api) -> None:
    for role in ("commander", "operator", "expert", "reviewer"):
        assert_error(await api.as_role(role, "GET", "/api/v1/audit"), 403, "forbidden")
        assert_error(await api.as_role(role, "GET", "/api/v1/audit/verify"), 403)
    assert_error(await api.as_role(None, "GET", "/api/v1/audit"), 401)


async def test_reads_are_not_control_actions(api: Api) -> None:
    before = len(await audit(api))
    await api.admin("GET", "/api/v1/rooms")
    assert len(await audit(api)) == before


async def test_search_filters_and_pages(api: Api) -> None:
    for name in ("a1", "a2", "a3"):
        await api.admin("POST", "/api/v1/rooms", json={"name": name})
    await api.as_role("commander", "PATCH", "/api/v1/rooms/a2", json={"floor": "queue"})
    assert [e["room"] for e in await audit(api, action="POST /api/v1/rooms")] == ["a1", "a2", "a3"]
    assert [e["action"] for e in await audit(api, room="a2")] == [
        "POST /api/v1/rooms", "PATCH /api/v1/rooms/{room}",
    ]  # fmt: skip
    assert [e["room"] for e in await audit(api, who="commander user")] == ["a2"]
    paged = await audit(api, action="POST /api/v1/rooms", limit=1, offset=1)
    assert [e["room"] for e in paged] == ["a2"]
    first = (await audit(api))[0]
    assert await audit(api, since="2999-01-01T00:00:00Z") == []
    assert (await audit(api, until=first["at"]))[0]["seq"] == first["seq"]


async def test_entries_are_signed_chained_and_an_edited_line_is_found(
    api: Api, tmp_path: Path
) -> None:
    await api.admin("POST", "/api/v1/rooms", json={"name": "ops"})
    await api.admin("DELETE", "/api/v1/rooms/ops")
    verified = (await api.admin("GET", "/api/v1/audit/verify")).json()
    assert verified["ok"] and verified["entries"] >= 2
    pem = (await api.as_role("reviewer", "GET", "/api/v1/recordings/public-key")).json()["pem"]
    public = PublicKey.from_pem(pem.encode())
    assert all(entry_signed(entry, public) for entry in await audit(api))
    path = tmp_path / AUDIT_FILE
    lines = path.read_text().splitlines(keepends=True)
    entry = json.loads(lines[0])
    entry["who"] = "someone else"
    lines[0] = json.dumps(entry) + "\n"
    path.write_text("".join(lines))
    broken = (await api.admin("GET", "/api/v1/audit/verify")).json()
    assert not broken["ok"] and broken["problems"][0] == {
        "line": 1, "problem": "hash", "detail": "the entry's content does not match its hash",
    }  # fmt: skip


async def test_a_recordings_audit_holds_its_rooms_actions_over_its_time(api: Api) -> None:
    await api.admin("POST", "/api/v1/rooms", json={"name": "other"})
    started = await api.as_role("commander", "POST", "/api/v1/rooms/command/recordings")
    recording = started.json()["id"]
    await api.as_role("commander", "PATCH", "/api/v1/rooms/command", json={"floor": "queue"})
    await api.admin("PATCH", "/api/v1/rooms/other", json={"floor": "queue"})
    await asyncio.sleep(0.2)
    await api.as_role("commander", "POST", f"/api/v1/recordings/{recording}/stop")
    await api.admin("PATCH", f"/api/v1/recordings/{recording}", json={"legal_hold": True})
    response = await api.as_role("reviewer", "GET", f"/api/v1/recordings/{recording}/audit")
    assert response.status_code == 200, response.text
    said = [(e["action"], e["room"], e["result"]) for e in response.json()]
    assert said == [
        ("POST /api/v1/rooms/{room}/recordings", "command", 201),
        ("PATCH /api/v1/rooms/{room}", "command", 200),
        ("POST /api/v1/recordings/{recording_id}/stop", "command", 200),
        ("PATCH /api/v1/recordings/{recording_id}", "command", 200),
    ]
    assert response.json()[0]["targets"] == {"id": recording}


async def test_a_flood_of_anonymous_refusals_is_counted_not_written_line_by_line(
    tmp_path: Path,
) -> None:
    from mediacore.server.auditlog import ANONYMOUS_PER_SECOND, AuditLog, AuditQuery
    from mediacore.signing import SigningKey

    now = [100.0]
    log = AuditLog(tmp_path, SigningKey.load_or_create(tmp_path / "k.key"), clock=lambda: now[0])
    try:
        for n in range(500):
            log.record({"action": "POST /api/v1/rooms", "result": 401, "n": n}, anonymous=True)
        now[0] += 1.0
        log.record({"action": "POST /api/v1/rooms", "who": "admin user", "result": 201})
        entries = await log.search(AuditQuery(limit=1000))
    finally:
        log.close()
    assert len(entries) == ANONYMOUS_PER_SECOND + 2
    note, kept = entries[-2:]
    assert note["action"] == "audit.suppressed" and note["count"] == 500 - ANONYMOUS_PER_SECOND
    assert kept["who"] == "admin user"
    again = AuditLog(tmp_path, log.key)  # as after a restart
    report = await again.verify()
    again.close()
    assert report.ok and len(report.entries) == ANONYMOUS_PER_SECOND + 2
