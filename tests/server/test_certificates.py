"""The server's TLS certificate: made self-signed once (key 0600, the configured names in its
SAN), reused after, its fingerprint printed once; a configured pair is used as given."""

from __future__ import annotations

import hashlib
import ipaddress
import ssl
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from mediacore.server.certificates import (
    CertificateError,
    certificate_names,
    self_signed,
    server_certificate,
)
from mediacore.server.config import Config, ConfigError, ServerSection, validate_config
from mediacore.server.transportsecurity import transport_security
from sip.settings import SipSettings


def _config(data_dir: Path, **server: object) -> Config:
    return Config(server=ServerSection(data_dir=str(data_dir), **server))  # type: ignore[arg-type]


def test_a_made_certificate_is_ec_p256_names_the_host_and_loopback_and_keeps_its_key_private(
    tmp_path: Path,
) -> None:
    names = certificate_names("10.20.30.40")
    made = server_certificate("", "", tmp_path, names)
    assert made.made and made.cert_path == tmp_path / "tls" / "cert.pem"
    assert stat.S_IMODE(made.key_path.stat().st_mode) == 0o600
    certificate = x509.load_pem_x509_certificate(made.cert_path.read_bytes())
    assert isinstance(certificate.public_key(), ec.EllipticCurvePublicKey)
    assert certificate.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    addresses = san.get_values_for_type(x509.IPAddress)
    assert {ipaddress.ip_address(a) for a in ("10.20.30.40", "127.0.0.1", "::1")} <= set(addresses)
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    der = certificate.public_bytes(Encoding.DER)
    assert made.fingerprint.replace(":", "") == hashlib.sha256(der).hexdigest().upper()


def test_the_made_pair_is_reused_at_the_next_start(tmp_path: Path) -> None:
    first = server_certificate("", "", tmp_path, ["127.0.0.1"])
    again = server_certificate("", "", tmp_path, ["127.0.0.1"])
    assert not again.made and again.fingerprint == first.fingerprint


def test_a_client_trusting_the_made_certificate_completes_a_handshake(tmp_path: Path) -> None:
    made = server_certificate("", "", tmp_path, ["127.0.0.1"])
    client_in, client_out, server_in, server_out = (ssl.MemoryBIO() for _ in range(4))
    client = ssl.create_default_context(cafile=str(made.cert_path)).wrap_bio(
        client_in, client_out, server_hostname="127.0.0.1"
    )
    server = made.server_context().wrap_bio(server_in, server_out, server_side=True)
    finished: set[str] = set()
    for _ in range(10):  # shuttle the handshake's records until both sides are done
        for name, side in (("client", client), ("server", server)):
            try:
                side.do_handshake()
                finished.add(name)
            except ssl.SSLWantReadError:
                pass
        server_in.write(client_out.read())
        client_in.write(server_out.read())
    assert finished == {"client", "server"}


def test_a_configured_pair_is_used_as_given(tmp_path: Path) -> None:
    cert_pem, key_pem = self_signed(["mediacore.example"])
    (tmp_path / "c.pem").write_bytes(cert_pem)
    (tmp_path / "k.pem").write_bytes(key_pem)
    given = server_certificate(str(tmp_path / "c.pem"), str(tmp_path / "k.pem"), tmp_path, [])
    assert not given.made and given.cert_path == tmp_path / "c.pem"
    assert not (tmp_path / "tls").exists()  # nothing made
    given.server_context()  # loads


def test_unusable_pairs_are_refused_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(CertificateError, match="together"):
        server_certificate(str(tmp_path / "c.pem"), "", tmp_path, [])
    with pytest.raises(CertificateError, match="missing.pem"):
        server_certificate(str(tmp_path / "missing.pem"), "k.pem", tmp_path, [])
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(CertificateError, match="junk.pem"):
        server_certificate(str(tmp_path / "junk.pem"), "k.pem", tmp_path, [])


def test_config_refuses_half_a_pair_and_a_bad_tls_port(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="server.tls_cert"):
        validate_config(_config(tmp_path, tls_cert="c.pem"))
    with pytest.raises(ConfigError, match="sip.tls_port"):
        validate_config(replace(Config(), sip=SipSettings(tls_port=70000)))


def test_the_fingerprint_is_printed_once_when_the_pair_is_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = transport_security(_config(tmp_path))
    assert first.https is not None and first.sip is not None
    out = capsys.readouterr().out
    assert first.https.fingerprint in out and "key" not in out.lower()
    transport_security(_config(tmp_path))
    assert capsys.readouterr().out == ""


def test_insecure_http_still_gives_sip_its_tls_unless_sip_tls_is_off(tmp_path: Path) -> None:
    lab = transport_security(_config(tmp_path, insecure_http=True))
    assert lab.https is None and lab.sip is not None
    off = replace(_config(tmp_path / "off", insecure_http=True), sip=SipSettings(tls_port=0))
    nothing = transport_security(off)
    assert nothing.https is None and nothing.sip is None
    assert not (tmp_path / "off" / "tls").exists()
