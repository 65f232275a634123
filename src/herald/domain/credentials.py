"""Credentials: how a receiver knows a delivery is genuine (Data Transporter style security schemes).

A credential adds authentication headers to a rendered request, computed over the exact body bytes. During
a rotation's grace period `secrets` holds the new secret first and the old one after it: schemes that can
carry several signatures (`standard`) send both; the others use the new one at once.
"""

from __future__ import annotations

import base64
import secrets as random
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from herald.domain.signing import generate_whsec, liveperson_signature, standard_signature, whsec_key

WHSK_PREFIX, WHPK_PREFIX = "whsk_", "whpk_"


class Scheme(StrEnum):
    LP_SIGNATURE = "lp-signature"
    API_KEY = "api-key"
    BEARER = "bearer"
    STANDARD = "standard"


# Schemes whose header can carry more than one signature, so old and new secrets both sign meanwhile.
MULTI_SIGNATURE = frozenset({Scheme.STANDARD})


@dataclass(frozen=True, slots=True)
class Credential:
    """The delivery view of a credential: its settings and its secrets, newest first, decrypted."""

    id: str
    scheme: Scheme
    config: dict[str, Any] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()

    def headers(self, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
        current = self.secrets[0]
        if self.scheme is Scheme.LP_SIGNATURE:
            signature = liveperson_signature(
                current, body, self.config.get("algorithm", "sha256"), self.config.get("encoding", "base64")
            )
            return {"x-liveperson-client-id": self.config["client_id"], "x-liveperson-signature": signature}
        if self.scheme is Scheme.API_KEY:
            return {self.config.get("header", "x-api-key"): current}
        if self.scheme is Scheme.BEARER:
            return {"authorization": f"Bearer {current}"}
        entries = [_standard_entry(secret, msg_id, timestamp, body) for secret in self.secrets]
        # The id and timestamp are part of what is signed: a profile that does not send them itself (e.g.
        # liveperson-data) must still carry them, or no receiver could verify the signature.
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": " ".join(entries),
        }


def _standard_entry(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    if secret.startswith(WHSK_PREFIX):
        key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(secret.removeprefix(WHSK_PREFIX)))
        signed = key.sign(f"{msg_id}.{timestamp}.".encode() + body)
        return "v1a," + base64.b64encode(signed).decode()
    return standard_signature(whsec_key(secret), msg_id, timestamp, body)


def generate_ed25519() -> tuple[str, str]:
    """A Standard Webhooks asymmetric pair: (whsk_ private key, whpk_ public key), raw keys in base64."""
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes_raw()
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return WHSK_PREFIX + base64.b64encode(seed).decode(), WHPK_PREFIX + base64.b64encode(public).decode()


def public_key_of(secret: str) -> str | None:
    if not secret.startswith(WHSK_PREFIX):
        return None
    private = Ed25519PrivateKey.from_private_bytes(base64.b64decode(secret.removeprefix(WHSK_PREFIX)))
    return (
        WHPK_PREFIX
        + base64.b64encode(private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
    )


def new_secret(scheme: Scheme, config: dict[str, Any], given: str | None = None) -> str:
    """The secret a credential starts (or rotates) with: the one given, else a generated one."""
    if given:
        return given
    if scheme is Scheme.STANDARD:
        return generate_ed25519()[0] if config.get("asymmetric") else generate_whsec()
    return random.token_urlsafe(32)


def mask(secret: str) -> str:
    """Enough to recognise a secret, never enough to use it."""
    return "…" + secret[-4:] if len(secret) > 8 else "…"
