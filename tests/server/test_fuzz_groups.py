"""Fuzzing the plans API in-process: whatever group body or name a client sends, and whatever
a group dial asks for, the answer is a well-formed 4xx (or success), never a 5xx."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from tests.server.test_fuzz_api import (  # noqa: F401  (fixtures used by name)
    FUZZ,
    JSON,
    Harness,
    _json_body,
    assert_well_formed,
    harness,
    json_values,
    keeps_ticking,
)

members = st.lists(
    st.sampled_from(["sip:duty@192.0.2.7", "tel:110", "radio:x", "110", "alice", "sip:"])
    | st.text(max_size=40)
    | json_values,
    max_size=5,
)
group_bodies = (
    st.fixed_dictionaries(
        {"members": members},
        optional={
            "retries": st.integers(-2, 20) | json_values,
            "retry_delay_s": st.floats(allow_nan=True, allow_infinity=True) | json_values,
            "ring_timeout_s": st.floats(allow_nan=True, allow_infinity=True) | json_values,
            "extra": json_values,
        },
    )
    | json_values
)


@FUZZ
@given(name=st.text(min_size=1, max_size=80), body=group_bodies)
def test_arbitrary_groups_never_give_a_server_error(
    harness: Harness,  # noqa: F811
    name: str,
    body: Any,
) -> None:
    url = f"/api/v1/groups/{quote(name, safe='')}"
    response = harness.request("PUT", url, content=_json_body(body), headers=JSON)
    assert_well_formed(response)
    if response.status_code in (200, 201):
        assert harness.request("GET", url).json() == response.json()
        assert harness.request("DELETE", url).status_code == 204


@FUZZ
@given(body=st.dictionaries(st.sampled_from(["group", "uri", "name", "trunk"]), json_values))
def test_arbitrary_group_dials_never_give_a_server_error(
    harness: Harness,  # noqa: F811
    body: dict[str, Any],
) -> None:
    if isinstance(body.get("uri"), str):
        body["uri"] = "not a uri"  # never make the server call anyone
    response = harness.request(
        "POST", "/api/v1/rooms/command/dial", content=_json_body(body), headers=JSON
    )
    assert_well_formed(response)
    assert response.status_code != 202
