"""REFER, Replaces and hold byte by byte against a running server: what it refuses, and with
which status (RFC 3515 §2.4.2, RFC 3891 §6.1), and the three ways a re-INVITE holds (RFC 3264
§8.4, RFC 2543's c=0.0.0.0). Transfers that work are in tests/interop/test_transfer_hold.py."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from sip.digest import Challenge, answer_challenge
from sip.message import Response
from tests.e2e.server import ServerProcess
from tests.e2e.sipclient import SipClient

pytestmark = pytest.mark.slow

SERVER_CONFIG = """
[[sip.users]]
user = "alice"
password = "alice-secret"
role = "operator"
"""
SERVER_ENV = {"MEDIACORE_RTP_TIMEOUT": "30"}
SDP_OFFER = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


class Dialog:
    """One call of the bare client into a room, as alice: its Call-ID, tags and CSeq."""

    def __init__(self, client: SipClient, room: str) -> None:
        self.client = client
        self.uri = f"sip:{room}@127.0.0.1:{client.server.sip_port}"
        self.call_id = f"refer-{time.monotonic_ns()}"
        self.from_tag = f"alice{time.monotonic_ns()}"
        self.cseq = 1
        self.invite_via = ""
        challenge = self.send("INVITE", body=SDP_OFFER, headers={"Content-Type": "application/sdp"})
        assert challenge is not None and challenge.status == 401
        offered = Challenge.parse(challenge.headers.get_all("WWW-Authenticate")[0])
        self.ack(challenge)
        credentials = answer_challenge(
            offered, username="alice", password="alice-secret", method="INVITE", uri=self.uri
        )
        ok = self.send(
            "INVITE",
            body=SDP_OFFER,
            headers={"Content-Type": "application/sdp",
                     "Authorization": credentials.header_value()},
        )  # fmt: skip
        assert ok is not None and ok.status == 200, ok
        self.to_tag = ok.to.tag or ""
        self.ack(ok)

    def text(self, method: str, *, to_tag: str = "", **options: object) -> str:
        message = self.client.request(
            method, self.uri, call_id=self.call_id, cseq=self.cseq, to_tag=to_tag, **options
        )  # type: ignore[arg-type]
        return re.sub(r";tag=from\d+", f";tag={self.from_tag}", message, count=1)

    def send(self, method: str, **options: object) -> Response | None:
        self.cseq += 1
        text = self.text(method, **options)
        if method == "INVITE":
            self.invite_via = _via(text)
        return self.client.exchange(text)

    def ack(self, response: Response) -> None:
        text = self.text("ACK", to_tag=response.to.tag or "")
        if response.status >= 300:  # §17.1.1.3: the ACK of an error is in the INVITE's branch
            text = text.replace(_via(text), self.invite_via)
        self.client.send(text)

    def refer(self, headers: dict[str, str]) -> Response | None:
        return self.send("REFER", to_tag=self.to_tag, headers=headers)


def _via(text: str) -> str:
    return next(line for line in text.split("\r\n") if line.startswith("Via:"))


@pytest.fixture
def client(server: ServerProcess) -> Iterator[SipClient]:
    sip = SipClient(server)
    yield sip
    sip.close()


def test_refers_we_cannot_act_on_get_clear_errors(client: SipClient, room: str) -> None:
    dialog = Dialog(client, room)
    outside = dialog.refer({"Refer-To": "<sip:someone@example.invalid>"})
    assert outside is not None and outside.status == 403, outside
    assert "Policy" in outside.reason
    missing = dialog.refer({})
    assert missing is not None and missing.status == 400
    doubled = dialog.send(
        "REFER",
        to_tag=dialog.to_tag,
        headers={"Refer-To": "<sip:alice@127.0.0.1>, <sip:alice@127.0.0.2>"},
    )
    assert doubled is not None and doubled.status == 400
    web = dialog.refer({"Refer-To": "<https://example.com/>"})
    assert web is not None and web.status == 416
    injected = dialog.refer({"Refer-To": "<sip:alice@127.0.0.1?X=%0d%0aVia:%20evil>"})
    assert injected is not None and injected.status == 400
    bye = dialog.refer({"Refer-To": "<sip:alice@127.0.0.1;method=BYE>"})
    assert bye is not None and bye.status == 403
    assert len(client.server.roster(room)) == 1  # still in the room, nothing dialled


def test_a_refer_outside_any_dialog_is_forbidden(client: SipClient) -> None:
    response = client.exchange(client.request("REFER", headers={"Refer-To": "<sip:alice@x>"}))
    assert response is not None and response.status == 403


def test_invite_with_replaces_for_no_dialog_of_ours_is_481(client: SipClient, room: str) -> None:
    uri = f"sip:{room}@127.0.0.1:{client.server.sip_port}"
    headers = {"Content-Type": "application/sdp", "Replaces": "nope;to-tag=a;from-tag=b"}
    unknown = client.exchange(client.request("INVITE", uri, body=SDP_OFFER, headers=headers))
    assert unknown is not None and unknown.status == 481
    headers["Replaces"] = "call-without-tags"
    bad = client.exchange(client.request("INVITE", uri, body=SDP_OFFER, headers=headers))
    assert bad is not None and bad.status == 400


def test_replaces_early_only_for_a_confirmed_call_is_486(client: SipClient, room: str) -> None:
    dialog = Dialog(client, room)
    other = SipClient(client.server)
    try:
        replaces = f"{dialog.call_id};to-tag={dialog.to_tag};from-tag={dialog.from_tag};early-only"
        headers = {"Content-Type": "application/sdp", "Replaces": replaces}
        response = other.exchange(
            other.request("INVITE", dialog.uri, body=SDP_OFFER, headers=headers)
        )
        assert response is not None and response.status == 486
    finally:
        other.close()


@pytest.mark.parametrize(
    "held_sdp",
    [
        SDP_OFFER.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0"),  # RFC 2543 hold
        SDP_OFFER + "a=inactive\r\n",
        SDP_OFFER + "a=sendonly\r\n",
    ],
    ids=["c-zero", "inactive", "sendonly"],
)
def test_a_re_invite_that_holds_holds_the_participant(
    client: SipClient, room: str, held_sdp: str
) -> None:
    dialog = Dialog(client, room)
    (member,) = client.server.roster(room)
    sdp = {"Content-Type": "application/sdp"}
    held = dialog.send("INVITE", to_tag=dialog.to_tag, body=held_sdp, headers=sdp)
    assert held is not None and held.status == 200
    dialog.ack(held)
    _wait_held(client, room, member["id"], True)
    resumed = dialog.send("INVITE", to_tag=dialog.to_tag, body=SDP_OFFER, headers=sdp)
    assert resumed is not None and resumed.status == 200
    dialog.ack(resumed)
    _wait_held(client, room, member["id"], False)


def _wait_held(client: SipClient, room: str, participant: str, held: bool) -> None:
    """Waits for the roster to show `held` (the change goes to the room's worker)."""
    deadline = time.monotonic() + 3
    while True:
        (entry,) = [p for p in client.server.roster(room) if p["id"] == participant]
        if entry["held"] is held:
            return
        assert time.monotonic() < deadline, f"held is {entry['held']}, not {held}"
        time.sleep(0.05)


def test_one_transfer_at_a_time_and_refer_sub_false(client: SipClient, room: str) -> None:
    """While a transfer rings (alice's registration is this bare client, which never answers
    our INVITE), a second REFER gets 491; `Refer-Sub: false` (RFC 4488) is echoed in the 202."""
    register_uri = f"sip:127.0.0.1:{client.server.sip_port}"
    challenge = client.exchange(client.request("REGISTER", register_uri, call_id="reg-1", cseq=1))
    assert challenge is not None and challenge.status == 401
    offered = Challenge.parse(challenge.headers.get_all("WWW-Authenticate")[0])
    credentials = answer_challenge(
        offered, username="alice", password="alice-secret", method="REGISTER", uri=register_uri
    )
    registered = client.exchange(
        client.request("REGISTER", register_uri, call_id="reg-1", cseq=2,
                       headers={"Authorization": credentials.header_value()})
    )  # fmt: skip
    assert registered is not None and registered.status == 200
    dialog = Dialog(client, room)
    accepted = dialog.refer(
        {"Refer-To": f"<sip:alice@127.0.0.1:{client.server.sip_port}>", "Refer-Sub": "false"}
    )
    assert accepted is not None and accepted.status == 202, accepted
    assert accepted.headers.get("Refer-Sub") == "false"
    again = dialog.refer({"Refer-To": f"<sip:alice@127.0.0.1:{client.server.sip_port}>"})
    assert again is not None and again.status == 491, again
    deadline = time.monotonic() + 3
    while len(client.server.roster(room)) != 2:  # alice, and our call to alice, ringing
        assert time.monotonic() < deadline, client.server.roster(room)
        time.sleep(0.05)
