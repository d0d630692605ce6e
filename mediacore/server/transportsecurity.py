"""What the server encrypts its transports with: the HTTPS/WSS certificate and SIP's TLS.

One certificate serves HTTPS, WSS and SIP over TLS unless `[sip] tls_cert`/`tls_key` name
another; it is the configured pair, or one made self-signed at first start (its fingerprint
printed once, logged at every start)."""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass

from mediacore.server.certificates import (
    CertificateError,
    ServerCertificate,
    certificate_names,
    server_certificate,
)
from mediacore.server.config import Config
from sip.transport import SipTls

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TransportSecurity:
    """`https`: the certificate HTTPS and WSS use, None for plain HTTP (`insecure_http`).
    `sip`: the contexts of SIP over TLS, None when `[sip] tls_port = 0`."""

    https: ServerCertificate | None
    sip: SipTls | None


def transport_security(config: Config) -> TransportSecurity:
    """Load (or make, the first time) what `config` asks for. Raises CertificateError."""
    server, sip = config.server, config.sip
    shared: ServerCertificate | None = None
    wants_sip = sip.tls_port != 0
    if not server.insecure_http or (wants_sip and not sip.tls_cert):
        names = certificate_names(server.host)
        shared = server_certificate(server.tls_cert, server.tls_key, config.data_dir, names)
        _announce(shared)
    sip_tls = None
    if wants_sip:
        certificate = shared
        if sip.tls_cert:
            certificate = server_certificate(sip.tls_cert, sip.tls_key, config.data_dir, [])
            log.info("sip tls certificate", extra={"fingerprint": certificate.fingerprint})
        if certificate is None:  # not reached: shared is made whenever SIP has no pair of its own
            raise CertificateError("SIP over TLS has no certificate")
        client = client_context(sip.tls_verify, sip.tls_ca_file)
        sip_tls = SipTls(certificate.server_context(), client)
    return TransportSecurity(None if server.insecure_http else shared, sip_tls)


def client_context(verify: bool, ca_file: str) -> ssl.SSLContext:
    """The context of TLS connections we open: the system's CAs plus `ca_file`, or no checks
    at all when `verify` is false (a lab's self-signed peers)."""
    try:
        context = ssl.create_default_context(cafile=ca_file or None)
    except (OSError, ssl.SSLError) as error:
        raise CertificateError(f"cannot load CA file {ca_file}: {error}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _announce(certificate: ServerCertificate) -> None:
    log.info("tls certificate", extra={"certificate": str(certificate.cert_path),
             "fingerprint": certificate.fingerprint, "made": certificate.made})  # fmt: skip
    if certificate.made:
        # Printed once, when made: what users compare when a browser or phone asks about
        # the certificate (the key stays in its 0600 file).
        print(
            f"mediacore: a self-signed TLS certificate was made in {certificate.cert_path}; "
            f"SHA-256 fingerprint {certificate.fingerprint}",
            flush=True,
        )
