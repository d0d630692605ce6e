"""Every typed view of a parsed SIP message, read the way the user agent reads them: each
either works or refuses with the parser's own errors. Shared by `bench fuzz` and the SIP fuzz
tests (imported lazily by the fuzzer, after its instrumentation starts)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from sip.address import SipSyntaxError
from sip.message import LIST_HEADERS, Request, Response, SipParseError
from sip.refer import ReferError, Replaces, event_id, parse_sipfrag, refer_target


def read_views(message: Request | Response) -> None:
    views: list[Callable[[], object]] = [
        lambda: message.cseq,
        lambda: message.vias,
        lambda: message.top_via,
        lambda: message.from_,
        lambda: message.to,
        lambda: message.contacts,
        lambda: message.call_id,
        lambda: message.content_type,
    ]
    if isinstance(message, Request):
        views.append(lambda: message.request_uri)
    # Transfer: a REFER's Refer-To, an INVITE's Replaces, a NOTIFY's Event and sipfrag body.
    views.append(lambda: refer_target(message.headers.get_all("Refer-To")))
    views += [partial(Replaces.parse, value) for value in message.headers.get_all("Replaces")]
    views.append(lambda: event_id(message.headers.get("Event")))
    views.append(lambda: parse_sipfrag(message.body))
    for view in views:
        try:
            view()
        except (SipParseError, SipSyntaxError, ReferError):
            pass
    for name in LIST_HEADERS:  # the user agent splits these unguarded: they must not raise
        message.headers.get_all(name)
