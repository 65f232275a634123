"""Checks of mTLS material at upload: a PEM client certificate that is valid now, the private key that
belongs to it, and an optional PEM CA bundle. Pure code: each problem names the field at fault."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

WEBHOOKS = "WEBHOOKS"  # LivePerson's service name for webhook deliveries


class CertificateProblem(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    fingerprint: str  # sha256 of the leaf certificate (DER), hex
    not_after: float  # epoch seconds
    subject: str


def _certificates(pem: str, field: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        raise CertificateProblem(field, "is not a PEM certificate (-----BEGIN CERTIFICATE-----)") from None
    if not certs:  # pragma: no cover - the loader raises on empty input
        raise CertificateProblem(field, "holds no certificate")
    return certs


def _spki(key: object) -> bytes:
    public_bytes = key.public_bytes  # type: ignore[attr-defined]
    out: bytes = public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return out


def inspect_material(
    certificate: str, private_key: str, ca_bundle: str | None, now: datetime | None = None
) -> CertificateInfo:
    """Raise CertificateProblem unless the certificate is valid now and the key is its own."""
    now = now or datetime.now(UTC)
    leaf = _certificates(certificate, "certificate")[0]
    if leaf.not_valid_after_utc <= now:
        raise CertificateProblem("certificate", f"expired on {leaf.not_valid_after_utc.isoformat()}")
    if leaf.not_valid_before_utc > now:
        raise CertificateProblem("certificate", f"not valid before {leaf.not_valid_before_utc.isoformat()}")
    try:
        key = serialization.load_pem_private_key(private_key.encode(), password=None)
    except (ValueError, TypeError):
        raise CertificateProblem(
            "private_key", "is not an unencrypted PEM private key (-----BEGIN PRIVATE KEY-----)"
        ) from None
    if _spki(key.public_key()) != _spki(leaf.public_key()):
        raise CertificateProblem("private_key", "does not match the certificate's public key")
    if ca_bundle is not None:
        _certificates(ca_bundle, "ca_bundle")
    return CertificateInfo(
        fingerprint=leaf.fingerprint(hashes.SHA256()).hex(),
        not_after=leaf.not_valid_after_utc.timestamp(),
        subject=leaf.subject.rfc4514_string(),
    )
