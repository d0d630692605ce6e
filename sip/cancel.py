"""The CANCEL of an INVITE we sent (RFC 3261 section 9.1)."""

from __future__ import annotations

from sip.dialog import MAX_FORWARDS
from sip.message import Headers, Request


def cancel_for(invite: Request) -> Request:
    """CANCEL `invite`: the same Request-URI, Call-ID, From, To, CSeq number and top Via (so
    the same branch: the server matches it to the INVITE's transaction) and its Route headers.
    Send it only after a provisional response to the INVITE came (section 9.1)."""
    headers = Headers([("Via", invite.headers.get_all("Via")[0])])
    headers.add("Max-Forwards", MAX_FORWARDS)
    for name, value in invite.headers:
        if name == "Route":
            headers.add(name, value)
    headers.add("From", invite.headers.get("From") or "")
    headers.add("To", invite.headers.get("To") or "")
    headers.add("Call-ID", invite.call_id)
    headers.add("CSeq", f"{invite.cseq[0]} CANCEL")
    return Request(headers, b"", "CANCEL", invite.uri)
