"""The sans-I/O TLS record layer: two sessions joined by nothing but the bytes each returns
complete a handshake, carry SIP both ways (what is sent early waits for the handshake), see a
close_notify, and refuse a certificate the client does not trust."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from mediacore.server.certificates import server_certificate
from mediacore.tlssession import TlsSession

OPTIONS = b"OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nContent-Length: 0\r\n\r\n"


def _pair(folder: Path, *, trusted: bool = True) -> tuple[TlsSession, TlsSession]:
    made = server_certificate("", "", folder, ["127.0.0.1"])
    cafile = str(made.cert_path) if trusted else None
    client_context = ssl.create_default_context(cafile=cafile)
    client = TlsSession(client_context, server_side=False, server_hostname="127.0.0.1")
    return client, TlsSession(made.server_context(), server_side=True)


def _shuttle(client: TlsSession, server: TlsSession) -> tuple[bytes, bytes]:
    """Carry records both ways until none are left; the plaintext each side received."""
    to_client, to_server = bytearray(), bytearray()
    for _ in range(10):
        records = client.data_to_send()
        if records:
            to_server += server.receive(records)
        answer = server.data_to_send()
        if answer:
            to_client += client.receive(answer)
        if not records and not answer:
            break
    return bytes(to_client), bytes(to_server)


def test_a_handshake_carries_messages_both_ways_and_early_ones_wait_for_it(
    tmp_path: Path,
) -> None:
    client, server = _pair(tmp_path)
    client.send(OPTIONS)  # before the handshake: held until it ends
    heard_by_client, heard_by_server = _shuttle(client, server)
    assert client.established and server.established
    assert heard_by_server == OPTIONS and heard_by_client == b""
    server.send(b"SIP/2.0 200 OK\r\n\r\n")
    assert _shuttle(client, server) == (b"SIP/2.0 200 OK\r\n\r\n", b"")


def test_nothing_goes_out_in_the_clear(tmp_path: Path) -> None:
    client, server = _pair(tmp_path)
    client.send(OPTIONS)
    sent = bytearray()
    for _ in range(3):  # ClientHello; then the client's Finished with the message
        records = client.data_to_send()
        sent += records
        client.receive(server.data_to_send() if server.receive(records) == b"" else b"")
    assert client.established and sent and b"OPTIONS" not in sent


def test_a_close_notify_is_seen(tmp_path: Path) -> None:
    client, server = _pair(tmp_path)
    _shuttle(client, server)
    client.close()
    server.receive(client.data_to_send())
    assert server.closed


def test_a_certificate_the_client_does_not_trust_fails_the_handshake(tmp_path: Path) -> None:
    client, server = _pair(tmp_path, trusted=False)
    with pytest.raises(ssl.SSLCertVerificationError):
        _shuttle(client, server)
    assert not client.established
