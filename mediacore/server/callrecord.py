"""A SIP call as the cluster remembers it: enough of its dialog for another node to carry it on.

Sans-I/O: `CallRecord.of` reads a live call, `to_hash` / `from_hash` are its `mc:call:<node>:
<call-id>` hash in Redis (strings only), `dialog` rebuilds the dialog on the node taking the
call over, and `takeover_plan` / `after_refusal` decide what that node does with it
(clustercalls.py does the I/O)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from mediacore.negotiationwire import negotiation_to_json
from sip.address import Address, SipUri
from sip.call import SipCall
from sip.dialog import Dialog
from sip.peer import Peer

# What a survivor does with a dead node's call.
REINVITE = "reinvite"  # the same dialog, a new offer from here: the phone keeps its call
REDIAL = "redial"  # a new call to the same party (a dial-out whose dialog is gone)
GATEWAY = "gateway"  # a radio gateway: whoever claims it calls it again (gatewayclaims.py)
GIVE_UP = "give-up"  # an inbound call whose dialog is gone: the caller calls again

# Our CSeq jumps this far past the last one recorded: requests the dead node sent after its
# last write (a keep-alive OPTIONS) must not make the phone refuse ours as out of order.
CSEQ_MARGIN = 100


class RecordError(ValueError):
    """A hash that is not a call record (missing or garbled fields)."""


@dataclass(frozen=True, slots=True)
class CallRecord:
    node: str  # the node carrying the call
    room: str
    participant: str
    name: str
    kind: str  # "sip" or "radio"
    direction: str  # "inbound" or "outbound" (a dial-out)
    remote_uri: str  # who was called or who called
    call_id: str
    local_tag: str
    remote_tag: str
    local: str  # our From (untagged Address)
    remote: str  # their To (untagged Address)
    remote_target: str  # their Contact: our requests' Request-URI
    peer: str  # "transport:host:port" where in-dialog requests go (Kamailio, when it routes)
    route_set: tuple[str, ...] = ()
    local_cseq: int = 0
    remote_cseq: int | None = None
    priority: int = 0
    policy: str = "{}"  # JSON of the leg's LegPolicy (SRTP, NAT)
    codec: str = ""  # the agreed codec's key, for people reading the record
    negotiation: str = "{}"  # JSON of the agreed audio terms (negotiationwire)
    trunk: str = ""  # the trunk a dial-out went through
    gateway: str = ""  # the radio gateway this call is ([[radio.gateways]] name)
    changes: str = "{}"  # JSON: what was set on the participant after it joined (callstanding)
    whispers: str = "[]"  # JSON: the listeners of each whisper the participant speaks

    @classmethod
    def of(
        cls,
        call: SipCall,
        *,
        node: str,
        name: str,
        priority: int = 0,
        gateway: str = "",
        changes: str = "{}",
        whispers: str = "[]",
    ) -> CallRecord | None:
        """The record of `call` as carried by `node` (the participant is `name`, `changes` and
        `whispers` its standing: callstanding.py); None while it has no confirmed dialog in a
        room (ringing, ended): there is nothing to carry on."""
        dialog = call.dialog
        if (
            dialog is None
            or call.ended
            or call.state != "confirmed"
            or call.room_name is None
            or call.participant_id is None
        ):
            return None
        negotiation = call.leg.negotiation
        return cls(
            node=node,
            room=call.room_name,
            participant=call.participant_id,
            name=name,
            kind=call.kind,
            direction=call.direction,
            remote_uri=call.remote_uri,
            call_id=dialog.call_id,
            local_tag=dialog.local_tag,
            remote_tag=dialog.remote_tag,
            local=str(dialog.local),
            remote=str(dialog.remote),
            remote_target=str(dialog.remote_target),
            peer=peer_text(dialog.peer),
            route_set=tuple(dialog.route_set),
            local_cseq=dialog.local_cseq,
            remote_cseq=dialog.remote_cseq,
            priority=priority,
            policy=json.dumps(call.policy.to_json(), sort_keys=True),
            codec=negotiation.codec.key,
            negotiation=json.dumps(negotiation_to_json(negotiation), sort_keys=True),
            trunk=call.trunk or "",
            gateway=gateway,
            changes=changes,
            whispers=whispers,
        )

    def to_hash(self) -> dict[str, str]:
        """The Redis hash: every field a string (the route set and remote CSeq as JSON)."""
        fields: dict[str, Any] = asdict(self)
        fields["route_set"] = json.dumps(list(self.route_set))
        fields["remote_cseq"] = "" if self.remote_cseq is None else str(self.remote_cseq)
        return {key: str(value) for key, value in fields.items()}

    @classmethod
    def from_hash(cls, fields: Mapping[str, str]) -> CallRecord:
        """The record a hash holds; raises RecordError for one that is missing a field or
        garbled (a survivor skips it rather than fail the others)."""
        try:
            route_set = json.loads(fields.get("route_set") or "[]")
            if not isinstance(route_set, list) or not all(isinstance(r, str) for r in route_set):
                raise RecordError("route_set is not a list of strings")
            remote_cseq = fields.get("remote_cseq", "")
            record = cls(
                **{key: fields[key] for key in _TEXT_FIELDS},
                route_set=tuple(route_set),
                local_cseq=int(fields["local_cseq"]),
                remote_cseq=int(remote_cseq) if remote_cseq else None,
                priority=int(fields.get("priority") or 0),
                **{key: fields.get(key, _DEFAULTS[key]) for key in _DEFAULTS},
            )
            parse_peer(record.peer)
        except KeyError as error:
            raise RecordError(f"call record without {error.args[0]}") from None
        except ValueError as error:
            raise RecordError(f"garbled call record: {error}") from None
        return record

    def moved_to(self, node: str, dialog: Dialog) -> CallRecord:
        """The record once `node` carries the call on `dialog` (its CSeq moved on)."""
        fields: dict[str, Any] = asdict(self)
        fields.update(node=node, local_cseq=dialog.local_cseq, route_set=self.route_set)
        return CallRecord(**fields)

    def dialog(self, local_contact: str, peer: Peer) -> Dialog:
        """The call's dialog on the node taking it over: the same Call-ID, tags and route set,
        its Contact ours (`local_contact`: the phone's next requests come here), its requests
        sent to `peer` (see next_hop), and a CSeq past the dead node's. Raises RecordError for
        an unreadable address."""
        try:
            return Dialog(
                call_id=self.call_id,
                local_tag=self.local_tag,
                remote_tag=self.remote_tag,
                local=Address.parse(self.local),
                remote=Address.parse(self.remote),
                remote_target=SipUri.parse(self.remote_target),
                peer=peer,
                local_contact=local_contact,
                route_set=list(self.route_set),
                local_cseq=self.local_cseq + CSEQ_MARGIN,
                remote_cseq=self.remote_cseq,
            )
        except ValueError as error:
            raise RecordError(f"call record with a bad address: {error}") from None


_TEXT_FIELDS = (
    "node", "room", "participant", "name", "kind", "direction", "remote_uri", "call_id",
    "local_tag", "remote_tag", "local", "remote", "remote_target", "peer",
)  # fmt: skip
_DEFAULTS = {
    "policy": "{}", "codec": "", "negotiation": "{}", "trunk": "", "gateway": "",
    "changes": "{}", "whispers": "[]",
}  # fmt: skip


def peer_text(peer: Peer) -> str:
    return f"{peer.transport}:{peer.host}:{peer.port}"


def parse_peer(text: str) -> Peer:
    """The Peer `peer_text` wrote ("udp:10.0.0.5:5060", an IPv6 host keeps its colons);
    raises ValueError."""
    transport, _, rest = text.partition(":")
    host, _, port = rest.rpartition(":")
    if transport not in ("udp", "tcp", "tls") or not host or not port.isdigit():
        raise ValueError(f"bad peer {text!r}")
    return Peer(transport, host, int(port))


def next_hop(record: CallRecord) -> SipUri | None:
    """Where the survivor sends the call's requests, when not where the dead node did: the
    first hop of the route set (Kamailio, which keeps the phone's NAT binding), else the
    phone's Contact over TCP or TLS (the dead node's connection is gone and the phone's end of
    it listens to nobody). None: the recorded peer, the phone's own UDP address. Raises
    RecordError for an unreadable URI."""
    try:
        if record.route_set:
            return Address.parse(record.route_set[0]).uri
        if parse_peer(record.peer).transport != "udp":
            return SipUri.parse(record.remote_target)
    except ValueError as error:
        raise RecordError(f"call record with a bad route: {error}") from None
    return None


def takeover_plan(record: CallRecord) -> str:
    """What the node that reopened the record's room does with the call: a configured radio
    gateway is its claimant's to call again; a phone's call (inbound or dialled) is
    re-INVITEd in its dialog; a radio gateway that called in is left to call again (its
    radio session terms are not recorded)."""
    if record.gateway:
        return GATEWAY
    if record.kind != "sip":
        return GIVE_UP
    return REINVITE


def after_refusal(record: CallRecord) -> str:
    """The re-INVITE failed (481: the phone forgot the dialog; 408: no answer): a dial-out
    is dialled again, an inbound call is given up (we cannot call a caller back reliably)."""
    return REDIAL if record.direction == "outbound" else GIVE_UP
