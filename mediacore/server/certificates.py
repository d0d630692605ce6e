"""The server's TLS certificate: the configured pair, or a self-signed one made at first start.

HTTPS, WSS and SIP over TLS use it. A made pair lives in the data directory (`tls/`; the key
0600) and is reused at every later start, so clients that trust it once keep trusting it; its
SHA-256 fingerprint is what a user compares when a browser or phone asks."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import logging
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mediacore.server.joinlinks import write_private

log = logging.getLogger(__name__)

TLS_FOLDER = "tls"
CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"
VALID_DAYS = 825  # the longest validity browsers accept for a server certificate


class CertificateError(ValueError):
    """A configured certificate or key that cannot be used; the message names the file."""


@dataclass(frozen=True, slots=True)
class ServerCertificate:
    """Where the certificate and its key are, and the certificate's SHA-256 fingerprint."""

    cert_path: Path
    key_path: Path
    fingerprint: str  # "AB:CD:..." over the DER certificate
    made: bool = False  # made by this start (printed once)

    def server_context(self) -> ssl.SSLContext:
        """A TLS server context holding this pair (TLS 1.2 at least)."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(self.cert_path, self.key_path)
        except (OSError, ssl.SSLError) as error:
            raise CertificateError(
                f"cannot load the TLS pair {self.cert_path} / {self.key_path}: {error}"
            ) from None
        return context


def server_certificate(cert: str, key: str, data_dir: Path, names: list[str]) -> ServerCertificate:
    """The configured pair (`cert` and `key` both set), else the one in `data_dir/tls`, made
    self-signed for `names` (host names and addresses) if there is none yet.

    Raises CertificateError when only one of cert and key is set, or a file cannot be read."""
    if cert or key:
        if not (cert and key):
            raise CertificateError("tls_cert and tls_key go together: set both or neither")
        return ServerCertificate(Path(cert), Path(key), _fingerprint_of(Path(cert)))
    folder = data_dir / TLS_FOLDER
    cert_path, key_path = folder / CERT_FILE, folder / KEY_FILE
    if cert_path.exists() and key_path.exists():
        return ServerCertificate(cert_path, key_path, _fingerprint_of(cert_path))
    cert_pem, key_pem = self_signed(names)
    cert_path.unlink(missing_ok=True)
    key_path.unlink(missing_ok=True)
    write_private(key_path, key_pem.decode())
    partial = cert_path.with_suffix(".partial")  # readers never see half a certificate
    partial.write_bytes(cert_pem)
    partial.replace(cert_path)
    return ServerCertificate(cert_path, key_path, fingerprint(cert_pem), made=True)


def self_signed(names: list[str]) -> tuple[bytes, bytes]:
    """A new EC P-256 key and a certificate for `names` signed by it, both PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else "mediacore")]
    )
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(_alt_names(names)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [x509.ExtendedKeyUsageOID.SERVER_AUTH, x509.ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def certificate_names(host: str) -> list[str]:
    """What a made certificate names: the configured host (when it is an address or a name,
    not 0.0.0.0/::), this machine's name, and both loopback addresses."""
    names = [] if host in ("", "0.0.0.0", "::") else [host]
    names += [socket.gethostname(), "localhost", "127.0.0.1", "::1"]
    return list(dict.fromkeys(name for name in names if name))


def fingerprint(cert_pem: bytes) -> str:
    """SHA-256 over the DER form of a PEM certificate, as colon-separated hex pairs."""
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _fingerprint_of(path: Path) -> str:
    try:
        return fingerprint(path.read_bytes())
    except OSError as error:
        raise CertificateError(f"cannot read certificate {path}: {error.strerror}") from None
    except ValueError as error:
        raise CertificateError(f"{path} is not a PEM certificate: {error}") from None


def _alt_names(names: list[str]) -> list[x509.GeneralName]:
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    return alt
