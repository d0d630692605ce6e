"""The signature of a sealed manifest: the server's Ed25519 key over the manifest's canonical
JSON (the bytes its seal hashes, recorder/manifest.py), kept in the manifest as

    "signature": {"algorithm": "ed25519", "key": <key id>, "value": <base64>}

The seal proves the manifest consistent with itself; the signature proves who sealed it: a
manifest edited and resealed by anyone without the private key fails here, offline, with the
public key alone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mediacore.signing import ALGORITHM, PublicKey, SigningKey
from recorder.manifest import SIGNATURE_KEY, canonical_json

DOMAIN = b"mediacore-manifest\0"


def sign_manifest(manifest: Mapping[str, Any], key: SigningKey) -> dict[str, Any]:
    """A copy of the (sealed) manifest with its signature set, replacing any earlier one."""
    signed = {name: value for name, value in manifest.items() if name != SIGNATURE_KEY}
    signed[SIGNATURE_KEY] = {
        "algorithm": ALGORITHM,
        "key": key.public.id,
        "value": key.sign(DOMAIN, canonical_json(signed)),
    }
    return signed


def is_signed(manifest: Mapping[str, Any]) -> bool:
    return isinstance(manifest.get(SIGNATURE_KEY), Mapping)


def signature_problem(manifest: Mapping[str, Any], public: PublicKey) -> str | None:
    """Why the manifest's signature does not hold under `public`, or None when it does."""
    signature = manifest.get(SIGNATURE_KEY)
    if not isinstance(signature, Mapping):
        return "the manifest is not signed"
    if signature.get("algorithm") != ALGORITHM:
        return f"unknown signature algorithm {str(signature.get('algorithm'))[:40]!r}"
    if signature.get("key") != public.id:
        found = str(signature.get("key"))[:40]
        return f"signed by key {found!r}, not by the server's key {public.id!r}"
    if not public.verify(DOMAIN, canonical_json(manifest), signature.get("value")):
        return "the signature does not match the manifest (changed after it was signed)"
    return None
