"""Join one benchmark leg to a Janus AudioBridge room as a plain RTP participant.

    python -m bench.adapters.janus_audiobridge --url http://127.0.0.1:PORT/janus < offer.sdp

Reads our leg's SDP offer on stdin, creates a Janus session, attaches
`janus.plugin.audiobridge`, creates the room `$LEG_ROOM` if it does not exist (the plugin must
use string room ids, `string_ids = true`, as bench/janus.py configures it), joins it with an
`rtp` object pointing at the offer's address and port, and prints an SDP answer with the
address and port AudioBridge gave in its `joined` event. The Janus session is left behind for
the leg's lifetime, so Janus must run with `session_timeout = 0`.

`--destroy` destroys `$LEG_ROOM` instead (kicking its participants): the benchmark's cleanup
command between runs. With `--state DIR`, joins note their Janus session in DIR/ROOM.sessions
so that `--destroy` ends those sessions too (freeing their RTP ports), and errors are appended to
DIR/errors.log as well (the load generator does not show an exchange command's stderr). Exits 1
with a message on stderr on any Janus error."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from mediacore.sdp import SdpError, SessionDescription

PLUGIN = "janus.plugin.audiobridge"
ROOM_EXISTS = 486  # JANUS_AUDIOBRIDGE_ERROR_ROOM_EXISTS
NO_SUCH_ROOM = 485  # JANUS_AUDIOBRIDGE_ERROR_NO_SUCH_ROOM
CODECS = {"pcmu": (0, "PCMU/8000"), "pcma": (8, "PCMA/8000")}


class JanusError(RuntimeError):
    pass


class Janus:
    """A Janus API session over the HTTP transport, with one AudioBridge handle."""

    def __init__(self, url: str, timeout: float = 15.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        created = self._post(self.url, {"janus": "create"})
        self.session = int(created["data"]["id"])
        attached = self._post(f"{self.url}/{self.session}", {"janus": "attach", "plugin": PLUGIN})
        self.handle = int(attached["data"]["id"])

    def _post(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        body = {**body, "transaction": secrets.token_hex(8)}
        request = urllib.request.Request(
            url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                reply: dict[str, Any] = json.load(response)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise JanusError(f"{body['janus']} at {url}: {exc}") from None
        if reply.get("janus") == "error":
            error = reply.get("error", {})
            raise JanusError(
                f"{body['janus']}: Janus error {error.get('code')}: {error.get('reason')}"
            )
        reply["transaction"] = body["transaction"]
        return reply

    def request(self, body: dict[str, Any]) -> dict[str, Any]:
        """A synchronous plugin request; returns the plugin's data."""
        reply = self._post(
            f"{self.url}/{self.session}/{self.handle}", {"janus": "message", "body": body}
        )
        return _plugin_data(reply)

    def message(self, body: dict[str, Any]) -> dict[str, Any]:
        """An asynchronous plugin request (join): waits for its event; returns the plugin's data."""
        reply = self._post(
            f"{self.url}/{self.session}/{self.handle}", {"janus": "message", "body": body}
        )
        if reply.get("janus") != "ack":
            return _plugin_data(reply)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            query = f"{self.url}/{self.session}?maxev=10&rid={int(time.time() * 1000)}"
            try:
                with urllib.request.urlopen(query, timeout=self.timeout + 35) as response:
                    events = json.load(response)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                raise JanusError(f"waiting for the {body['request']} event: {exc}") from None
            for event in events if isinstance(events, list) else [events]:
                if (
                    event.get("janus") == "event"
                    and event.get("transaction") == reply["transaction"]
                ):
                    return _plugin_data(event)
        raise JanusError(f"no event for {body['request']} within {self.timeout:.0f} s")

    def destroy(self) -> None:
        self._post(f"{self.url}/{self.session}", {"janus": "destroy"})


def _plugin_data(reply: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = reply.get("plugindata", {}).get("data", {})
    if "error_code" in data:
        raise JanusError(f"AudioBridge error {data['error_code']}: {data.get('error')}")
    return data


def _offer_address(offer: SessionDescription) -> tuple[str, int]:
    audio = next((m for m in offer.media if m.kind == "audio" and m.port), None)
    if audio is None:
        raise JanusError("the offer has no audio stream")
    connection = audio.connection or offer.connection
    if connection is None:
        raise JanusError("the offer has no c= line")
    return connection.address, audio.port


def answer_sdp(ip: str, port: int, codec: str) -> str:
    payload_type, rtpmap = CODECS[codec]
    family = "IP6" if ":" in ip else "IP4"
    session = secrets.randbits(40)
    return (
        "\r\n".join(
            [
                "v=0",
                f"o=janus {session} 1 IN {family} {ip}",
                "s=Janus AudioBridge",
                f"c=IN {family} {ip}",
                "t=0 0",
                f"m=audio {port} RTP/AVP {payload_type}",
                f"a=rtpmap:{payload_type} {rtpmap}",
                "a=ptime:20",
                "a=sendrecv",
            ]
        )
        + "\r\n"
    )


def ensure_room(janus: Janus, room: str, args: argparse.Namespace) -> None:
    if janus.request({"request": "exists", "room": room}).get("exists"):
        return
    create = {
        "request": "create",
        "room": room,
        "description": f"mediacore bench {room}",
        "sampling_rate": args.sampling_rate,
        "audiolevel_ext": False,
        "allow_rtp_participants": True,
        "record": False,
    }
    if args.prebuffer is not None:
        create["default_prebuffering"] = args.prebuffer
    try:
        janus.request(create)
    except JanusError as exc:
        if str(ROOM_EXISTS) not in str(exc):  # another leg created it first
            raise


def join(args: argparse.Namespace, offer_text: str, name: str, room: str) -> str:
    try:
        offer = SessionDescription.parse(offer_text)
    except SdpError as exc:
        raise JanusError(f"bad SDP offer: {exc}") from None
    ip, port = _offer_address(offer)
    janus = Janus(args.url, args.timeout)
    ensure_room(janus, room, args)
    join_request: dict[str, Any] = {
        "request": "join",
        "room": room,
        "display": name,
        "muted": False,
        "codec": args.codec,
        "rtp": {"ip": ip, "port": port, "payload_type": CODECS[args.codec][0], "fec": False},
    }
    if args.prebuffer is not None:
        join_request["prebuffer"] = args.prebuffer
    joined = janus.message(join_request)
    if joined.get("audiobridge") != "joined" or "rtp" not in joined:
        raise JanusError(f"unexpected reply to join: {json.dumps(joined)[:300]}")
    if args.state:
        with open(_sessions_file(args.state, room), "a") as sessions:
            sessions.write(f"{janus.session}\n")
    return answer_sdp(joined["rtp"]["ip"], int(joined["rtp"]["port"]), args.codec)


def _sessions_file(state: str, room: str) -> Path:
    folder = Path(state)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{room.replace('/', '_')}.sessions"


def destroy_room(args: argparse.Namespace, room: str) -> None:
    janus = Janus(args.url, args.timeout)
    try:
        janus.request({"request": "destroy", "room": room})
    except JanusError as exc:
        if str(NO_SUCH_ROOM) not in str(exc):
            raise
    finally:
        janus.destroy()
    if args.state:
        path = _sessions_file(args.state, room)
        sessions = path.read_text().split() if path.exists() else []
        for session in sessions:
            try:
                janus._post(f"{janus.url}/{session}", {"janus": "destroy"})
            except JanusError:
                pass  # already gone
        path.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.adapters.janus_audiobridge",
        description="exchange command: join a leg to a Janus AudioBridge room via plain RTP",
    )
    parser.add_argument(
        "--url", required=True, help="Janus HTTP API, e.g. http://127.0.0.1:8088/janus"
    )
    parser.add_argument("--codec", choices=sorted(CODECS), default="pcmu")
    parser.add_argument("--sampling-rate", type=int, default=48000, help="rate of new rooms' mix")
    parser.add_argument(
        "--prebuffer", type=int, help="packets AudioBridge buffers before decoding (its default: 6)"
    )
    parser.add_argument("--timeout", type=float, default=15.0)
    parser.add_argument("--state", help="folder for session ids (for --destroy) and errors.log")
    parser.add_argument(
        "--destroy", action="store_true", help="destroy $LEG_ROOM instead of joining it"
    )
    args = parser.parse_args(argv)
    room = os.environ.get("LEG_ROOM")
    if not room:
        print("janus_audiobridge: LEG_ROOM is not set", file=sys.stderr)
        return 2
    try:
        if args.destroy:
            destroy_room(args, room)
        else:
            name = os.environ.get("LEG_NAME", "bench-leg")
            sys.stdout.write(join(args, sys.stdin.read(), name, room))
    except JanusError as exc:
        message = f"janus_audiobridge: {room}: {exc}"
        print(message, file=sys.stderr)
        if args.state:
            Path(args.state).mkdir(parents=True, exist_ok=True)
            with open(Path(args.state) / "errors.log", "a") as log:
                log.write(message + "\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
