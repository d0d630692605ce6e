"""A call's record in Redis: read from a live call, written as strings, read back, and what a
survivor decides to do with it."""

from __future__ import annotations

from typing import Any

import pytest

from mediacore.codecs import PCMU
from mediacore.server.callrecord import (
    CSEQ_MARGIN,
    GATEWAY,
    GIVE_UP,
    REDIAL,
    REINVITE,
    CallRecord,
    RecordError,
    after_refusal,
    next_hop,
    parse_peer,
    peer_text,
    takeover_plan,
)
from sip.peer import Peer
from tests.cluster.sipcalls import make_call


def _record(**changes: Any) -> CallRecord:
    record = CallRecord.of(make_call(), node="n1", name="Desk 7", priority=3)
    assert record is not None
    fields = {**record.to_hash(), **{k: str(v) for k, v in changes.items()}}
    return CallRecord.from_hash(fields)


def test_a_confirmed_call_is_recorded_with_its_dialog_and_terms() -> None:
    record = CallRecord.of(make_call("outbound"), node="n1", name="Desk 7", priority=3)
    assert record is not None
    assert (record.node, record.room, record.participant, record.name) == (
        "n1", "command", "p-1", "Desk 7",
    )  # fmt: skip
    assert (record.call_id, record.local_tag, record.remote_tag) == (
        "abc123@phone",
        "ours",
        "theirs",
    )
    assert record.route_set == ("<sip:10.0.0.2;lr>",)
    assert (record.local_cseq, record.remote_cseq, record.peer) == (41, 3, "udp:10.0.0.2:5060")
    assert (record.direction, record.trunk, record.codec) == ("outbound", "carrier", PCMU.key)


def test_the_hash_is_strings_and_reads_back_the_same() -> None:
    record = CallRecord.of(make_call(), node="n1", name="Desk 7")
    assert record is not None
    fields = record.to_hash()
    assert all(isinstance(value, str) for value in fields.values())
    assert CallRecord.from_hash(fields) == record


def test_a_call_without_a_confirmed_dialog_in_a_room_has_no_record() -> None:
    ringing = make_call()
    ringing.state = "ringing"
    ended = make_call()
    ended.ended = True
    outside = make_call()
    outside.room_name = None
    for call in (ringing, ended, outside):
        assert CallRecord.of(call, node="n1", name="x") is None


def test_a_garbled_hash_is_refused_with_a_clear_error() -> None:
    fields = _record().to_hash()
    for broken in (
        {k: v for k, v in fields.items() if k != "call_id"},
        {**fields, "local_cseq": "many"},
        {**fields, "route_set": "{}"},
        {**fields, "peer": "pigeon:somewhere"},
    ):
        with pytest.raises(RecordError):
            CallRecord.from_hash(broken)


def test_the_survivors_dialog_keeps_call_id_tags_and_route_and_moves_cseq_past_the_dead_nodes() -> (
    None
):
    dialog = _record().dialog("<sip:command@10.0.0.9:5060>", Peer("udp", "10.0.0.2", 5060))
    assert (dialog.call_id, dialog.local_tag, dialog.remote_tag) == (
        "abc123@phone", "ours", "theirs",
    )  # fmt: skip
    assert dialog.route_set == ["<sip:10.0.0.2;lr>"]
    assert dialog.peer == Peer("udp", "10.0.0.2", 5060)
    assert dialog.local_contact == "<sip:command@10.0.0.9:5060>"
    reinvite = dialog.request("INVITE", "SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKx")
    assert reinvite.cseq == (41 + CSEQ_MARGIN + 1, "INVITE")
    assert reinvite.headers.get("Route") == "<sip:10.0.0.2;lr>"
    assert reinvite.to.tag == "theirs" and reinvite.from_.tag == "ours"
    assert str(reinvite.request_uri) == "sip:7001@10.0.0.7:5062;transport=udp"


def test_peers_read_back_ipv6_hosts_too() -> None:
    peer = Peer("tcp", "fd00::5", 5070)
    assert parse_peer(peer_text(peer)) == peer
    with pytest.raises(ValueError):
        parse_peer("udp:10.0.0.1")


def test_a_phone_is_reinvited_a_gateway_left_to_its_claimant_and_a_radio_call_in_given_up() -> None:
    assert takeover_plan(_record()) == REINVITE
    assert takeover_plan(_record(gateway="tower-1")) == GATEWAY
    assert takeover_plan(_record(kind="radio")) == GIVE_UP


def test_after_a_refused_reinvite_a_dial_out_is_dialled_again_and_a_call_in_given_up() -> None:
    assert after_refusal(_record(direction="outbound")) == REDIAL
    assert after_refusal(_record(direction="inbound")) == GIVE_UP


def test_the_survivor_sends_through_the_route_set_else_to_a_tcp_phones_contact() -> None:
    routed = next_hop(_record())
    assert routed is not None and (routed.host, routed.port) == ("10.0.0.2", None)
    direct = _record(route_set="[]")
    assert next_hop(direct) is None  # UDP: the address the phone sent from
    over_tcp = next_hop(_record(route_set="[]", peer="tcp:10.0.0.7:49152"))
    assert over_tcp is not None and (over_tcp.host, over_tcp.port) == ("10.0.0.7", 5062)
    with pytest.raises(RecordError):
        next_hop(_record(route_set='["not a route"]'))
