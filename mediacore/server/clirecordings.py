"""`mediacore recordings ...`: list, verify and export recordings from the terminal.

`verify` works on a data directory directly (`--data-dir`, no server needed: what a reviewer
runs on a copied archive) or through a running server's API; `list` and `export` use the API."""

from __future__ import annotations

import argparse
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

from mediacore.server import cliview
from recorder.verify import verify_recording

EXPORT_POLL = 0.5
FILTERS = ("room", "participant", "since", "until", "event", "source")


def add_parser(commands: Any) -> None:
    recordings = commands.add_parser("recordings", help="list, verify and export recordings")
    actions = recordings.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="search recordings")
    for option in FILTERS:
        listing.add_argument(f"--{option}")
    verify = actions.add_parser("verify", help="check a recording's hashes and chain")
    verify.add_argument("id")
    verify.add_argument("--data-dir", help="verify on disk, without a server")
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
    for parser in (listing, verify, export):
        cliview.add_connection_options(parser)


def run(args: argparse.Namespace) -> int:
    try:
        api = cliview.ServerApi.from_args(args)
        if args.action == "list":
            print(_listing(args, api))
            return 0
        if args.action == "verify":
            return _verify(args, api)
        return _export(args, api)
    except RuntimeError as error:
        print(f"mediacore: {error}", file=sys.stderr)
        return 1


def _listing(args: argparse.Namespace, api: cliview.ServerApi) -> str:
    query = {
        k: getattr(args, k) for k in ("room", "participant", "since", "until", "event", "source")
    }
    text = "&".join(f"{k}={urllib.parse.quote(v)}" for k, v in query.items() if v)
    found = api.fetch("/api/v1/recordings" + (f"?{text}" if text else ""))
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
        report = verify_recording(directory)
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
    return 0


def _progress_bar(fraction: float) -> None:
    filled = int(fraction * 30)
    print(
        f"\rexporting [{'#' * filled}{'.' * (30 - filled)}] {fraction:4.0%}",
        end="",
        file=sys.stderr,
    )
