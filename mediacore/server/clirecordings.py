"""`mediacore recordings ...`: list, verify and export recordings from the terminal.

`verify` and `verify-ledger` work on a data directory directly (`--data-dir`, no server
needed: what a reviewer runs on a copied archive), checking signatures with the server's public
key (`--public-key`, default `<data-dir>/keys/signing.key.pub`; a careful verifier passes the
copy it took from `mediacore recordings public-key` when the recordings were handed over), or
through a running server's API; `list` and `export` use the API."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from mediacore.server import cliview
from mediacore.signing import verifier_key
from recorder.ledger import LEDGER_FILE, verify_ledger
from recorder.verify import verify_recording

EXPORT_POLL = 0.5
FILTERS = ("room", "participant", "since", "until", "event", "source")


def add_parser(commands: Any) -> None:
    recordings = commands.add_parser("recordings", help="list, verify and export recordings")
    actions = recordings.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="search recordings")
    cliview.add_filter_options(listing, FILTERS)
    verify = actions.add_parser("verify", help="check a recording's hashes and chain")
    verify.add_argument("id")
    verify.add_argument("--data-dir", help="verify on disk, without a server")
    ledger = actions.add_parser(
        "verify-ledger", help="check the ledger of sealed recordings against the recordings"
    )
    ledger.add_argument("--data-dir", help="verify on disk, without a server")
    for offline in (verify, ledger):
        offline.add_argument("--public-key", help="the server's public key, PEM (with --data-dir)")
    public = actions.add_parser("public-key", help="print the server's public key (PEM)")
    public.add_argument("--data-dir", help="read it from the data directory, without a server")
    export = actions.add_parser("export", help="export a time slice: WAV, Opus or MP4/WebM")
    export.add_argument("id")
    export.add_argument("--from-s", type=float, help="seconds from the recording's start")
    export.add_argument("--to-s", type=float, help="seconds from the recording's start")
    export.add_argument("--tracks", help="comma-separated track ids (default: the mix)")
    export.add_argument(
        "--format",
        choices=("wav", "opus", "video"),
        default="wav",
        help="video: --tracks names a video track first, then the audio to mix (default the mix)",
    )
    export.add_argument("--out", required=True, help="file to write")
    export.add_argument(
        "--audit",
        help="also write the audit entries of the recording's room over its time "
        "(JSON lines, each signed) to this file",
    )
    for parser in (listing, verify, ledger, public, export):
        cliview.add_connection_options(parser)


def run(args: argparse.Namespace) -> int:
    return cliview.run_against_server(args, _ACTIONS[args.action])


def _listing(args: argparse.Namespace, api: cliview.ServerApi) -> int:
    print(_recordings(args, api))
    return 0


def _recordings(args: argparse.Namespace, api: cliview.ServerApi) -> str:
    found = api.fetch(f"/api/v1/recordings{cliview.filter_query(args, FILTERS)}")
    if not found:
        return "no recordings"
    rows = [
        [r["id"], r["room"], r["state"], r.get("started_at") or "-", r.get("stopped_at") or "-",
         "hold" if r.get("legal_hold") else "", str(len(r.get("matches") or []) or "")]
        for r in found
    ]  # fmt: skip
    return cliview.table(rows, ["id", "room", "state", "started", "stopped", "", "matches"])


def _verify(args: argparse.Namespace, api: cliview.ServerApi) -> int:
    if args.data_dir:
        directory = Path(args.data_dir) / "recordings" / args.id
        if not directory.is_dir():
            raise RuntimeError(f"no recording {args.id} in {args.data_dir}")
        report = verify_recording(directory, verifier_key(args.public_key, Path(args.data_dir)))
        ok, problems = report.ok, report.problems
    else:
        answer = api.fetch(f"/api/v1/recordings/{args.id}/verify")
        ok, problems = answer["ok"], answer["problems"]
    for problem in problems:
        where = " ".join(
            f"{key} {problem[key]}" for key in ("track", "segment") if problem.get(key) is not None
        )
        print(f"{problem['problem']}: {where} {problem.get('detail', '')}".strip())
    print(f"{args.id}: {'OK, unaltered' if ok else 'ALTERED OR DAMAGED'}")
    return 0 if ok else 3


def _verify_ledger(args: argparse.Namespace, api: cliview.ServerApi) -> int:
    if args.data_dir:
        data_dir = Path(args.data_dir)
        answer = verify_ledger(
            data_dir / LEDGER_FILE,
            data_dir / "recordings",
            verifier_key(args.public_key, Path(args.data_dir)),
        ).to_json()
    else:
        answer = api.fetch("/api/v1/recordings/ledger/verify")
    for problem in answer["problems"]:
        where = problem.get("recording") or f"line {problem.get('line')}"
        print(f"{problem['problem']}: {where} {problem.get('detail', '')}".strip())
    verdict = "OK, complete" if answer["ok"] else "RECORDINGS MISSING, ADDED OR ALTERED"
    print(f"ledger: {answer['entries']} entries, head {answer['head']}: {verdict}")
    return 0 if answer["ok"] else 3


def _public_key(args: argparse.Namespace, api: cliview.ServerApi) -> int:
    if args.data_dir:
        pem = verifier_key(None, Path(args.data_dir)).pem()
    else:
        pem = str(api.fetch("/api/v1/recordings/public-key")["pem"])
    print(pem, end="")
    return 0


def _export(args: argparse.Namespace, api: cliview.ServerApi) -> int:
    body: dict[str, Any] = {"format": args.format}
    if args.from_s is not None:
        body["from_s"] = args.from_s
    if args.to_s is not None:
        body["to_s"] = args.to_s
    if args.tracks:
        body["tracks"] = [t.strip() for t in args.tracks.split(",") if t.strip()]
    job = api.fetch(f"/api/v1/recordings/{args.id}/exports", body)
    while job["state"] in ("queued", "running"):
        _progress_bar(job["progress"])
        time.sleep(EXPORT_POLL)
        job = api.fetch(f"/api/v1/exports/{job['id']}")
    _progress_bar(1.0 if job["state"] == "done" else job["progress"])
    print(file=sys.stderr)
    if job["state"] != "done":
        raise RuntimeError(f"export failed: {job.get('error')}")
    with api.open(job["url"]) as response, open(args.out, "wb") as out:
        while chunk := response.read(1 << 16):
            out.write(chunk)
    print(f"wrote {args.out} ({job.get('duration_s')} s)")
    if args.audit:
        entries = api.fetch(f"/api/v1/recordings/{args.id}/audit")
        with open(args.audit, "w", encoding="utf-8") as out:
            out.writelines(json.dumps(entry, ensure_ascii=False) + "\n" for entry in entries)
        print(f"wrote {args.audit} ({len(entries)} audit entries)")
    return 0


def _progress_bar(fraction: float) -> None:
    filled = int(fraction * 30)
    print(
        f"\rexporting [{'#' * filled}{'.' * (30 - filled)}] {fraction:4.0%}",
        end="",
        file=sys.stderr,
    )


_ACTIONS = {
    "list": _listing,
    "verify": _verify,
    "verify-ledger": _verify_ledger,
    "public-key": _public_key,
    "export": _export,
}
