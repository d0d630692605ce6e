"""The server's signing key (Ed25519): what proves that a recording's manifest, a ledger entry
or an audit line was written by this server and not changed since.

The private key lives in one file, 0600, outside the recordings (a copy of the recordings then
carries no means to re-sign them); its public half is written beside it (`.pub`, PEM) and
served to verifiers, who check signatures offline with `PublicKey` alone. Every signed message
starts with a domain prefix, so a signature made for one kind of record never passes for
another."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALGORITHM = "ed25519"
PRIVATE_MODE = 0o600
PUBLIC_SUFFIX = ".pub"
MAX_KEY_FILE_BYTES = 16 * 1024


class KeyFileError(ValueError):
    """A key file that is missing, unreadable or not an Ed25519 key in PEM."""


def key_id(public: Ed25519PublicKey) -> str:
    """A short name for a public key: the first 16 hex digits of SHA-256 of its raw bytes."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


class PublicKey:
    """A verifier's key: checks signatures, knows nothing secret."""

    def __init__(self, key: Ed25519PublicKey) -> None:
        self._key = key
        self.id = key_id(key)

    @classmethod
    def from_pem(cls, pem: bytes) -> PublicKey:
        """Raises: KeyFileError unless `pem` is an Ed25519 public key in PEM."""
        try:
            key = serialization.load_pem_public_key(pem)
        except ValueError as error:
            raise KeyFileError(f"not a PEM public key: {error}") from None
        if not isinstance(key, Ed25519PublicKey):
            raise KeyFileError("the public key is not an Ed25519 key")
        return cls(key)

    @classmethod
    def load(cls, path: Path) -> PublicKey:
        """Raises: KeyFileError for a missing, unreadable or foreign key file."""
        return cls.from_pem(_read_key_file(path))

    def pem(self) -> str:
        return self._key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    def verify(self, domain: bytes, message: bytes, signature: object) -> bool:
        """True if `signature` (base64 text) signs `domain` + `message` with this key."""
        if not isinstance(signature, str):
            return False
        try:
            raw = base64.b64decode(signature, validate=True)
            self._key.verify(raw, domain + message)
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True


class SigningKey:
    """The server's private key; `public` is its verifier."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public = PublicKey(key.public_key())

    @classmethod
    def load_or_create(cls, path: Path) -> SigningKey:
        """The key in `path` (PEM, PKCS#8); made with mode 0600 when the file does not exist,
        with its public half written to `path` + ".pub". Raises: KeyFileError for a file that
        holds something else (never overwritten: it may be the only copy of a real key)."""
        if path.exists():
            try:
                key = serialization.load_pem_private_key(_read_key_file(path), password=None)
            except (ValueError, TypeError) as error:
                raise KeyFileError(
                    f"{path} is not an unencrypted PEM private key: {error}"
                ) from None
            if not isinstance(key, Ed25519PrivateKey):
                raise KeyFileError(f"{path} is not an Ed25519 key")
            signing = cls(key)
        else:
            signing = cls(Ed25519PrivateKey.generate())
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            pem = signing._key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            _write_new(path, pem, PRIVATE_MODE)
        public_path = public_key_path(path)
        if not public_path.exists():
            _write_new(public_path, signing.public.pem().encode("ascii"), 0o644)
        return signing

    def sign(self, domain: bytes, message: bytes) -> str:
        """The signature of `domain` + `message`, as base64 text."""
        return base64.b64encode(self._key.sign(domain + message)).decode("ascii")


def default_key_path(data_dir: Path) -> Path:
    """Where the server keeps its private key unless the config says: `keys/` of the data dir
    (beside `recordings/`, never inside it)."""
    return data_dir / "keys" / "signing.key"


def public_key_path(private_path: Path) -> Path:
    return private_path.with_name(private_path.name + PUBLIC_SUFFIX)


def verifier_key(given: str | None, data_dir: Path) -> PublicKey:
    """The public key an offline verifier checks with: the file `given`, else the one beside
    the private key of the data directory `data_dir`. Raises KeyFileError."""
    path = Path(given) if given else public_key_path(default_key_path(data_dir))
    if not path.is_file():
        raise KeyFileError(f"no public key at {path}: pass --public-key (the server's, PEM)")
    return PublicKey.load(path)


def _read_key_file(path: Path) -> bytes:
    try:
        with path.open("rb") as file:
            data = file.read(MAX_KEY_FILE_BYTES + 1)
    except OSError as error:
        raise KeyFileError(f"cannot read {path}: {error.strerror}") from None
    if len(data) > MAX_KEY_FILE_BYTES:
        raise KeyFileError(f"{path} is too large for a key")
    return data


def _write_new(path: Path, data: bytes, mode: int) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(descriptor, mode)  # whatever the umask
        os.write(descriptor, data)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
