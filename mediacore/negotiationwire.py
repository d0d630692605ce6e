"""An agreed audio negotiation as plain JSON: how a leg's terms cross the control channel.

The control process answers a re-INVITE (it holds the SIP dialog); the media worker that runs
the leg applies the new terms. Both ends name the codec by encoding name, rate and channels.
SRTP keys travel too (the channel is the server's own, between its processes): the worker's leg
encrypts with them and control answers re-INVITEs with the same key; never log this JSON."""

from __future__ import annotations

import base64
from typing import Any

from mediacore.codecs import registry
from mediacore.offeranswer import AudioNegotiation, OfferAnswerError
from mediacore.sdes import SrtpKeys
from mediacore.sdp import Extmap


def negotiation_to_json(negotiation: AudioNegotiation) -> dict[str, Any]:
    """The negotiation as plain JSON (to hand a leg's new terms to the process that runs it)."""
    codec = negotiation.codec
    return {
        "codec": {"name": codec.name, "clock_rate": codec.clock_rate, "channels": codec.channels},
        "payload_type": negotiation.payload_type,
        "ptime": negotiation.ptime,
        "telephone_event_pt": negotiation.telephone_event_pt,
        "remote_address": negotiation.remote_address,
        "remote_port": negotiation.remote_port,
        "remote_rtcp": list(negotiation.remote_rtcp) if negotiation.remote_rtcp else None,
        "rtcp_mux": negotiation.rtcp_mux,
        "direction": negotiation.direction,
        "fmtp": negotiation.fmtp,
        "extmaps": [
            {"id": e.id, "uri": e.uri, "direction": e.direction, "attributes": e.attributes}
            for e in negotiation.extmaps
        ],
        "srtp": _keys_to_json(negotiation.srtp),
    }


def negotiation_from_json(data: dict[str, Any]) -> AudioNegotiation:
    """The negotiation `negotiation_to_json` wrote; raises OfferAnswerError for an unknown codec."""
    codec = registry.lookup(
        data["codec"]["name"], data["codec"]["clock_rate"], data["codec"]["channels"]
    )
    if codec is None:
        raise OfferAnswerError(
            "no-common-codec", f"codec {data['codec']['name']} is not supported here"
        )
    rtcp = data["remote_rtcp"]
    return AudioNegotiation(
        codec=codec,
        payload_type=data["payload_type"],
        ptime=data["ptime"],
        telephone_event_pt=data["telephone_event_pt"],
        remote_address=data["remote_address"],
        remote_port=data["remote_port"],
        remote_rtcp=(rtcp[0], rtcp[1]) if rtcp else None,
        rtcp_mux=data["rtcp_mux"],
        direction=data["direction"],
        fmtp=data["fmtp"],
        extmaps=tuple(Extmap(**e) for e in data["extmaps"]),
        srtp=_keys_from_json(data.get("srtp")),
    )


def _keys_to_json(keys: SrtpKeys | None) -> dict[str, str] | None:
    if keys is None:
        return None
    return {
        "suite": keys.suite,
        "local_key": base64.b64encode(keys.local_key).decode("ascii"),
        "remote_key": base64.b64encode(keys.remote_key).decode("ascii"),
    }


def _keys_from_json(data: dict[str, str] | None) -> SrtpKeys | None:
    if data is None:
        return None
    return SrtpKeys(
        data["suite"], base64.b64decode(data["local_key"]), base64.b64decode(data["remote_key"])
    )
