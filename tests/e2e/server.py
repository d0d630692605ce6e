"""The e2e tests drive the same server harness as the benchmarks."""

import json

from bench.serverproc import TOKEN, ServerProcess, free_tcp_port

SIPP_USER, SIPP_PASSWORD = "sipp", "sipp-secret"


def sipp_config(**sip: object) -> str:
    """Server TOML with a `sipp` SIP account and these [sip] keys. sipp 3.6 answers only MD5
    challenges and gives up when SHA-256 comes first, so MD5 is offered first."""
    keys = {"digest_algorithms": "MD5,SHA-256", **sip}
    lines = ["[sip]", *(f"{key} = {json.dumps(value)}" for key, value in keys.items())]
    lines += ["", "[[sip.users]]", f'user = "{SIPP_USER}"', f'password = "{SIPP_PASSWORD}"']
    return "\n".join([*lines, 'role = "operator"', ""])


__all__ = ["SIPP_PASSWORD", "SIPP_USER", "TOKEN", "ServerProcess", "free_tcp_port", "sipp_config"]
