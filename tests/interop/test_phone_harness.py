"""The pjsua2 phone harness works: two phones call each other directly (no server) and what
each hears is measured; a tiny fake registrar checks the registration path."""

from __future__ import annotations

import re
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

# ImportError too, not just a missing module: a wheel whose native library fails to load.
pytest.importorskip("pjsua2", exc_type=ImportError)

from mediacore.audio import dominant_frequency, tone_level_dbfs, tone_levels_by_block  # noqa: E402
from tests.interop.phone import Phone, read_wav, write_tone_wav  # noqa: E402

pytestmark = pytest.mark.slow

TONE_DBFS = -12.0


def call_b(a: Phone, b: Phone) -> tuple[int, int]:
    """A calls B directly (B must auto-answer). Returns (A's call index, B's call index)."""
    call = a.cmd("call", uri=f"sip:b@127.0.0.1:{b.sip_port}")["call"]
    a.wait_call_state(call, "CONFIRMED")
    b_call = b.wait_event(lambda e: e["event"] == "incoming")["call"]
    b.wait_call_state(b_call, "CONFIRMED")
    return call, b_call


def assert_tone(path: Path, frequency: float, min_seconds: float) -> None:
    """The recording holds a steady tone at `frequency` near the level that was played."""
    pcm, rate = read_wav(path)
    pcm = pcm[int(0.3 * rate) :]  # the first packets fill the jitter buffer: skip them
    assert pcm.size >= min_seconds * rate, f"{path.name}: only {pcm.size / rate:.2f} s"
    assert dominant_frequency(pcm, rate) == pytest.approx(frequency, abs=5.0)
    assert tone_level_dbfs(pcm, frequency, rate) == pytest.approx(TONE_DBFS, abs=3.0)
    # Steady, not just loud on average: nearly every 100 ms block carries the tone.
    blocks = tone_levels_by_block(pcm, frequency, rate, block_seconds=0.1)
    assert np.mean(np.abs(blocks - TONE_DBFS) < 3.0) >= 0.9, np.round(blocks, 1)


# G722 also exercises the 16 kHz path; pjsua's default first choice, speex/16000, distorts
# for about a second after the call starts, so measured tests should name their codec.
@pytest.mark.parametrize("codec", ["PCMU", "G722"])
def test_two_phones_hear_each_other(tmp_path: Path, codec: str) -> None:
    # 5 s files: the looping player leaves a short gap at each wrap, which is not what we test.
    a_wav = write_tone_wav(tmp_path / "a.wav", 440.0, 5.0, rate=8000, level_dbfs=TONE_DBFS)
    b_wav = write_tone_wav(tmp_path / "b.wav", 1000.0, 5.0, rate=16000, level_dbfs=TONE_DBFS)
    a_rec, b_rec = tmp_path / "a_rec.wav", tmp_path / "b_rec.wav"
    with Phone() as a, Phone() as b:
        a.cmd("codecs", order=[codec], only=True)
        b.cmd("auto_answer", code=200, play=str(b_wav), record=str(b_rec))
        call = a.cmd("call", uri=f"sip:b@127.0.0.1:{b.sip_port}")["call"]
        a.cmd("play", call=call, wav=str(a_wav))
        a.cmd("record", call=call, wav=str(a_rec))
        a.wait_call_state(call, "CONFIRMED")
        (media,) = a.cmd("state")["calls"][0]["media"]
        assert media["status"] == "ACTIVE" and media["codec"].startswith(codec + "/")
        time.sleep(2.0)
        a.cmd("hangup", call=call)
        a.wait_call_state(call, "DISCONNECTED")
        # An ended call closes its recorder; the WAV is complete once "recorded" is seen.
        a.wait_event(lambda e: e["event"] == "recorded")
        b.wait_event(lambda e: e["event"] == "recorded")
    assert_tone(b_rec, 440.0, min_seconds=1.5)
    assert_tone(a_rec, 1000.0, min_seconds=1.5)


def test_hold_and_unhold_keep_the_call(tmp_path: Path) -> None:
    a_wav = write_tone_wav(tmp_path / "a.wav", 440.0, 5.0, rate=8000, level_dbfs=TONE_DBFS)
    b_rec = tmp_path / "b_rec.wav"
    with Phone() as a, Phone() as b:
        a.cmd("codecs", order=["PCMU"], only=True)
        b.cmd("auto_answer", code=200)
        call, b_call = call_b(a, b)
        a.cmd("play", call=call, wav=str(a_wav))

        a_mark, b_mark = a.mark(), b.mark()
        a.cmd("hold", call=call)
        assert a.wait_media(call, "LOCAL_HOLD", since=a_mark)["dir"] == "sendonly"
        assert b.wait_media(b_call, "REMOTE_HOLD", since=b_mark)["dir"] == "recvonly"
        assert a.cmd("state")["calls"][0]["state"] == "CONFIRMED"

        a_mark, b_mark = a.mark(), b.mark()
        a.cmd("unhold", call=call)
        assert a.wait_media(call, "ACTIVE", since=a_mark)["dir"] == "sendrecv"
        b.wait_media(b_call, "ACTIVE", since=b_mark)
        # Audio flows again after the re-INVITEs.
        b.cmd("record", call=b_call, wav=str(b_rec))
        time.sleep(1.5)
        b.cmd("stop_record", call=b_call)
        b.wait_event(lambda e: e["event"] == "recorded")
        for phone in (a, b):
            assert not [e for e in phone.events if e.get("state") == "DISCONNECTED"]
        a.cmd("hangup", call=call)
        b.wait_call_state(b_call, "DISCONNECTED")
    assert_tone(b_rec, 440.0, min_seconds=1.0)


@pytest.mark.parametrize("method", ["rfc2833", "info"])
def test_dtmf_reaches_the_other_phone(method: str) -> None:
    with Phone() as a, Phone() as b:
        a.cmd("codecs", order=["PCMU"], only=True)
        b.cmd("auto_answer", code=200)
        call, b_call = call_b(a, b)
        a.cmd("dtmf", call=call, digits="12#", method=method)
        b.wait_event(lambda e: e["event"] == "dtmf" and e["digit"] == "#")
        got = [(e["call"], e["digit"], e["method"]) for e in b.events if e["event"] == "dtmf"]
        assert got == [(b_call, digit, method) for digit in "12#"]


def test_busy_answer_ends_the_call() -> None:
    with Phone() as a, Phone() as b:
        b.cmd("auto_answer", code=486, delay_ms=200)
        call = a.cmd("call", uri=f"sip:b@127.0.0.1:{b.sip_port}")["call"]
        a.wait_call_state(call, "EARLY")  # the 180 sent while B "rings"
        assert a.wait_call_state(call, "DISCONNECTED")["code"] == 486


class FakeRegistrar:
    """Answers REGISTER over UDP: 401 with a digest challenge, then 200 once authorized.
    Checks only that the phone sends credentials, not the digest itself."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.requests: list[str] = []
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.running:
            try:
                data, peer = self.sock.recvfrom(65536)
            except TimeoutError:
                continue
            request = data.decode()
            self.requests.append(request)
            self.sock.sendto(self._response(request).encode(), peer)

    @staticmethod
    def _response(request: str) -> str:
        head = request.split("\r\n\r\n", 1)[0].split("\r\n")
        keep = [h for h in head[1:] if re.match(r"(?i)(via|from|to|call-id|cseq):", h)]
        keep = [h + ";tag=reg" if h.lower().startswith("to:") else h for h in keep]
        if not re.search(r"(?im)^authorization:", request):
            status = "401 Unauthorized"
            keep.append('WWW-Authenticate: Digest realm="test", nonce="n0nce", algorithm=MD5')
        else:
            status = "200 OK"
            expires = re.search(r"(?im)^expires:\s*(\d+)", request)
            seconds = expires.group(1) if expires else "60"
            contact = re.search(r"(?im)^contact:\s*(<[^>]*>)", request)
            if contact and seconds != "0":
                keep.append(f"Contact: {contact.group(1)};expires=60")
        return f"SIP/2.0 {status}\r\n" + "\r\n".join(keep) + "\r\nContent-Length: 0\r\n\r\n"

    def close(self) -> None:
        self.running = False
        self.thread.join()
        self.sock.close()


def test_account_registers_and_unregisters() -> None:
    registrar = FakeRegistrar()
    try:
        with Phone() as a:
            a.cmd(
                "account",
                user="alice",
                password="secret",
                registrar=f"sip:127.0.0.1:{registrar.port}",
            )
            reg = a.wait_event(lambda e: e["event"] == "reg")
            assert (reg["code"], reg["active"], reg["expires"]) == (200, True, 60)
            assert re.search(
                r'(?im)^authorization: digest username="alice"', registrar.requests[-1]
            )
            mark = a.mark()
            a.cmd("register", on=False)
            reg = a.wait_event(lambda e: e["event"] == "reg", since=mark)
            assert (reg["code"], reg["active"]) == (200, False)
            mark = a.mark()
            a.cmd("register", on=True)
            assert a.wait_event(lambda e: e["event"] == "reg", since=mark)["active"]
            count = len(registrar.requests)
        # Quitting unregisters, like a phone being switched off.
        assert len(registrar.requests) > count
        assert re.search(r"(?im)^expires:\s*0\s*$", registrar.requests[-1])
    finally:
        registrar.close()
