"""How a leg's media is protected: SRTP required, offered or refused, and whether its peer is
behind NAT (it may then latch onto its real address early in the call). Set per SIP account,
trunk and radio gateway, with the server's `[sip] srtp` as the default."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mediacore.sdes import SrtpMode, check_mode


@dataclass(frozen=True, slots=True)
class LegPolicy:
    srtp: SrtpMode = "off"
    nat: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"srtp": self.srtp, "nat": self.nat}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> LegPolicy:
        """The policy `to_json` wrote (None: the default); raises ValueError for a bad mode."""
        if not data:
            return cls()
        return cls(check_mode(data.get("srtp", "off")), bool(data.get("nat", False)))


PLAIN_RTP = LegPolicy()  # no SRTP, no latching: legs made without a policy
