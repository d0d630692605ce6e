"""Plans over the API in-process (the single-process mode): groups defined in the config and
over the API (kept on disk), who may edit and dial them, bad members and bad requests, and a
group dial whose members cannot be reached, followed through its events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mediacore.events import Event
from mediacore.server.config import ConfigError, load_config
from mediacore.server.groups import Group, Groups
from mediacore.server.parties import PartyBook
from radio.gateways import RadioGateway
from sip.settings import SipTrunk, SipUser
from tests.server.test_api import Api, assert_error, make_config, running

GROUPS = "/api/v1/groups"
DIAL = "/api/v1/rooms/command/dial"
USERS = (SipUser("alice", "alice-pw", "operator"), SipUser("1001", "x-pw", "operator"))
TRUNK = SipTrunk("carrier", "sip:127.0.0.1:9", domain="carrier.example")
# Its room does not exist: the gateway keeper leaves it alone.
GATEWAY = RadioGateway("tower", "sip:tower@127.0.0.1:9", "elsewhere")
CONFIGURED = Group("flood", ("alice", "radio:tower"), retries=0, source="config")


def config(data_dir: Path, *, trunks: tuple[SipTrunk, ...] = (TRUNK,)) -> Any:
    base = make_config(data_dir)
    sip = replace(base.sip, users=USERS, trunks=trunks)
    return replace(base, sip=sip, radio_gateways=(GATEWAY,), dispatch_groups=(CONFIGURED,))


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running(config(tmp_path / "data")) as started:
        yield started


async def put(api: Api, name: str, body: dict[str, Any], role: str = "commander") -> Any:
    return await api.as_role(role, "PUT", f"{GROUPS}/{name}", json=body)


async def test_groups_are_created_replaced_listed_deleted_and_kept_on_disk(
    api: Api, tmp_path: Path
) -> None:
    members = ["alice", "1001", "+8613800000000", "sip:duty@192.0.2.7", "radio:tower"]
    created = await put(api, "防汛一级", {"members": members, "retries": 1, "retry_delay_s": 2})
    assert created.status_code == 201, created.text
    assert created.json() == {
        "name": "防汛一级",
        "members": members,
        "retries": 1,
        "retry_delay_s": 2.0,
        "ring_timeout_s": None,
        "source": "api",
    }
    replaced = await put(api, "防汛一级", {"members": ["alice"], "ring_timeout_s": 15})
    assert replaced.status_code == 200 and replaced.json()["ring_timeout_s"] == 15.0
    listed = (await api.as_role("operator", "GET", GROUPS)).json()
    assert [(g["name"], g["source"]) for g in listed] == [("flood", "config"), ("防汛一级", "api")]
    one = await api.as_role("operator", "GET", f"{GROUPS}/flood")
    assert one.json()["members"] == ["alice", "radio:tower"]

    book = PartyBook.of(api.server.config.sip, api.server.config.radio_gateways)
    again = Groups(tmp_path / "data", (), book)  # what a restarted server reads
    assert [g.to_json() for g in again.all()] == [replaced.json()]

    deleted = await api.as_role("admin", "DELETE", f"{GROUPS}/防汛一级")
    assert deleted.status_code == 204
    assert_error(await api.as_role("admin", "DELETE", f"{GROUPS}/防汛一级"), 404, "group-not-found")
    assert_error(await api.as_role("admin", "GET", f"{GROUPS}/nope"), 404, "group-not-found")
    assert Groups(tmp_path / "data", (), book).all() == []


async def test_configured_groups_are_read_only_over_the_api(api: Api) -> None:
    assert_error(await put(api, "flood", {"members": ["alice"]}), 409, "configured-group")
    refused = await api.as_role("admin", "DELETE", f"{GROUPS}/flood")
    assert_error(refused, 409, "configured-group")


@pytest.mark.parametrize(
    ("members", "says"),
    [
        (["bob"], "no [[sip.users]] account named 'bob'"),
        (["radio:nowhere"], "no [[radio.gateways]] entry named 'nowhere'"),
        (["sip:"], "sip:"),
        (["alice", "alice"], "listed twice"),
        ([], "1-200 parties"),
        (["mailto:x@y"], "none of"),
        (["x" * 300], "1-256 characters"),
    ],
)
async def test_bad_members_are_400_naming_the_member(
    api: Api, members: list[str], says: str
) -> None:
    detail = assert_error(await put(api, "plan", {"members": members}), 400, "bad-members")
    assert says in detail


async def test_a_number_needs_a_trunk(tmp_path: Path) -> None:
    async with running(config(tmp_path / "data", trunks=())) as api:
        detail = assert_error(await put(api, "plan", {"members": ["110"]}), 400, "bad-members")
        assert "[[sip.trunks]]" in detail


async def test_bad_group_settings_and_names_are_400(api: Api) -> None:
    members = ["alice"]
    too_many = {"members": members, "retries": 11}
    assert_error(await put(api, "plan", too_many), 400, "bad-group")
    assert_error(await put(api, "plan", {"members": members, "ring_timeout_s": 0}), 400)
    assert_error(await put(api, "plan", {"members": members, "retry_delay_s": -1}), 400)
    assert_error(await put(api, "-plan", {"members": members}), 400, "bad-group-name")
    assert_error(await put(api, "plan", {"members": members, "colour": "red"}), 422)
    assert_error(await put(api, "plan", {"members": "alice"}), 422)


async def test_admins_and_commanders_edit_groups_operators_dial_them(api: Api) -> None:
    body = {"members": ["alice"]}
    assert_error(await put(api, "plan", body, role="operator"), 403, "forbidden")
    assert_error(await put(api, "plan", body, role="expert"), 403, "forbidden")
    assert_error(await put(api, "plan", body, role=None), 401)
    assert (await put(api, "plan", body, role="admin")).status_code == 201
    assert_error(await api.as_role("expert", "GET", GROUPS), 403, "forbidden")
    assert_error(await api.as_role("reviewer", "GET", f"{GROUPS}/plan"), 403)
    refused = await api.as_role("expert", "POST", DIAL, json={"group": "plan"})
    assert_error(refused, 403, "forbidden")
    assert_error(await api.as_role("operator", "DELETE", f"{GROUPS}/plan"), 403)


async def test_dial_requests_that_name_no_group_or_room_or_both_forms_are_refused(
    api: Api,
) -> None:
    missing = await api.as_role("operator", "POST", DIAL, json={"group": "nope"})
    assert_error(missing, 404, "group-not-found")
    nowhere = await api.admin("POST", "/api/v1/rooms/nope/dial", json={"group": "flood"})
    assert_error(nowhere, 404, "room-not-found")
    both = {"group": "flood", "uri": "sip:alice@127.0.0.1"}
    assert_error(await api.admin("POST", DIAL, json=both), 400, "bad-dial")
    assert_error(await api.admin("POST", DIAL, json={}), 400, "bad-dial")
    named = {"group": "flood", "trunk": "carrier"}
    assert_error(await api.admin("POST", DIAL, json=named), 400, "bad-dial")
    # video (a cascade to another MCU) goes with a uri, and never to a radio gateway
    for video in (
        {"group": "flood", "video": True},
        {"uri": "sip:r@h", "radio": "rx", "video": True},
    ):
        assert_error(await api.admin("POST", DIAL, json=video), 400, "bad-dial")
    typed = {"uri": "sip:alice@127.0.0.1", "video": "yes please"}
    assert_error(await api.admin("POST", DIAL, json=typed), 422, "invalid-request")
    assert_error(await api.admin("GET", "/api/v1/rooms/command/dials/dj-nope"), 404)
    assert_error(await api.admin("DELETE", "/api/v1/rooms/command/dials/dj-nope"), 404)


async def test_a_group_dial_of_unreachable_members_reports_each_and_finishes(api: Api) -> None:
    events: list[Event] = []
    api.server.bus.listen(events.append)
    body = {"members": ["alice", "1001"], "retries": 1, "retry_delay_s": 0.1}
    assert (await put(api, "nobody-home", body)).status_code == 201
    response = await api.as_role("operator", "POST", DIAL, json={"group": "nobody-home"})
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["group"] == "nobody-home" and job["state"] == "running"
    assert [(m["party"], m["state"]) for m in job["members"]] == [
        ("alice", "dialling"),
        ("1001", "dialling"),
    ]
    for _ in range(200):
        if any(e.type == "dial.finished" for e in events):
            break
        await asyncio.sleep(0.02)
    progress = [e for e in events if e.type == "dial.progress" and e.data["party"] == "alice"]
    assert [(e.data["state"], e.data["attempt"]) for e in progress] == [
        ("dialling", 1),
        ("failed", 1),
        ("retrying", 1),
        ("dialling", 2),
        ("failed", 2),
    ]
    assert progress[-1].data["reason"] == "not-registered" and progress[-1].room == "command"
    state = (await api.as_role("expert", "GET", f"/api/v1/rooms/command/dials/{job['id']}")).json()
    assert state["state"] == "finished" and state["summary"] == {"failed": 2}
    listed = (await api.as_role("expert", "GET", "/api/v1/rooms/command/dials")).json()
    assert [entry["id"] for entry in listed] == [job["id"]]
    assert (await api.admin("GET", "/api/v1/rooms/command/participants")).json() == []


def test_config_groups_are_checked_when_the_config_is_read(tmp_path: Path) -> None:
    path = tmp_path / "mediacore.toml"
    path.write_text(
        '[[sip.users]]\nuser = "alice"\npassword = "alice-pw"\nrole = "operator"\n'
        '[[dispatch.groups]]\nname = "a"\nmembers = ["alice", "sip:x@192.0.2.1"]\n'
        "retries = 3\nretry_delay_s = 5\nring_timeout_s = 20\n"
    )
    (group,) = load_config(path, environ={}).dispatch_groups
    assert group == Group("a", ("alice", "sip:x@192.0.2.1"), 3, 5.0, 20.0, "config")
    path.write_text('[[dispatch.groups]]\nname = "a"\nmembers = ["bob"]\n')
    with pytest.raises(ConfigError, match="bob"):
        load_config(path, environ={})
    path.write_text('[dispatch]\ncolour = "red"\n')
    with pytest.raises(ConfigError, match="colour"):
        load_config(path, environ={})
