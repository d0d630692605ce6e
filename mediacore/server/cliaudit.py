"""`mediacore audit ...`: search the audit log of a running server, or verify it, through the
API or offline on a data directory (`--data-dir`, with the server's public key)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mediacore.chainedlog import read_lines, verify_chain
from mediacore.server import cliview
from mediacore.server.auditlog import AUDIT_FILE, CHAIN_NAME
from mediacore.signing import verifier_key

FILTERS = ("since", "until", "who", "action", "room", "recording")


def add_parser(commands: Any) -> None:
    audit = commands.add_parser("audit", help="search or verify the audit log")
    # Not "action": that is a filter of `list` (--action), and would overwrite the verb.
    actions = audit.add_subparsers(dest="verb", required=True)
    listing = actions.add_parser("list", help="search control actions")
    cliview.add_filter_options(listing, FILTERS)
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--offset", type=int, default=0)
    verify = actions.add_parser("verify", help="check the chain and every signature")
    verify.add_argument("--data-dir", help="verify on disk, without a server")
    verify.add_argument("--public-key", help="the server's public key, PEM (with --data-dir)")
    for parser in (listing, verify):
        cliview.add_connection_options(parser)


def run(args: argparse.Namespace) -> int:
    return cliview.run_against_server(args, _listing if args.verb == "list" else _verify)


def _listing(args: argparse.Namespace, api: cliview.ServerApi) -> int:
    print(_entries(args, api))
    return 0


def _entries(args: argparse.Namespace, api: cliview.ServerApi) -> str:
    query = cliview.filter_query(args, FILTERS, limit=str(args.limit), offset=str(args.offset))
    found = api.fetch(f"/api/v1/audit{query}")
    if not found:
        return "no entries"
    rows = [
        [str(e.get("at")), str(e.get("who") or "-"), str(e.get("role") or "-"),
         str(e.get("address") or "-"), str(e.get("action")), str(e.get("room") or ""),
         str(e.get("result", ""))]
        for e in found
    ]  # fmt: skip
    return cliview.table(rows, ["at", "who", "role", "address", "action", "room", "result"])


def _verify(args: argparse.Namespace, api: cliview.ServerApi) -> int:
    if args.data_dir:
        data_dir = Path(args.data_dir)
        key = verifier_key(args.public_key, data_dir)
        report = verify_chain(CHAIN_NAME, read_lines(data_dir / AUDIT_FILE), key)
        ok, problems, entries, head = report.ok, report.problems, len(report.entries), report.head
    else:
        answer = api.fetch("/api/v1/audit/verify")
        ok, problems = answer["ok"], answer["problems"]
        entries, head = answer["entries"], answer["head"]
    for problem in problems:
        print(f"{problem['problem']}: line {problem.get('line')} {problem.get('detail', '')}")
    print(f"audit: {entries} entries, head {head}: {'OK' if ok else 'ALTERED'}")
    return 0 if ok else 3
