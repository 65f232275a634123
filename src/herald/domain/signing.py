"""Signature schemes. Each signs the exact body bytes that will be sent."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

WHSEC_PREFIX = "whsec_"


def generate_whsec() -> str:
    return WHSEC_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def whsec_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(WHSEC_PREFIX))


def standard_signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """Standard Webhooks `v1` entry: HMAC-SHA256 over "{id}.{timestamp}.{body}"."""
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def liveperson_signature(secret: str, body: bytes, algorithm: str = "sha1", encoding: str = "base64") -> str:
    """LivePerson `x-liveperson-signature`: "<alg>=" + encode(HMAC-<alg>(secret, raw body))."""
    digest = hmac.new(secret.encode(), body, algorithm).digest()
    encoded = base64.b64encode(digest).decode() if encoding == "base64" else digest.hex()
    return f"{algorithm}={encoded}"


def generate_client_secret() -> str:
    return secrets.token_urlsafe(32)
