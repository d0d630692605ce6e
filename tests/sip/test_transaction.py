"""RFC 3261 §17 transactions on a fake clock: every `now` below is a plain float in seconds."""

from __future__ import annotations

import pytest

from sip.message import Headers, Request, Response, make_response, parse_message
from sip.transaction import (
    AckTimedOut,
    ClientTransaction,
    Event,
    Peer,
    RequestReceived,
    ResponseReceived,
    ServerTransaction,
    StrayResponse,
    TransactionLayer,
    TransactionTimedOut,
)

UDP = Peer("udp", "198.51.100.1", 5060)
TCP = Peer("tcp", "198.51.100.1", 5060)
CALL_ID = "call-1@198.51.100.1"
INVITE_BRANCH = "z9hG4bK-invite-1"

Step = tuple[float, list[Event], list[tuple[bytes, Peer]]]


def request(
    method: str = "INVITE",
    branch: str = INVITE_BRANCH,
    cseq: int = 1,
    to_tag: str | None = None,
    via: str | None = None,
) -> Request:
    """A request as a UAC at 198.51.100.1 would send it, parsed from raw text."""
    to = "<sip:bob@example.com>" + (f";tag={to_tag}" if to_tag else "")
    text = (
        f"{method} sip:bob@example.com SIP/2.0\r\n"
        f"Via: {via or f'SIP/2.0/UDP 198.51.100.1:5060;branch={branch}'}\r\n"
        "Max-Forwards: 70\r\n"
        "Route: <sip:proxy.example.com;lr>\r\n"
        "From: <sip:alice@example.com>;tag=from-1\r\n"
        f"To: {to}\r\n"
        f"Call-ID: {CALL_ID}\r\n"
        f"CSeq: {cseq} {method}\r\n"
        "Contact: <sip:alice@198.51.100.1>\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    message = parse_message(text.encode())
    assert isinstance(message, Request)
    return message


def answer(to: Request, status: int) -> Response:
    return make_response(to, status, to_tag=None if status == 100 else "to-1")


def run_timers(layer: TransactionLayer, until: float) -> list[Step]:
    """Fire every timer due up to `until` as an event loop would; what happened at each one."""
    steps: list[Step] = []
    while (deadline := layer.timer()) is not None and deadline <= until:
        events = layer.handle_timer(deadline)
        steps.append((deadline, events, layer.datagrams_to_send()))
    return steps


def send_times(steps: list[Step]) -> list[float]:
    return [when for when, _, sent in steps if sent]


def events_of(steps: list[Step]) -> list[tuple[float, Event]]:
    return [(when, event) for when, events, _ in steps for event in events]


def only_datagram(layer: TransactionLayer) -> Request | Response:
    sent = layer.datagrams_to_send()
    assert len(sent) == 1
    return parse_message(sent[0][0])


# -- INVITE client (§17.1.1) ----------------------------------------------------------------


def test_invite_client_udp_retransmits_with_doubling_timer_a_17_1_1_2() -> None:
    layer = TransactionLayer()
    invite = request()
    layer.send_request(invite, UDP, now=0.0)
    assert layer.datagrams_to_send() == [(invite.serialize(), UDP)]

    steps = run_timers(layer, until=31.9)

    assert send_times(steps) == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert all(sent == [(invite.serialize(), UDP)] for _, _, sent in steps if sent)


def test_invite_client_provisional_stops_retransmissions_and_timer_b_17_1_1_2() -> None:
    layer = TransactionLayer()
    invite = request()
    transaction = layer.send_request(invite, UDP, now=0.0)
    run_timers(layer, until=0.5)
    ringing = answer(invite, 180)

    assert layer.receive(ringing, UDP, now=1.0) == [ResponseReceived(ringing, transaction)]
    assert transaction.state == "proceeding"
    # No retransmission, no Timer B: the UA gives up with a CANCEL (Timer C is minutes away).
    assert run_timers(layer, until=100.0) == []
    assert layer.transactions() == 1


def test_invite_client_timer_b_times_out_after_64_t1_17_1_1_2() -> None:
    layer = TransactionLayer()
    transaction = layer.send_request(request(), UDP, now=0.0)

    steps = run_timers(layer, until=40.0)

    assert events_of(steps) == [(32.0, TransactionTimedOut(transaction, "B"))]
    assert transaction.state == "terminated"
    assert layer.transactions() == 0 and layer.timer() is None


def test_invite_client_acks_non_2xx_itself_and_passes_it_up_once_17_1_1_3() -> None:
    layer = TransactionLayer()
    invite = request()
    transaction = layer.send_request(invite, UDP, now=0.0)
    layer.datagrams_to_send()
    busy = answer(invite, 486)

    assert layer.receive(busy, UDP, now=1.0) == [ResponseReceived(busy, transaction)]
    ack = only_datagram(layer)
    assert isinstance(ack, Request)
    assert (ack.method, ack.uri) == ("ACK", invite.uri)
    assert ack.headers.get_all("Via") == invite.headers.get_all("Via")[:1]
    assert ack.headers.get_all("Route") == invite.headers.get_all("Route")
    assert ack.headers.get("Max-Forwards") == "70"
    assert ack.headers.get("From") == invite.headers.get("From")
    assert ack.to.tag == "to-1"
    assert (ack.call_id, ack.cseq) == (CALL_ID, (1, "ACK"))
    assert ack.headers.get("Content-Length") == "0" and ack.body == b""
    assert transaction.state == "completed"

    # A retransmitted 486 means our ACK was lost: send it again, tell the UA nothing.
    assert layer.receive(answer(invite, 486), UDP, now=2.0) == []
    assert only_datagram(layer).serialize() == ack.serialize()

    steps = run_timers(layer, until=100.0)
    assert steps == [(33.0, [], [])]  # Timer D, 32 s after the 486; Timer A and B are gone
    assert transaction.state == "terminated" and layer.transactions() == 0


def test_invite_client_over_tcp_never_retransmits_and_timer_d_is_zero_17_1_1_2() -> None:
    layer = TransactionLayer()
    invite = request(via="SIP/2.0/TCP 198.51.100.1:5060;branch=" + INVITE_BRANCH)
    transaction = layer.send_request(invite, TCP, now=0.0)
    layer.datagrams_to_send()

    assert send_times(run_timers(layer, until=31.0)) == []
    layer.receive(answer(invite, 486), TCP, now=31.0)

    assert isinstance(only_datagram(layer), Request)  # the ACK
    assert transaction.state == "terminated" and layer.transactions() == 0
    assert layer.timer() is None


def test_invite_client_2xx_terminates_and_its_retransmission_is_stray_17_1_1_2() -> None:
    layer = TransactionLayer()
    invite = request()
    transaction = layer.send_request(invite, UDP, now=0.0)
    layer.datagrams_to_send()
    ok = answer(invite, 200)

    assert layer.receive(ok, UDP, now=1.0) == [ResponseReceived(ok, transaction)]
    assert transaction.state == "terminated" and layer.transactions() == 0
    assert layer.datagrams_to_send() == []  # a 2xx is ACKed by the UA core, not here
    again = answer(invite, 200)
    assert layer.receive(again, UDP, now=1.5) == [StrayResponse(again, UDP)]


# -- non-INVITE client (§17.1.2) ------------------------------------------------------------


def test_non_invite_client_timer_e_doubles_up_to_t2_17_1_2_2() -> None:
    layer = TransactionLayer()
    layer.send_request(request("OPTIONS", "z9hG4bK-options"), UDP, now=0.0)

    steps = run_timers(layer, until=20.0)

    assert send_times(steps) == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5]


def test_non_invite_client_retransmits_every_t2_in_proceeding_17_1_2_2() -> None:
    layer = TransactionLayer()
    options = request("OPTIONS", "z9hG4bK-options")
    transaction = layer.send_request(options, UDP, now=0.0)
    trying = answer(options, 100)

    assert layer.receive(trying, UDP, now=0.2) == [ResponseReceived(trying, transaction)]
    # Timer E was already armed for 0.5; from then on it is reset to T2.
    assert send_times(run_timers(layer, until=13.0)) == [0.5, 4.5, 8.5, 12.5]


def test_non_invite_client_timer_f_times_out_after_64_t1_17_1_2_2() -> None:
    layer = TransactionLayer()
    transaction = layer.send_request(request("OPTIONS", "z9hG4bK-options"), UDP, now=0.0)

    steps = run_timers(layer, until=40.0)

    assert events_of(steps) == [(32.0, TransactionTimedOut(transaction, "F"))]
    assert layer.transactions() == 0


def test_non_invite_client_timer_k_absorbs_final_retransmissions_for_t4_17_1_2_2() -> None:
    layer = TransactionLayer()
    options = request("OPTIONS", "z9hG4bK-options")
    transaction = layer.send_request(options, UDP, now=0.0)
    layer.datagrams_to_send()
    ok = answer(options, 200)

    assert layer.receive(ok, UDP, now=0.3) == [ResponseReceived(ok, transaction)]
    assert layer.receive(answer(options, 200), UDP, now=2.0) == []
    assert layer.datagrams_to_send() == []
    assert run_timers(layer, until=100.0) == [(5.3, [], [])]  # Timer K = T4; E and F are gone
    assert layer.transactions() == 0


def test_non_invite_client_over_tcp_ends_on_the_final_response_17_1_2_2() -> None:
    layer = TransactionLayer()
    options = request("OPTIONS", "z9hG4bK-options")
    layer.send_request(options, TCP, now=0.0)

    layer.receive(answer(options, 200), TCP, now=1.0)

    assert layer.transactions() == 0 and layer.timer() is None


def test_send_request_refuses_acks_and_branches_without_the_magic_cookie_8_1_1_7() -> None:
    layer = TransactionLayer()
    with pytest.raises(ValueError):
        layer.send_request(request(branch="old-style-branch"), UDP, now=0.0)
    with pytest.raises(ValueError):
        layer.send_request(request("ACK"), UDP, now=0.0)
    layer.send_request(request(), UDP, now=0.0)
    with pytest.raises(ValueError):
        layer.send_request(request(), UDP, now=0.0)  # same branch and method twice


# -- INVITE server (§17.2.1) ----------------------------------------------------------------


def received_transaction(events: list[Event]) -> ServerTransaction:
    assert len(events) == 1 and isinstance(events[0], RequestReceived)
    assert events[0].transaction is not None
    return events[0].transaction


def test_invite_server_sends_100_trying_by_itself_after_200_ms_17_2_1() -> None:
    layer = TransactionLayer()
    invite = request()

    events = layer.receive(invite, UDP, now=0.0)

    transaction = received_transaction(events)
    assert events == [RequestReceived(invite, UDP, transaction)]
    assert layer.datagrams_to_send() == [] and layer.timer() == pytest.approx(0.2)
    assert layer.handle_timer(0.2) == []
    trying = only_datagram(layer)
    assert isinstance(trying, Response) and trying.status == 100
    assert trying.to.tag is None and trying.top_via.branch == INVITE_BRANCH
    assert transaction.state == "proceeding" and transaction.provisional_sent


def test_invite_server_answered_within_200_ms_sends_no_100_trying_17_2_1() -> None:
    layer = TransactionLayer()
    invite = request()
    transaction = received_transaction(layer.receive(invite, UDP, now=0.0))

    layer.respond(transaction, answer(invite, 404), now=0.05)

    assert [parse_message(data).status for data, _ in layer.datagrams_to_send()] == [404]
    assert send_times(run_timers(layer, until=1.0)) == []


def test_invite_server_without_auto_trying_sends_nothing_until_the_ua_responds() -> None:
    layer = TransactionLayer(auto_trying=False)

    received_transaction(layer.receive(request(), UDP, now=0.0))

    assert layer.datagrams_to_send() == []


def test_invite_server_retransmitted_invite_resends_the_last_provisional_17_2_1() -> None:
    layer = TransactionLayer(auto_trying=False)
    invite = request()
    transaction = received_transaction(layer.receive(invite, UDP, now=0.0))
    ringing = answer(invite, 180)
    layer.respond(transaction, ringing, now=0.1)
    layer.datagrams_to_send()

    assert layer.receive(request(), UDP, now=0.5) == []  # not a new call

    assert layer.datagrams_to_send() == [(ringing.serialize(), UDP)]


def test_invite_server_timer_g_resends_non_2xx_until_the_ack_is_absorbed_17_2_1() -> None:
    layer = TransactionLayer(auto_trying=False)
    layer.peer_proved(UDP)
    invite = request()
    transaction = received_transaction(layer.receive(invite, UDP, now=0.0))
    busy = answer(invite, 486)
    layer.respond(transaction, busy, now=0.0)
    assert layer.datagrams_to_send() == [(busy.serialize(), UDP)]

    steps = run_timers(layer, until=12.0)
    assert send_times(steps) == [0.5, 1.5, 3.5, 7.5, 11.5]
    assert all(sent == [(busy.serialize(), UDP)] for _, _, sent in steps)

    assert layer.receive(request("ACK", to_tag="to-1"), UDP, now=12.0) == []
    assert transaction.state == "confirmed"
    assert run_timers(layer, until=100.0) == [(17.0, [], [])]  # Timer I = T4; G and H gone
    assert transaction.state == "terminated" and layer.transactions() == 0


def test_invite_server_retransmitted_invite_resends_the_final_response_17_2_1() -> None:
    layer = TransactionLayer(auto_trying=False)
    invite = request()
    transaction = received_transaction(layer.receive(invite, UDP, now=0.0))
    busy = answer(invite, 486)
    layer.respond(transaction, busy, now=0.0)
    layer.datagrams_to_send()

    assert layer.receive(request(), UDP, now=0.2) == []

    assert layer.datagrams_to_send() == [(busy.serialize(), UDP)]


def test_invite_server_timer_h_gives_up_waiting_for_the_ack_17_2_1() -> None:
    layer = TransactionLayer(auto_trying=False)
    layer.peer_proved(UDP)
    invite = request()
    transaction = received_transaction(layer.receive(invite, UDP, now=0.0))
    layer.respond(transaction, answer(invite, 486), now=0.0)

    steps = run_timers(layer, until=40.0)

    assert send_times(steps) == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert events_of(steps) == [(32.0, TransactionTimedOut(transaction, "H"))]
    assert layer.transactions() == 0


def test_invite_server_over_tcp_sends_non_2xx_once_and_timer_i_is_zero_17_2_1() -> None:
    layer = TransactionLayer(auto_trying=False)
    invite = request(via="SIP/2.0/TCP 198.51.100.1:5060;branch=" + INVITE_BRANCH)
    transaction = received_transaction(layer.receive(invite, TCP, now=0.0))
    layer.respond(transaction, answer(invite, 486), now=0.0)
    layer.datagrams_to_send()

    assert send_times(run_timers(layer, until=31.0)) == []
    layer.receive(request("ACK", to_tag="to-1", via=invite.headers.get("Via")), TCP, now=31.0)

    assert layer.transactions() == 0 and layer.timer() is None


def test_invite_server_absorbs_retransmitted_invite_after_2xx_rfc_6026() -> None:
    layer = TransactionLayer(auto_trying=False)
    invite = request()
    transaction = received_transaction(layer.receive(invite, UDP, now=0.0))
    ok = answer(invite, 200)
    layer.respond(transaction, ok, now=0.0)
    layer.datagrams_to_send()

    assert layer.receive(request(), UDP, now=0.1) == []  # not a second call
    assert layer.datagrams_to_send() == [(ok.serialize(), UDP)]  # the 2xx again, once
    assert transaction.state == "accepted"
    with pytest.raises(ValueError):
        layer.respond(transaction, answer(invite, 486), now=0.2)


def test_server_transaction_refuses_a_second_final_response_17_2() -> None:
    layer = TransactionLayer()
    options = request("OPTIONS", "z9hG4bK-options")
    transaction = received_transaction(layer.receive(options, UDP, now=0.0))
    layer.respond(transaction, answer(options, 200), now=0.0)

    with pytest.raises(ValueError):
        layer.respond(transaction, answer(options, 500), now=0.1)


# -- non-INVITE server (§17.2.2) ------------------------------------------------------------


def test_non_invite_server_retransmission_resends_final_then_timer_j_17_2_2() -> None:
    layer = TransactionLayer()
    options = request("OPTIONS", "z9hG4bK-options")
    transaction = received_transaction(layer.receive(options, UDP, now=0.0))
    assert layer.datagrams_to_send() == []  # no automatic 100 outside INVITE

    assert layer.receive(request("OPTIONS", "z9hG4bK-options"), UDP, now=0.1) == []
    assert layer.datagrams_to_send() == []  # nothing to repeat yet in Trying
    ok = answer(options, 200)
    layer.respond(transaction, ok, now=0.2)
    layer.datagrams_to_send()

    assert layer.receive(request("OPTIONS", "z9hG4bK-options"), UDP, now=1.0) == []
    assert layer.datagrams_to_send() == [(ok.serialize(), UDP)]
    assert run_timers(layer, until=100.0) == [(32.2, [], [])]  # Timer J = 64*T1
    assert layer.transactions() == 0


def test_non_invite_server_over_tcp_ends_at_once_17_2_2() -> None:
    layer = TransactionLayer()
    options = request("OPTIONS", "z9hG4bK-options")
    transaction = received_transaction(layer.receive(options, TCP, now=0.0))

    layer.respond(transaction, answer(options, 200), now=0.0)

    assert transaction.state == "terminated" and layer.transactions() == 0


# -- CANCEL (§9) ----------------------------------------------------------------------------


def test_cancel_has_its_own_transaction_and_finds_the_invite_9_2() -> None:
    layer = TransactionLayer()
    invite_transaction = received_transaction(layer.receive(request(), UDP, now=0.0))
    cancel = request("CANCEL")

    cancel_transaction = received_transaction(layer.receive(cancel, UDP, now=1.0))

    assert cancel_transaction is not invite_transaction and not cancel_transaction.is_invite
    assert layer.cancel_target(cancel) is invite_transaction
    assert layer.cancel_target(request("CANCEL", branch="z9hG4bK-other")) is None
    assert layer.transactions() == 2
    layer.respond(cancel_transaction, answer(cancel, 200), now=1.0)
    layer.respond(invite_transaction, answer(invite_transaction.request, 487), now=1.0)
    assert invite_transaction.state == "completed"


def test_client_cancel_and_invite_share_a_branch_but_not_responses_9_1() -> None:
    layer = TransactionLayer()
    invite, cancel = request(), request("CANCEL")
    invite_transaction = layer.send_request(invite, UDP, now=0.0)
    cancel_transaction = layer.send_request(cancel, UDP, now=1.0)
    cancel_ok, terminated = answer(cancel, 200), answer(invite, 487)

    assert layer.receive(cancel_ok, UDP, 1.1) == [ResponseReceived(cancel_ok, cancel_transaction)]
    assert layer.receive(terminated, UDP, 1.2) == [ResponseReceived(terminated, invite_transaction)]


def test_rfc_2543_branchless_requests_still_match_their_transaction_17_2_3() -> None:
    layer = TransactionLayer(auto_trying=False)
    old_via = "SIP/2.0/UDP 198.51.100.1:5060"
    invite = request(via=old_via)
    transaction = received_transaction(layer.receive(invite, UDP, now=0.0))
    layer.respond(transaction, answer(invite, 486), now=0.0)

    assert layer.receive(request(via=old_via), UDP, now=0.1) == []  # a retransmission
    assert layer.receive(request("ACK", via=old_via, to_tag="to-1"), UDP, now=0.2) == []
    assert transaction.state == "confirmed"


# -- 2xx to INVITE retransmitted by the UAS core (§13.3.1.4) --------------------------------


def test_2xx_to_invite_is_retransmitted_until_its_ack_13_3_1_4() -> None:
    layer = TransactionLayer(auto_trying=False)
    layer.peer_proved(UDP)
    invite = request()
    transaction = received_transaction(layer.receive(invite, UDP, now=0.0))
    ok = answer(invite, 200)
    layer.respond(transaction, ok, now=0.0)
    assert layer.datagrams_to_send() == [(ok.serialize(), UDP)]

    steps = run_timers(layer, until=12.0)
    assert send_times(steps) == [0.5, 1.5, 3.5, 7.5, 11.5]  # T1 doubling, capped at T2
    assert all(sent == [(ok.serialize(), UDP)] for _, _, sent in steps)

    ack = request("ACK", branch="z9hG4bK-ack-1", to_tag="to-1")  # a 2xx ACK has its own branch
    assert layer.receive(ack, UDP, now=12.0) == [RequestReceived(ack, UDP, None)]
    steps = run_timers(layer, until=100.0)
    assert send_times(steps) == [] and events_of(steps) == []
    assert layer.transactions() == 0  # the accepted INVITE ended with Timer L at 32 s


def test_retransmit_2xx_sends_now_and_stops_on_ack_received_13_3_1_4() -> None:
    layer = TransactionLayer()
    layer.peer_proved(UDP)
    ok = answer(request(), 200)

    layer.retransmit_2xx(ok, UDP, now=0.0)
    assert layer.datagrams_to_send() == [(ok.serialize(), UDP)]
    assert send_times(run_timers(layer, until=2.0)) == [0.5, 1.5]

    layer.ack_received(CALL_ID, 1)
    assert layer.timer() is None


def test_2xx_without_ack_times_out_after_64_t1_13_3_1_4() -> None:
    layer = TransactionLayer()
    layer.peer_proved(UDP)
    layer.retransmit_2xx(answer(request(), 200), UDP, now=0.0)

    steps = run_timers(layer, until=40.0)

    assert send_times(steps)[-3:] == [23.5, 27.5, 31.5]
    assert events_of(steps) == [(32.0, AckTimedOut(CALL_ID, 1))]
    assert layer.timer() is None


def test_2xx_over_tcp_is_sent_once_but_still_waits_for_the_ack_13_3_1_4() -> None:
    layer = TransactionLayer()
    layer.retransmit_2xx(answer(request(), 200), TCP, now=0.0)
    layer.datagrams_to_send()

    steps = run_timers(layer, until=40.0)

    assert send_times(steps) == []
    assert events_of(steps) == [(32.0, AckTimedOut(CALL_ID, 1))]


# -- bounds and malformed input ---------------------------------------------------------------


def test_receive_drops_messages_without_a_usable_via_or_cseq() -> None:
    layer = TransactionLayer()
    good = request()
    garbage_via = Request(good.headers.copy(), b"", "INVITE", good.uri)
    garbage_via.headers.set("Via", "garbage;;;")
    bad_cseq = Request(good.headers.copy(), b"", "INVITE", good.uri)
    bad_cseq.headers.set("CSeq", "one INVITE")
    garbage_response = Response(Headers([("Via", "SIP/3.0 nowhere")]), b"", 200, "OK")
    strange_status = answer(good, 200)
    strange_status.status = 999
    malformed: list[Request | Response] = [
        garbage_via,
        bad_cseq,
        Request(),
        Response(),
        garbage_response,
        strange_status,
    ]

    for message in malformed:
        assert layer.receive(message, UDP, now=0.0) == []

    assert layer.datagrams_to_send() == [] and layer.transactions() == 0


def test_new_request_beyond_the_limit_gets_a_stateless_503() -> None:
    layer = TransactionLayer()
    template = request("OPTIONS")
    for number in range(10_001):
        options = Request(template.headers.copy(), b"", "OPTIONS", template.uri)
        options.headers.set("Via", f"SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK-{number}")
        events = layer.receive(options, UDP, now=0.0)
    assert layer.transactions() == 10_000

    assert events == []
    refusal = only_datagram(layer)
    assert isinstance(refusal, Response) and refusal.status == 503
    assert refusal.top_via.branch == "z9hG4bK-10000" and refusal.to.tag


def test_client_transaction_exposes_what_the_ua_needs() -> None:
    layer = TransactionLayer()
    invite = request()
    transaction = layer.send_request(invite, UDP, now=0.0)

    assert isinstance(transaction, ClientTransaction)
    assert (transaction.request, transaction.destination) == (invite, UDP)
    assert (transaction.state, transaction.is_invite, transaction.last_response) == (
        "calling",
        True,
        None,
    )
    assert transaction.key == (INVITE_BRANCH, "INVITE")


# -- every server transaction ends by a timer ---------------------------------------------------


def test_a_non_invite_never_answered_ends_after_64_t1_silently_rfc_4320() -> None:
    layer = TransactionLayer()
    options = request("OPTIONS", "z9hG4bK-options")
    transaction = received_transaction(layer.receive(options, UDP, now=0.0))

    steps = run_timers(layer, until=100.0)

    assert events_of(steps) == [(32.0, TransactionTimedOut(transaction, "unanswered"))]
    assert send_times(steps) == []  # RFC 4320 §4.1: no 408 to a non-INVITE
    assert layer.transactions() == 0 and layer.timer() is None
    layer.respond(transaction, answer(options, 200), now=33.0)  # too late: dropped
    assert layer.datagrams_to_send() == []


def test_an_invite_never_answered_gets_408_and_then_ends() -> None:
    layer = TransactionLayer(invite_answer_limit=60.0)
    invite = request()
    transaction = received_transaction(layer.receive(invite, UDP, now=0.0))
    layer.respond(transaction, answer(invite, 180), now=0.1)
    layer.datagrams_to_send()

    steps = run_timers(layer, until=59.9)
    assert steps == []
    events = layer.handle_timer(60.0)
    assert events == [TransactionTimedOut(transaction, "unanswered")]
    timeout = only_datagram(layer)
    assert isinstance(timeout, Response) and timeout.status == 408
    assert timeout.to.tag == "to-1"  # the tag the 180 gave the early dialog
    layer.respond(transaction, answer(invite, 200), now=61.0)  # the UA woke up too late
    assert layer.datagrams_to_send() == []
    run_timers(layer, until=200.0)
    assert layer.transactions() == 0 and layer.timer() is None


def test_a_thousand_unanswered_requests_leave_nothing_behind() -> None:
    layer = TransactionLayer()
    template = request("OPTIONS")
    for number in range(1000):
        options = Request(template.headers.copy(), b"", "OPTIONS", template.uri)
        options.headers.set("Via", f"SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK-{number}")
        layer.receive(options, UDP, now=number * 0.01)
    assert layer.transactions() == 1000

    run_timers(layer, until=75.0)

    assert layer.transactions() == 0 and layer.timer() is None


# -- no amplification towards a peer that has not proved it is there ---------------------------


def test_unproven_peer_gets_a_quick_non_2xx_once_and_one_per_retransmission() -> None:
    layer = TransactionLayer()
    invite = request()
    transaction = received_transaction(layer.receive(invite, UDP, now=0.0))
    challenge = answer(invite, 401)
    layer.respond(transaction, challenge, now=0.01)
    assert layer.datagrams_to_send() == [(challenge.serialize(), UDP)]

    steps = run_timers(layer, until=10.0)
    assert send_times(steps) == []  # no Timer G: a forged source gets one answer
    assert layer.receive(request(), UDP, now=10.0) == []  # a real caller retransmits...
    assert layer.datagrams_to_send() == [(challenge.serialize(), UDP)]  # ...and gets it again

    steps = run_timers(layer, until=40.0)
    assert events_of(steps) == [(32.01, TransactionTimedOut(transaction, "H"))]
    assert layer.transactions() == 0


def test_unproven_peer_that_saw_a_provisional_gets_three_repeats_at_most() -> None:
    layer = TransactionLayer()
    invite = request()
    transaction = received_transaction(layer.receive(invite, UDP, now=0.0))
    run_timers(layer, until=0.2)  # 100 Trying: the caller stops retransmitting
    layer.respond(transaction, answer(invite, 486), now=1.0)
    layer.datagrams_to_send()

    assert send_times(run_timers(layer, until=40.0)) == [1.5, 2.5, 4.5]


def test_2xx_to_an_unproven_peer_is_sent_once_until_the_invite_comes_again() -> None:
    layer = TransactionLayer()
    invite = request()
    transaction = received_transaction(layer.receive(invite, UDP, now=0.0))
    ok = answer(invite, 200)
    layer.respond(transaction, ok, now=0.01)
    layer.datagrams_to_send()

    assert send_times(run_timers(layer, until=0.5)) == []
    layer.receive(request(), UDP, now=0.5)
    assert layer.datagrams_to_send() == [(ok.serialize(), UDP)]
    steps = run_timers(layer, until=40.0)
    assert send_times(steps) == []
    assert events_of(steps) == [(32.01, AckTimedOut(CALL_ID, 1))]


def test_an_ack_with_our_tag_proves_the_peer_and_restores_full_retransmission() -> None:
    layer = TransactionLayer(auto_trying=False)
    first = request()
    transaction = received_transaction(layer.receive(first, UDP, now=0.0))
    layer.respond(transaction, answer(first, 401), now=0.0)
    layer.receive(request("ACK", to_tag="someone-elses"), UDP, now=0.1)  # a guess proves nothing
    second = request(branch="z9hG4bK-invite-2", cseq=2)
    transaction = received_transaction(layer.receive(second, UDP, now=1.0))
    layer.respond(transaction, answer(second, 486), now=1.0)
    layer.datagrams_to_send()
    assert send_times(run_timers(layer, until=5.0)) == []

    layer.receive(request("ACK", "z9hG4bK-invite-2", cseq=2, to_tag="to-1"), UDP, now=5.0)
    third = request(branch="z9hG4bK-invite-3", cseq=3)
    transaction = received_transaction(layer.receive(third, UDP, now=6.0))
    layer.respond(transaction, answer(third, 486), now=6.0)
    layer.datagrams_to_send()

    assert send_times(run_timers(layer, until=12.0))[:3] == [6.5, 7.5, 9.5]


def test_a_2xx_ack_with_our_tag_proves_the_peer() -> None:
    layer = TransactionLayer(auto_trying=False)
    invite = request()
    transaction = received_transaction(layer.receive(invite, UDP, now=0.0))
    layer.respond(transaction, answer(invite, 200), now=0.0)

    layer.receive(request("ACK", "z9hG4bK-ack-1", to_tag="to-1"), UDP, now=0.1)

    second = request(branch="z9hG4bK-invite-2", cseq=2)
    transaction = received_transaction(layer.receive(second, UDP, now=1.0))
    layer.respond(transaction, answer(second, 486), now=1.0)
    layer.datagrams_to_send()
    assert send_times(run_timers(layer, until=3.0)) == [1.5, 2.5]


def test_a_cancelled_invite_that_gets_no_final_response_ends_64_t1_later_9_1() -> None:
    layer = TransactionLayer()
    invite = request()
    transaction = layer.send_request(invite, UDP, now=0.0)
    layer.receive(answer(invite, 180), UDP, now=1.0)
    cancel = layer.send_request(request("CANCEL"), UDP, now=10.0)
    layer.receive(answer(cancel.request, 200), UDP, now=10.1)  # but no 487 ever comes

    steps = run_timers(layer, until=100.0)

    assert (42.0, TransactionTimedOut(transaction, "cancelled")) in events_of(steps)
    assert layer.transactions() == 0 and layer.timer() is None


def test_an_invite_left_ringing_ends_at_the_proceeding_limit() -> None:
    layer = TransactionLayer(invite_proceeding_limit=300.0)
    invite = request()
    transaction = layer.send_request(invite, UDP, now=0.0)
    layer.receive(answer(invite, 180), UDP, now=1.0)
    layer.receive(answer(invite, 183), UDP, now=100.0)  # each provisional restarts the limit

    steps = run_timers(layer, until=1000.0)

    assert events_of(steps) == [(400.0, TransactionTimedOut(transaction, "C"))]
    assert layer.transactions() == 0
