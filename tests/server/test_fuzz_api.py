"""Fuzzing the HTTP API in-process: whatever a client sends, the answer is a well-formed 4xx (or
success), never a 5xx, and the room's clock keeps ticking.

One app, one lifespan and one event loop serve every example of the module: the loop runs only
while an example (or the tick check) runs, which the room clock absorbs by skipping ticks."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bench.sipprun import free_sip_port
from mediacore.server.app import MediaServer, create_app
from mediacore.server.config import Config, RtpSection, ServerSection, SipSettings, TokenEntry

T = TypeVar("T")

TOKEN = "fuzz-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SDP = {"content-type": "application/sdp"}
JSON = {"content-type": "application/json"}
FUZZ = settings(
    max_examples=120,
    deadline=None,
    # keeps_ticking is function-scoped on purpose: once around all examples of a test.
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)

VALID_OFFER_LINES = [
    "v=0",
    "o=- 1 1 IN IP4 127.0.0.1",
    "s=-",
    "c=IN IP4 127.0.0.1",
    "t=0 0",
    "m=audio 40000 RTP/AVP 0 8 9 101",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:9 G722/8000",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-15",
    "a=ptime:20",
    "a=sendrecv",
]
# Lines that are plausible in an offer, some of them wrong, for structured mutations.
SDP_FRAGMENTS = [
    "m=audio 0 RTP/AVP 0",
    "m=audio 65535 RTP/AVP 0",
    "m=audio 40000 RTP/AVP 96",
    "m=audio 40000/2 RTP/AVP 0",
    "m=audio 40000 RTP/SAVPF 111",
    "m=audio 40000 UDP/TLS/RTP/SAVPF 111",
    "m=video 40002 RTP/AVP 96",
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
    "a=rtpmap:96 opus/48000/2",
    "a=rtpmap:111 opus/48000/2",
    "a=rtpmap:96 L16/8000",
    "a=rtpmap:0 PCMU/16000",
    "a=rtpmap:101 telephone-event/48000",
    "a=fmtp:96 minptime=10;useinbandfec=1",
    "a=ptime:7",
    "a=ptime:0",
    "a=ptime:20.5",
    "a=ptime:100000",
    "a=maxptime:10",
    "a=rtcp:40001",
    "a=rtcp:40001 IN IP4 127.0.0.2",
    "a=rtcp:70000",
    "a=rtcp-mux",
    "a=sendonly",
    "a=recvonly",
    "a=inactive",
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "a=extmap:15/sendrecv urn:x",
    "c=IN IP4 0.0.0.0",
    "c=IN IP4 224.0.0.1/127",
    "c=IN IP6 ::1",
    "c=IN IP6 ::ffff:127.0.0.1",
    "c=IN IP4 256.1.1.1",
    "c=IN IP4 example.com",
    "c=IN IP4 127.0.0.1/3/2",
    "b=AS:64",
    "t=1 2",
    "v=0",
    "o=- 18446744073709551616 1 IN IP4 127.0.0.1",
    "a=",
    "x=unknown",
    "",
]


def _mutated_offer(data: st.DataObject) -> bytes:
    lines = list(VALID_OFFER_LINES)
    for _ in range(data.draw(st.integers(0, 4), label="mutations")):
        kind = data.draw(st.sampled_from(["insert", "replace", "delete", "text"]))
        position = data.draw(st.integers(0, len(lines)))
        if kind == "delete" and lines:
            del lines[min(position, len(lines) - 1)]
            continue
        if kind == "text":
            line = data.draw(st.text(max_size=60), label="line")
        else:
            line = data.draw(st.sampled_from(SDP_FRAGMENTS), label="line")
        if kind == "replace" and lines:
            lines[min(position, len(lines) - 1)] = line
        else:
            lines.insert(position, line)
    ending = data.draw(st.sampled_from(["\r\n", "\n", "\r"]), label="ending")
    return ending.join(lines).encode("utf-8", "surrogatepass") + ending.encode()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=80),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def _room_values() -> dict[str, st.SearchStrategy[Any]]:
    number = st.integers(-(2**40), 2**40) | st.floats(allow_nan=True, allow_infinity=True)
    return {
        "name": st.from_regex(r"[A-Za-z0-9._\-]{1,70}", fullmatch=True) | st.text(max_size=70),
        "ptime": st.sampled_from([10, 20, 30, 0, -20, "20", 20.0, 20.5]) | number,
        "rate": st.sampled_from([8000, 16000, 24000, 48000, 44100, "48000"]) | number,
        "floor": st.sampled_from(["deny", "queue", "grab", ""]) | json_values,
        "max_talkers": st.integers(-2, 40) | json_values,
        "talk_on_dbfs": number | json_values,
        "talk_off_dbfs": number | json_values,
        "talk_hang_ms": st.integers(-10, 20000) | json_values,
    }


room_bodies = (
    st.fixed_dictionaries({}, optional=_room_values())
    | st.dictionaries(st.sampled_from([*_room_values(), "extra"]), json_values, max_size=5)
    | json_values
)

participant_bodies = (
    st.fixed_dictionaries(
        {},
        optional={
            "muted": st.booleans() | json_values,
            "deaf": st.booleans() | json_values,
            "priority": st.integers(-2, 10) | json_values,
            "gain_db": st.floats(allow_nan=True, allow_infinity=True) | json_values,
            "duplex": st.sampled_from(["full", "half", "simplex"]) | json_values,
            "name": st.text(max_size=140) | json_values,
        },
    )
    | st.dictionaries(st.text(max_size=10), json_values, max_size=4)
    | json_values
)

query_values = st.text(max_size=140) | st.sampled_from(
    ["full", "half", "0", "3", "4", "-1", "ed137", "vox", "", "1e3", "0x1"]
)
leg_queries = st.dictionaries(
    st.sampled_from(["name", "duplex", "priority", "radio", "token", "x"]) | st.text(max_size=8),
    query_values,
    max_size=4,
)


def _json_body(value: Any) -> bytes:
    """JSON as a lenient client writes it: NaN and Infinity included (Python's json does)."""
    return json.dumps(value, allow_nan=True).encode()


class Harness:
    """The app, its lifespan and a client on a private event loop, for synchronous tests."""

    def __init__(self, data_dir: Path) -> None:
        config = Config(
            server=ServerSection(host="127.0.0.1", data_dir=str(data_dir)),
            rtp=RtpSection(port_min=42000, port_max=42999),
            sip=SipSettings(port=free_sip_port()),  # not 5060: another test may have it
            tokens=(TokenEntry(TOKEN, "admin", "fuzzer"),),
        )
        self.server = MediaServer(config)
        self.app = create_app(self.server)
        self.loop = asyncio.new_event_loop()
        self._lifespan = self.app.router.lifespan_context(self.app)
        self.run(self._lifespan.__aenter__())
        transport = httpx.ASGITransport(app=self.app)
        self.http = httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1", headers=AUTH
        )

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self.run(self.http.request(method, url, **kwargs))

    def ticks(self, room: str = "command") -> int:
        response = self.request("GET", f"/api/v1/rooms/{room}")
        assert response.status_code == 200, response.text
        return int(response.json()["clock"]["ticks"])

    def assert_still_ticking(self, before: int) -> None:
        self.run(asyncio.sleep(0.12))
        assert self.ticks() > before, "the room clock stopped"

    def close(self) -> None:
        self.run(self.http.aclose())
        self.run(self._lifespan.__aexit__(None, None, None))
        self.loop.close()


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    started = Harness(tmp_path_factory.mktemp("fuzz-api"))
    yield started
    started.close()


@pytest.fixture(autouse=True)
def keeps_ticking(harness: Harness) -> Iterator[None]:
    """Around each test (all its examples): the room clock still advances afterwards."""
    before = harness.ticks()
    yield
    harness.assert_still_ticking(before)


def assert_well_formed(response: httpx.Response) -> None:
    """No 5xx (but 501 for the radio legs still to come); 4xx in the contract's error shape."""
    status = response.status_code
    event(f"status {status}")
    if status == 501:
        assert response.json()["error"] == "not-implemented", response.text
    else:
        assert status < 500, f"{status}: {response.text}"
    if status >= 400:
        assert response.headers["content-type"].startswith("application/json"), response.headers
        body = response.json()
        assert isinstance(body, dict) and set(body) == {"error", "detail"}, body
        assert isinstance(body["error"], str) and body["error"], body
        assert isinstance(body["detail"], str), body
        event(f"error {body['error']}")


def assert_no_nan(value: Any) -> None:
    if isinstance(value, float):
        assert math.isfinite(value), value
    elif isinstance(value, dict):
        for item in value.values():
            assert_no_nan(item)
    elif isinstance(value, list):
        for item in value:
            assert_no_nan(item)


def check_leg_answer(harness: Harness, response: httpx.Response) -> None:
    """A 201 is a real answer whose Location reads back; the leg is then removed again."""
    assert_well_formed(response)
    if response.status_code != 201:
        return
    assert response.headers["content-type"].startswith("application/sdp")
    assert response.text.startswith("v=0\r\n")
    location = response.headers["location"]
    participant = harness.request("GET", location)
    assert participant.status_code == 200, participant.text
    assert harness.request("DELETE", location).status_code == 204


# -- the RTP leg endpoint ---------------------------------------------------------------------


@FUZZ
@given(body=st.binary(max_size=3000))
def test_arbitrary_bytes_as_an_offer_never_give_a_server_error(
    harness: Harness, body: bytes
) -> None:
    response = harness.request("POST", "/api/v1/rooms/command/rtp", content=body, headers=SDP)
    check_leg_answer(harness, response)


@FUZZ
@given(data=st.data())
def test_mutated_offers_never_give_a_server_error(harness: Harness, data: st.DataObject) -> None:
    body = _mutated_offer(data)
    response = harness.request("POST", "/api/v1/rooms/command/rtp", content=body, headers=SDP)
    check_leg_answer(harness, response)


@FUZZ
@given(
    query=leg_queries,
    raw=st.text(max_size=80),
    content_type=st.sampled_from(["application/sdp", "text/plain", "", "application/sdp;x=1"])
    | st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
    room=st.sampled_from(["command", "nope"]) | st.text(min_size=1, max_size=20),
)
def test_arbitrary_query_strings_and_content_types_never_give_a_server_error(
    harness: Harness, query: dict[str, str], raw: str, content_type: str, room: str
) -> None:
    encoded = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query.items())
    if raw:
        encoded = f"{encoded}&{quote(raw, safe='=&')}" if encoded else quote(raw, safe="=&")
    url = f"/api/v1/rooms/{quote(room, safe='')}/rtp?{encoded}"
    body = "\r\n".join(VALID_OFFER_LINES) + "\r\n"
    headers = {"content-type": content_type} if content_type else {}
    response = harness.request("POST", url, content=body, headers=headers)
    check_leg_answer(harness, response)


# -- JSON endpoints ---------------------------------------------------------------------------


@FUZZ
@given(body=room_bodies)
def test_arbitrary_json_for_room_creation_never_gives_a_server_error(
    harness: Harness, body: Any
) -> None:
    response = harness.request("POST", "/api/v1/rooms", content=_json_body(body), headers=JSON)
    assert_well_formed(response)
    if response.status_code == 201:
        created = response.json()
        assert response.headers["location"] == f"/api/v1/rooms/{created['name']}"
        assert harness.request("DELETE", response.headers["location"]).status_code == 204
    assert set(harness.server.directory.rooms) >= {"command"}


@FUZZ
@given(body=st.binary(max_size=300))
def test_arbitrary_bytes_for_room_creation_never_give_a_server_error(
    harness: Harness, body: bytes
) -> None:
    response = harness.request("POST", "/api/v1/rooms", content=body, headers=JSON)
    assert_well_formed(response)
    if response.status_code == 201:
        assert harness.request("DELETE", response.headers["location"]).status_code == 204


@pytest.fixture(scope="module")
def participant(harness: Harness) -> str:
    body = "\r\n".join(VALID_OFFER_LINES) + "\r\n"
    response = harness.request("POST", "/api/v1/rooms/command/rtp", content=body, headers=SDP)
    assert response.status_code == 201, response.text
    return response.headers["location"]


@FUZZ
@given(body=participant_bodies)
def test_arbitrary_json_for_participant_patch_never_gives_a_server_error(
    harness: Harness, participant: str, body: Any
) -> None:
    response = harness.request("PATCH", participant, content=_json_body(body), headers=JSON)
    assert_well_formed(response)
    if response.status_code == 200:
        entry = response.json()
        assert 0 <= entry["priority"] <= 3
        assert entry["duplex"] in ("full", "half")
        assert -40 <= entry["gain_db"] <= 20
        assert isinstance(entry["muted"], bool) and isinstance(entry["deaf"], bool)
    again = harness.request("GET", participant)
    assert again.status_code == 200
    assert_no_nan(again.json())


@pytest.fixture(scope="module")
def patch_room(harness: Harness) -> str:
    response = harness.request("POST", "/api/v1/rooms", json={"name": "fuzz-patch"})
    assert response.status_code == 201, response.text
    return response.headers["location"]


@FUZZ
@given(body=room_bodies)
def test_arbitrary_json_for_room_patch_never_gives_a_server_error(
    harness: Harness, patch_room: str, body: Any
) -> None:
    response = harness.request("PATCH", patch_room, content=_json_body(body), headers=JSON)
    assert_well_formed(response)
    settings_now = harness.request("GET", patch_room).json()
    assert (settings_now["name"], settings_now["ptime"], settings_now["rate"]) == (
        "fuzz-patch",
        20,
        48000,
    )


# -- the clock survived -----------------------------------------------------------------------


def test_room_clock_is_still_ticking_after_the_fuzzing(harness: Harness) -> None:
    """Runs last in this module: every example above shared this room and its clock."""
    before = harness.ticks()
    harness.assert_still_ticking(before)
    room = harness.server.directory.rooms["command"]
    assert room.clock.ticks > 0
    health = harness.request("GET", "/api/v1/health")
    assert health.status_code == 200 and health.json() == {"status": "ok"}


# -- wall bodies the route reads itself -----------------------------------------------------


@pytest.mark.parametrize(
    "body,error",
    [
        ("[" * 100_000, "bad-json"),  # json.loads raised RecursionError: a 500
        (
            '{"canvas": {"width": 1920, "height": 1080}, "layout": {"kind": "grid"}, "x": NaN}',
            "bad-wall",
        ),  # kept, then unsendable: PUT and every GET answered 500
        (
            '{"canvas": {"width": 1920, "height": 1080}, "layout": {"kind": "grid"}, '
            '"room": "\\ud800"}',
            "bad-wall",
        ),
    ],
    ids=["nested", "nan", "surrogate"],
)
def test_a_wall_body_that_cannot_be_read_or_sent_back_is_a_400(
    harness: Harness, body: str, error: str
) -> None:
    response = harness.request("PUT", "/api/v1/walls/fuzzed", content=body, headers=JSON)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error
    assert harness.request("GET", "/api/v1/walls").status_code == 200
