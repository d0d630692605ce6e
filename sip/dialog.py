"""SIP dialogs (RFC 3261 §12): the state two user agents share for one call.

A dialog builds in-dialog requests (BYE, re-INVITE, UPDATE, INFO) with the right tags, CSeq,
route set and target, and checks the CSeq order of the peer's requests."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from sip.address import Address, SipUri
from sip.message import Headers, Request, Response
from sip.transaction import Peer

MAX_FORWARDS = "70"


def new_tag() -> str:
    return secrets.token_hex(6)


def new_branch() -> str:
    return "z9hG4bK" + secrets.token_hex(8)  # §8.1.1.7: the magic cookie marks RFC 3261 branches


def new_call_id() -> str:
    return secrets.token_hex(12)


@dataclass(eq=False)
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str
    local: Address  # our From in requests we send (without tag)
    remote: Address  # their address, our To (without tag)
    remote_target: SipUri  # their Contact: the Request-URI of our requests
    peer: Peer  # where in-dialog requests go
    local_contact: str
    route_set: list[str] = field(default_factory=list)
    local_cseq: int = 0
    remote_cseq: int | None = None

    @classmethod
    def as_uas(cls, invite: Request, local_tag: str, local_contact: str, source: Peer) -> Dialog:
        """The dialog a 2xx (or 1xx with tag) to `invite` creates on our side (§12.1.1).

        Requests go back to `source` (the INVITE's sender), which also crosses NATs."""
        contacts = invite.contacts
        return cls(
            call_id=invite.call_id,
            local_tag=local_tag,
            remote_tag=invite.from_.tag or "",
            local=_untagged(invite.to),
            remote=_untagged(invite.from_),
            remote_target=contacts[0].uri if contacts else invite.from_.uri,
            peer=source,
            local_contact=local_contact,
            route_set=invite.headers.get_all("Record-Route"),
            local_cseq=secrets.randbelow(2**16),
            remote_cseq=invite.cseq[0],
        )

    @classmethod
    def as_uac(cls, invite: Request, response: Response, destination: Peer) -> Dialog:
        """The dialog a 2xx to our `invite` creates (§12.1.2); the route set is reversed."""
        contacts = response.contacts
        return cls(
            call_id=invite.call_id,
            local_tag=invite.from_.tag or "",
            remote_tag=response.to.tag or "",
            local=_untagged(invite.from_),
            remote=_untagged(invite.to),
            remote_target=contacts[0].uri if contacts else invite.request_uri,
            peer=destination,
            local_contact=invite.headers.get("Contact") or "",
            route_set=list(reversed(response.headers.get_all("Record-Route"))),
            local_cseq=invite.cseq[0],
        )

    def request(
        self,
        method: str,
        via: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        headers: list[tuple[str, str]] | None = None,
        cseq: int | None = None,
    ) -> Request:
        """A new in-dialog request; its CSeq is the next one unless `cseq` is given (ACK)."""
        if cseq is None:
            self.local_cseq += 1
            cseq = self.local_cseq
        message = Headers(
            [
                ("Via", via),
                ("Max-Forwards", MAX_FORWARDS),
                ("From", str(self.local.with_tag(self.local_tag))),
                ("To", str(self.remote.with_tag(self.remote_tag))),
                ("Call-ID", self.call_id),
                ("CSeq", f"{cseq} {method}"),
                ("Contact", self.local_contact),
                *[("Route", route) for route in self.route_set],
                *(headers or []),
            ]
        )
        if content_type is not None:
            message.add("Content-Type", content_type)
        return Request(message, body, method, str(self.remote_target))

    def accept_cseq(self, request: Request) -> bool:
        """Whether the peer's request is in order (§12.2.2); a stale one is answered 500."""
        number = request.cseq[0]
        if self.remote_cseq is not None and number <= self.remote_cseq:
            return request.method in ("ACK", "CANCEL") and number == self.remote_cseq
        self.remote_cseq = number
        return True

    def matches(self, message: Request | Response, incoming: bool = True) -> bool:
        from_tag, to_tag = message.from_.tag, message.to.tag
        if incoming and isinstance(message, Request):
            return from_tag == self.remote_tag and to_tag == self.local_tag
        return from_tag == self.local_tag and to_tag == self.remote_tag


def _untagged(address: Address) -> Address:
    return Address(
        address.uri,
        address.display_name,
        {key: value for key, value in address.params.items() if key != "tag"},
    )
