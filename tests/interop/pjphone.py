"""A real SIP phone (pjsua2) driven by JSON lines, one process per phone.

    python -m tests.interop.pjphone --host 127.0.0.1 --sip-port 0 --rtp-port 40000

Commands arrive one JSON object per line on stdin; replies and events leave one JSON object per
line on stdout, and nothing else does (pjsip's own console output is moved to stderr). Each
command is {"id": n, "cmd": name, ...args}; its reply is {"id": n, "ok": true, ...} or
{"id": n, "ok": false, "error": "..."}. Events carry "event" instead of "id".

Commands: account, register, codecs, call, answer, auto_answer, play, record, stop_record, dtmf,
hold, unhold, xfer, xfer_replaces, hangup, message, call_message, state, quit (see the `cmd_*`
methods). Texts (SIP MESSAGE) the phone receives are "im" events; the outcome of those it sends,
"im_status" events. Calls are named by an index that this phone hands out and never reuses
(pjsua's own call ids are recycled).

Why a process per phone: the pjsua2 wheel is built with PJSUA_MAX_CALLS = 4 and allows one
Endpoint per process. Why os._exit: pjsua2 asserts at interpreter exit when Call objects outlive
libDestroy(), so the process ends without running Python's teardown.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pjsua2 as pj

INV_STATES = {
    pj.PJSIP_INV_STATE_NULL: "NULL",
    pj.PJSIP_INV_STATE_CALLING: "CALLING",
    pj.PJSIP_INV_STATE_INCOMING: "INCOMING",
    pj.PJSIP_INV_STATE_EARLY: "EARLY",
    pj.PJSIP_INV_STATE_CONNECTING: "CONNECTING",
    pj.PJSIP_INV_STATE_CONFIRMED: "CONFIRMED",
    pj.PJSIP_INV_STATE_DISCONNECTED: "DISCONNECTED",
}
MEDIA_STATUS = {
    pj.PJSUA_CALL_MEDIA_NONE: "NONE",
    pj.PJSUA_CALL_MEDIA_ACTIVE: "ACTIVE",
    pj.PJSUA_CALL_MEDIA_LOCAL_HOLD: "LOCAL_HOLD",
    pj.PJSUA_CALL_MEDIA_REMOTE_HOLD: "REMOTE_HOLD",
    pj.PJSUA_CALL_MEDIA_ERROR: "ERROR",
}
# pjmedia_dir: which way a stream carries audio, from this phone's point of view.
MEDIA_DIRS = {0: "inactive", 1: "sendonly", 2: "recvonly", 3: "sendrecv"}
DTMF_METHODS = {"rfc2833": pj.PJSUA_DTMF_METHOD_RFC2833, "info": pj.PJSUA_DTMF_METHOD_SIP_INFO}
TRANSPORTS = {
    "udp": pj.PJSIP_TRANSPORT_UDP,
    "tcp": pj.PJSIP_TRANSPORT_TCP,
    "tls": pj.PJSIP_TRANSPORT_TLS,
}


class CommandError(Exception):
    """A command that cannot be carried out; its text becomes the reply's "error"."""


def error_text(exc: BaseException) -> str:
    # pjsua2 raises pj.Error, whose str() says little; its fields say what failed and why.
    if isinstance(exc, pj.Error):
        # title is the failing C call with all its arguments: its function name is enough.
        return f"{exc.title.split('(')[0]}: {exc.reason} (status {exc.status})"
    return f"{type(exc).__name__}: {exc}"


def with_transport(uri: str, transport: str) -> str:
    """Adds ;transport=tcp (or tls) to a SIP URI that names none: without it pjsip resolves the
    URI to UDP, which an account bound to a TCP transport refuses to use."""
    if (
        transport == "udp"
        or "transport=" in uri.lower()
        or uri.lower().lstrip("<").startswith("sips:")
    ):
        return uri
    if uri.startswith("<") and uri.endswith(">"):
        return f"<{with_transport(uri[1:-1], transport)}>"
    return f"{uri};transport={transport}"


class PhoneCall(pj.Call):
    """One call, with the player and recorder that follow its audio across re-INVITEs."""

    def __init__(self, phone: PjPhone, account: pj.Account, index: int, call_id: int = -1):
        super().__init__(account, call_id)
        self.phone = phone
        self.account = account
        self.index = index
        self.play_wav: str | None = None
        self.play_loop = True
        self.player: pj.AudioMediaPlayer | None = None
        self.record_wav: str | None = None
        self.recorder: pj.AudioMediaRecorder | None = None
        self.ended = False

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        info = self.getInfo()
        state = INV_STATES.get(info.state, str(info.state))
        self.phone.emit(
            event="call",
            call=self.index,
            state=state,
            code=info.lastStatusCode,
            reason=info.lastReason,
        )
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            # Deleting a Call inside its own callback is unsafe: the main loop does it later.
            self.ended = True
            self.phone.later(0.0, self.phone.forget_call, self.index)

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        info = self.getInfo()
        for media in info.media:
            if media.type != pj.PJMEDIA_TYPE_AUDIO:
                continue
            status = MEDIA_STATUS.get(media.status, str(media.status))
            self.phone.emit(
                event="media",
                call=self.index,
                status=status,
                dir=MEDIA_DIRS.get(media.dir, str(media.dir)),
                codec=self.codec(media.index),
            )
            # The audio port may be new after every offer/answer, so connect again each time.
            if media.status in (pj.PJSUA_CALL_MEDIA_ACTIVE, pj.PJSUA_CALL_MEDIA_REMOTE_HOLD):
                self.connect_media()

    def onCallTransferRequest(self, prm: pj.OnCallTransferRequestParam) -> None:
        """A REFER to this phone: accept it (202) and place the new call as one of ours."""
        new = PhoneCall(self.phone, self.account, self.phone.new_index())
        self.phone.calls[new.index] = new
        prm.newCall = new
        self.phone.emit(event="transfer_request", call=self.index, to=prm.dstUri, new=new.index)

    def onCallTransferStatus(self, prm: pj.OnCallTransferStatusParam) -> None:
        """NOTIFYs about a REFER this phone sent (sipfrag status lines)."""
        self.phone.emit(
            event="transfer_status",
            call=self.index,
            code=prm.statusCode,
            reason=prm.reason,
            final=prm.finalNotify,
        )

    def onCallReplaced(self, prm: pj.OnCallReplacedParam) -> None:
        new = PhoneCall(self.phone, self.account, self.phone.new_index(), prm.newCallId)
        self.phone.calls[new.index] = new
        prm.newCall = new
        self.phone.emit(event="replaced", call=self.index, new=new.index)

    def onInstantMessageStatus(self, prm: pj.OnInstantMessageStatusParam) -> None:
        self.phone.emit(event="im_status", call=self.index, to=prm.toUri, code=prm.code,
                        reason=prm.reason, body=prm.msgBody)  # fmt: skip

    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:
        method = "info" if prm.method == pj.PJSUA_DTMF_METHOD_SIP_INFO else "rfc2833"
        self.phone.emit(event="dtmf", call=self.index, digit=prm.digit, method=method)

    def codec(self, media_index: int) -> str | None:
        try:
            stream = self.getStreamInfo(media_index)
        except pj.Error:
            return None  # no stream (yet, or any more)
        return f"{stream.codecName}/{stream.codecClockRate}"

    def audio(self) -> pj.AudioMedia | None:
        """The call's audio port in the conference bridge, None while there is none."""
        try:
            return self.getAudioMedia(-1)
        except pj.Error:
            return None

    def connect_media(self) -> None:
        """Connects the requested player and recorder once the call has an audio port."""
        audio = self.audio()
        if audio is None:
            return
        if self.play_wav is not None and self.player is None:
            self.player = pj.AudioMediaPlayer()
            self.player.createPlayer(
                self.play_wav, 0 if self.play_loop else pj.PJMEDIA_FILE_NO_LOOP
            )
        if self.player is not None:
            self.player.startTransmit(audio)
        if self.record_wav is not None and self.recorder is None:
            self.recorder = pj.AudioMediaRecorder()
            self.recorder.createRecorder(self.record_wav)
        if self.recorder is not None:
            audio.startTransmit(self.recorder)

    def stop_player(self) -> None:
        # Dropping the object destroys the player and removes it from the bridge.
        self.play_wav = None
        self.player = None

    def stop_recorder(self) -> None:
        # The WAV header gets its final sizes only when the recorder is destroyed.
        path, recorder = self.record_wav, self.recorder
        self.record_wav = None
        self.recorder = None
        if recorder is not None:
            del recorder
            self.phone.wait_for_wav(path)
            self.phone.emit(event="recorded", call=self.index, wav=path)


def wav_complete(path: str, seen: list[tuple[int, int, int]]) -> bool:
    """True once the WAV's header sizes match its length, unchanged since the last call."""
    try:
        with open(path, "rb") as wav:
            data = wav.read()
    except OSError:
        return False
    riff, data_size = int.from_bytes(data[4:8], "little"), int.from_bytes(data[40:44], "little")
    state = (len(data), riff, data_size)
    complete = bool(seen) and seen[-1] == state and riff == len(data) - 8 > 36
    seen.append(state)
    return complete and data_size == len(data) - 44


class PhoneAccount(pj.Account):
    def __init__(self, phone: PjPhone, transport: str):
        super().__init__()
        self.phone = phone
        self.transport = transport

    def onRegState(self, prm: pj.OnRegStateParam) -> None:
        info = self.getInfo()
        self.phone.registration_answers += 1
        # expires: what the registrar granted. (AccountInfo.regExpiresSec is the time left
        # until pjsua refreshes, 5 s short of that, and reads 4294967295 when unregistered.)
        self.phone.emit(
            event="reg",
            code=prm.code,
            reason=prm.reason,
            active=info.regIsActive,
            expires=prm.expiration if info.regIsActive else 0,
        )

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        self.phone.incoming(self, prm.callId)

    def onInstantMessage(self, prm: pj.OnInstantMessageParam) -> None:
        self.phone.emit(
            event="im",
            **{"from": prm.fromUri},
            to=prm.toUri,
            content_type=prm.contentType,
            body=prm.msgBody,
        )

    def onInstantMessageStatus(self, prm: pj.OnInstantMessageStatusParam) -> None:
        self.phone.emit(
            event="im_status", to=prm.toUri, code=prm.code, reason=prm.reason, body=prm.msgBody
        )


class PjPhone:
    def __init__(self, args: argparse.Namespace, out: Any):
        self.args = args
        self.out = out
        self.ep = pj.Endpoint()
        self.transports: dict[str, int] = {}
        self.default_codecs: dict[str, int] = {}
        self.local_account: PhoneAccount | None = None
        self.account: PhoneAccount | None = None
        self.calls: dict[int, PhoneCall] = {}
        self.buddies: list[pj.Buddy] = []  # peers texted with `message`
        self.registration_answers = 0  # final REGISTER answers reported by pjsua
        self.next_index = 0
        self.auto: dict[str, Any] | None = None
        self.timers: list[tuple[float, Callable[..., None], tuple[Any, ...]]] = []
        self.running = True

    # --- output -------------------------------------------------------------------------------

    def emit(self, **message: Any) -> None:
        self.out.write(json.dumps(message) + "\n")
        self.out.flush()

    def later(self, delay: float, fn: Callable[..., None], *args: Any) -> None:
        self.timers.append((time.monotonic() + delay, fn, args))

    # --- set-up -------------------------------------------------------------------------------

    def start(self) -> None:
        args = self.args
        # libCreate logs at level 4 before any LogConfig applies: send those lines nowhere.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        try:
            self.ep.libCreate()
        finally:
            flush_c_stdout()
            os.dup2(2, 1)
            os.close(devnull)
        cfg = pj.EpConfig()
        # No pjlib worker threads: the main thread polls, so every callback runs on it.
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.userAgent = "mediacore-pjphone"
        cfg.logConfig.consoleLevel = args.log_level_console
        cfg.logConfig.level = args.log_level if args.log_file else args.log_level_console
        if args.log_file:
            cfg.logConfig.filename = args.log_file
            cfg.logConfig.msgLogging = True
        # Measured audio must not be altered: no silence suppression, no echo canceller.
        cfg.medConfig.noVad = True
        cfg.medConfig.ecTailLen = 0
        self.ep.libInit(cfg)
        self.default_codecs = {c.codecId: c.priority for c in self.ep.codecEnum2()}
        self.transport(args.transport, args.sip_port)
        self.ep.libStart()
        self.ep.audDevManager().setNullDev()
        # Default account that never registers: receives direct calls, places calls when no
        # `account` command has been given.
        self.local_account = self.make_account(f"sip:{args.user}@{args.host}", args.transport)
        self.emit(event="ready", sip_port=self.sip_port(args.transport), transport=args.transport)

    def transport(self, kind: str, port: int = 0) -> int:
        """The transport id for udp or tcp, created (bound to --host) on first use."""
        if kind not in TRANSPORTS:
            raise CommandError(f"unknown transport {kind!r}")
        if kind not in self.transports:
            tcfg = pj.TransportConfig()
            tcfg.port = port
            # Bound and published on the test address, or pjsip offers the host's own address.
            tcfg.boundAddress = self.args.host
            tcfg.publicAddress = self.args.host
            if kind == "tls" and self.args.ca_file:
                # Checks the server's certificate against this CA file (its name too).
                tcfg.tlsConfig.CaListFile = self.args.ca_file
                tcfg.tlsConfig.verifyServer = True
            if kind == "tls" and self.args.tls_cert:  # what calls to this phone's TLS port meet
                tcfg.tlsConfig.certFile = self.args.tls_cert
                tcfg.tlsConfig.privKeyFile = self.args.tls_key
            self.transports[kind] = self.ep.transportCreate(TRANSPORTS[kind], tcfg)
        return self.transports[kind]

    def sip_port(self, kind: str) -> int:
        name = self.ep.transportGetInfo(self.transport(kind)).localName
        return int(name.rsplit(":", 1)[1])

    def make_account(
        self,
        id_uri: str,
        transport: str,
        registrar: str = "",
        auth: tuple[str, str, str] | None = None,
        proxy: str | None = None,
        srtp: str = "off",
    ) -> PhoneAccount:
        """Creates an account bound to one transport; the newest is the default for calls.
        `srtp` "optional" or "mandatory" offers SDES-keyed SRTP (RTP/SAVP when mandatory)."""
        args = self.args
        acfg = pj.AccountConfig()
        acfg.idUri = id_uri
        acfg.sipConfig.transportId = self.transport(transport)
        acfg.regConfig.registrarUri = registrar
        acfg.regConfig.registerOnAdd = bool(registrar)
        if auth is not None:
            realm, user, password = auth
            acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", realm, user, 0, password))
        if proxy:
            acfg.sipConfig.proxies.append(proxy)
        # Keep the Contact we registered: rewriting it re-registers behind the test's back.
        acfg.natConfig.contactRewriteUse = 0
        media = acfg.mediaConfig.transportConfig
        media.port = args.rtp_port
        media.portRange = args.rtp_range
        media.boundAddress = args.host
        media.publicAddress = args.host
        if srtp != "off":
            acfg.mediaConfig.srtpUse = (
                pj.PJMEDIA_SRTP_MANDATORY if srtp == "mandatory" else pj.PJMEDIA_SRTP_OPTIONAL
            )
            acfg.mediaConfig.srtpSecureSignaling = 0  # SDES keys over plain SIP (no TLS)
        account = PhoneAccount(self, transport)
        account.create(acfg, True)
        return account

    # --- main loop ----------------------------------------------------------------------------

    def run(self, commands: queue.Queue[str | None]) -> None:
        while self.running:
            while self.running:
                try:
                    line = commands.get_nowait()
                except queue.Empty:
                    break
                if line is None:  # stdin closed: the test process is gone
                    self.quit()
                    return
                self.handle(line)
            self.run_timers()
            self.ep.libHandleEvents(20)

    def run_timers(self) -> None:
        now = time.monotonic()
        due = [t for t in self.timers if t[0] <= now]
        self.timers = [t for t in self.timers if t[0] > now]
        for _, fn, fn_args in due:
            try:
                fn(*fn_args)
            except Exception as exc:  # a timer has no one to reply to: report it as an event
                self.emit(event="error", error=error_text(exc))

    def handle(self, line: str) -> None:
        try:
            message = json.loads(line)
        except ValueError as exc:
            self.emit(event="error", error=f"bad JSON: {exc}")
            return
        cid = message.pop("id", None)
        name = message.pop("cmd", "")
        method = getattr(self, f"cmd_{name}", None)
        try:
            if method is None:
                raise CommandError(f"unknown command {name!r}")
            result = method(**message) or {}
        except Exception as exc:
            self.emit(id=cid, ok=False, error=error_text(exc))
            return
        self.emit(id=cid, ok=True, **result)

    def get_call(self, call: int) -> PhoneCall:
        found = self.calls.get(call)
        if found is None or found.ended:
            raise CommandError(f"no call {call}")
        return found

    def new_index(self) -> int:
        self.next_index += 1
        return self.next_index - 1

    def forget_call(self, index: int) -> None:
        call = self.calls.pop(index, None)
        if call is not None:
            call.stop_player()
            call.stop_recorder()

    def incoming(self, account: PhoneAccount, call_id: int) -> None:
        call = PhoneCall(self, account, self.new_index(), call_id)
        self.calls[call.index] = call
        info = call.getInfo()
        self.emit(event="incoming", call=call.index, **{"from": info.remoteUri}, to=info.localUri)
        auto = self.auto
        if auto is None:
            self.answer(call, 180)  # ring until an `answer` command
            return
        if auto.get("play"):
            call.play_wav = auto["play"]
        if auto.get("record"):
            call.record_wav = auto["record"].replace("{call}", str(call.index))
        delay = auto.get("delay_ms", 0) / 1000.0
        if delay > 0:
            self.answer(call, 180)
            self.later(delay, self.answer_if_live, call.index, auto["code"])
        else:
            self.answer(call, auto["code"])

    def answer(self, call: PhoneCall, code: int) -> None:
        prm = pj.CallOpParam(True)
        prm.statusCode = code
        if code >= 300:
            call.hangup(prm)  # a final error answer is a hangup in pjsua
        else:
            call.answer(prm)

    def answer_if_live(self, index: int, code: int) -> None:
        call = self.calls.get(index)
        if call is not None and not call.ended:
            self.answer(call, code)

    def wait_for_wav(self, path: str | None, timeout: float = 2.0) -> None:
        """Waits until a closed recorder's WAV is complete: pjsua removes a recorder from its
        conference bridge asynchronously, so the last samples and the header's final sizes
        land a bridge tick or more after the recorder is destroyed."""
        if path is None:
            return
        seen: list[tuple[int, int, int]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not wav_complete(path, seen):
            self.ep.libHandleEvents(20)

    def quit(self) -> None:
        """Hangs up and unregisters, as a phone being switched off would. This is done here,
        not by libDestroy, because libDestroy then sleeps a fixed second whatever there is to
        wait for; after this, main() destroys with PJSUA_DESTROY_NO_NETWORK."""
        self.running = False
        self.ep.hangupAllCalls()
        account = self.account
        unregistering = False
        answers = self.registration_answers
        if account is not None and account.getInfo().regIsActive:
            try:
                account.setRegistration(False)
                unregistering = True
            except pj.Error:
                pass  # a registration already in progress: the registrar's timeout cleans up
        # Let the BYEs and the un-REGISTER be answered (its digest challenge included: pjsua
        # reports only the final answer), so the far end sees a clean goodbye.
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and (
            any(not c.ended for c in self.calls.values())
            or (unregistering and self.registration_answers == answers)
        ):
            self.ep.libHandleEvents(20)
        for index in list(self.calls):
            self.forget_call(index)

    # --- commands -----------------------------------------------------------------------------

    def cmd_account(
        self,
        user: str,
        registrar: str = "",
        password: str = "",
        realm: str = "*",
        register: bool = True,
        id_uri: str | None = None,
        transport: str | None = None,
        proxy: str | None = None,
        srtp: str = "off",
    ) -> dict[str, Any]:
        """Creates the phone's account (once); it becomes the default for calls."""
        if self.account is not None:
            raise CommandError("account already created; use `register` to change registration")
        transport = transport or self.args.transport
        if id_uri is None:
            # AOR domain = the registrar's host, or this phone's address without one.
            hostport = registrar.split(":", 1)[1] if registrar else self.args.host
            id_uri = f"sip:{user}@{hostport.split(';')[0].rsplit(':', 1)[0]}"
        if register and not registrar:
            raise CommandError("register needs a registrar")
        self.account = self.make_account(
            id_uri,
            transport,
            registrar=with_transport(registrar, transport) if register else "",
            auth=(realm, user, password) if password else None,
            proxy=with_transport(proxy, transport) if proxy else None,
            srtp=srtp,
        )
        return {"id_uri": id_uri}

    def cmd_register(self, on: bool = True) -> None:
        """Registers again (on) or unregisters (off) the account."""
        if self.account is None:
            raise CommandError("no account")
        self.account.setRegistration(on)

    def cmd_codecs(self, order: list[str] | None = None, only: bool = False) -> dict[str, Any]:
        """Puts the codecs named in `order` first, in that order (a name matches by prefix:
        "PCMU", "speex/16000"); the others keep their default priorities, or are disabled when
        `only`. Returns the resulting priorities by codec id."""
        names = [name.lower() for name in order or []]
        for codec_id, default in self.default_codecs.items():
            cid = codec_id.lower()
            rank = next((i for i, n in enumerate(names) if cid.startswith(n + "/")), None)
            if rank is not None:
                # Defaults are <= 130; 255 would read back as 254, so stay well below it.
                priority = 200 - rank
            else:
                priority = 0 if only else default
            self.ep.codecSetPriority(codec_id, priority)
        return {"codecs": {c.codecId: c.priority for c in self.ep.codecEnum2()}}

    def cmd_call(self, uri: str) -> dict[str, Any]:
        account = self.account or self.local_account
        assert account is not None
        call = PhoneCall(self, account, self.new_index())
        self.calls[call.index] = call
        try:
            call.makeCall(with_transport(uri, account.transport), pj.CallOpParam(True))
        except Exception:
            self.calls.pop(call.index)
            raise
        return {"call": call.index}

    def cmd_answer(self, call: int, code: int = 200) -> None:
        self.answer(self.get_call(call), code)

    def cmd_auto_answer(
        self,
        code: int | None = 200,
        delay_ms: int = 0,
        play: str | None = None,
        record: str | None = None,
    ) -> None:
        """Answers later incoming calls with `code` after `delay_ms` (ringing meanwhile);
        code null turns it off. `play` and `record` set up media for those calls; "{call}" in
        `record` becomes the call index."""
        self.auto = (
            None
            if code is None
            else {"code": code, "delay_ms": delay_ms, "play": play, "record": record}
        )

    def cmd_play(self, call: int, wav: str, loop: bool = True) -> None:
        target = self.get_call(call)
        target.stop_player()
        target.play_wav, target.play_loop = wav, loop
        target.connect_media()  # now if the call has audio, else on the next media state

    def cmd_stop_play(self, call: int) -> None:
        self.get_call(call).stop_player()

    def cmd_record(self, call: int, wav: str) -> None:
        target = self.get_call(call)
        target.stop_recorder()
        target.record_wav = wav
        target.connect_media()

    def cmd_stop_record(self, call: int) -> None:
        """Closes the recording (an ended call closes it by itself, with a "recorded" event)."""
        found = self.calls.get(call)
        if found is not None:
            found.stop_recorder()

    def cmd_dtmf(self, call: int, digits: str, method: str = "rfc2833") -> None:
        if method not in DTMF_METHODS:
            raise CommandError(f"unknown DTMF method {method!r}")
        prm = pj.CallSendDtmfParam()
        prm.digits = digits
        prm.method = DTMF_METHODS[method]
        self.get_call(call).sendDtmf(prm)

    def cmd_hold(self, call: int) -> None:
        self.get_call(call).setHold(pj.CallOpParam(True))

    def cmd_unhold(self, call: int) -> None:
        prm = pj.CallOpParam(True)
        prm.opt.flag = pj.PJSUA_CALL_UNHOLD
        self.get_call(call).reinvite(prm)

    def cmd_xfer(self, call: int, to: str) -> None:
        """Blind transfer (REFER) of `call` to `to`; progress arrives as transfer_status."""
        self.get_call(call).xfer(to, pj.CallOpParam(True))

    def cmd_xfer_replaces(self, call: int, dest: int) -> None:
        """Attended transfer: REFER on `call` whose Refer-To replaces the dialog of `dest`."""
        self.get_call(call).xferReplaces(self.get_call(dest), pj.CallOpParam(True))

    def cmd_hangup(self, call: int, code: int = 0) -> None:
        prm = pj.CallOpParam(True)
        prm.statusCode = code  # 0: pjsua picks (BYE, CANCEL or 603)
        self.get_call(call).hangup(prm)

    def cmd_message(self, uri: str, text: str, content_type: str = "text/plain") -> None:
        """Sends a SIP MESSAGE to `uri` from the account (the local one without); its outcome
        comes as an "im_status" event."""
        account = self.account or self.local_account
        assert account is not None
        config = pj.BuddyConfig()
        config.uri = with_transport(uri, account.transport)
        config.subscribe = False
        buddy = pj.Buddy()
        buddy.create(account, config)
        self.buddies.append(buddy)  # pjsua2 drops a Buddy whose Python object goes
        prm = pj.SendInstantMessageParam()
        prm.content = text
        prm.contentType = content_type
        buddy.sendInstantMessage(prm)

    def cmd_call_message(self, call: int, text: str, content_type: str = "text/plain") -> None:
        """Sends a SIP MESSAGE inside call `call`; its outcome comes as an "im_status" event."""
        prm = pj.SendInstantMessageParam()
        prm.content = text
        prm.contentType = content_type
        self.get_call(call).sendInstantMessage(prm)

    def cmd_state(self) -> dict[str, Any]:
        calls = []
        for index, call in self.calls.items():
            if call.ended:
                continue
            info = call.getInfo()
            media = [
                {
                    "status": MEDIA_STATUS.get(m.status, str(m.status)),
                    "dir": MEDIA_DIRS.get(m.dir, str(m.dir)),
                    "codec": call.codec(m.index),
                }
                for m in info.media
                if m.type == pj.PJMEDIA_TYPE_AUDIO
            ]
            calls.append(
                {
                    "call": index,
                    "state": INV_STATES.get(info.state, str(info.state)),
                    "code": info.lastStatusCode,
                    "remote": info.remoteUri,
                    "media": media,
                }
            )
        return {"calls": calls}

    def cmd_quit(self) -> None:
        self.quit()


def flush_c_stdout() -> None:
    """Flushes C stdio, where pjsip's console log waits (os._exit would drop it)."""
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):
        pass  # no C library to reach: the log lines are only lost, nothing breaks


def read_stdin(commands: queue.Queue[str | None]) -> None:
    """Feeds stdin lines to the main thread, which alone may call pjsua2."""
    for line in sys.stdin:
        if line.strip():
            commands.put(line)
    commands.put(None)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address for SIP and RTP")
    parser.add_argument("--sip-port", type=int, default=0, help="0: any free port")
    parser.add_argument("--transport", choices=sorted(TRANSPORTS), default="udp")
    parser.add_argument("--rtp-port", type=int, default=40000, help="first RTP port")
    parser.add_argument("--rtp-range", type=int, default=100, help="RTP ports to use")
    parser.add_argument("--user", default="phone", help="user part of the local account")
    parser.add_argument("--log-file", help="pjsip log (with SIP messages) for debugging")
    parser.add_argument("--ca-file", help="TLS: verify the server's certificate against this")
    parser.add_argument("--tls-cert", help="TLS: this phone's certificate (PEM)")
    parser.add_argument("--tls-key", help="TLS: the key of --tls-cert (PEM)")
    parser.add_argument("--log-level", type=int, default=5, help="level of the log file")
    parser.add_argument("--log-level-console", type=int, default=1, help="level on stderr")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    # stdout is the protocol channel: keep a private copy of it, then point fd 1 at stderr so
    # pjsip's console log (and any stray print) cannot corrupt the JSON stream.
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    commands: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=read_stdin, args=(commands,), daemon=True).start()
    phone = PjPhone(args, out)
    try:
        phone.start()
        phone.run(commands)
    except Exception as exc:
        phone.emit(event="fatal", error=error_text(exc))
        flush_c_stdout()
        os._exit(1)
    # The `quit` reply has been written: tear down pjsua, then skip Python's own teardown.
    phone.ep.libDestroy(pj.PJSUA_DESTROY_NO_NETWORK)
    flush_c_stdout()
    os._exit(0)


if __name__ == "__main__":
    main()
