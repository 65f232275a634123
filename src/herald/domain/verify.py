"""Check a captured request's authentication headers against a credential or a subscription's signing.

Pure: given the received headers and the exact body bytes, compute what each header should hold and say
whether it does. Secrets sent as-is (api-key, bearer) are never echoed: expected values are masked.
"""

from __future__ import annotations

import base64
import hmac
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from herald.domain.credentials import WHSK_PREFIX, Credential, Scheme, mask
from herald.domain.models import Endpoint
from herald.domain.signing import liveperson_signature, standard_signature, whsec_key


@dataclass(frozen=True, slots=True)
class Check:
    header: str
    expected: str | None  # computed (masked when it would reveal a secret); None: cannot be computed
    received: str | None
    matched: bool
    note: str = ""


def _get(headers: dict[str, str], name: str) -> str | None:
    return headers.get(name.lower())


def _standard(headers: dict[str, str], body: bytes, secrets: tuple[str, ...], source: str) -> Check:
    received = _get(headers, "webhook-signature")
    msg_id, timestamp = _get(headers, "webhook-id"), _get(headers, "webhook-timestamp")
    if msg_id is None or timestamp is None or not timestamp.isdigit():
        return Check("webhook-signature", None, received, False, "webhook-id / webhook-timestamp missing")
    expected = []
    for secret in secrets:
        if secret.startswith(WHSK_PREFIX):
            # Ed25519 signatures are deterministic: the expected entry is computed like an HMAC's.
            key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(secret.removeprefix(WHSK_PREFIX)))
            signed = key.sign(f"{msg_id}.{timestamp}.".encode() + body)
            expected.append("v1a," + base64.b64encode(signed).decode())
        else:
            expected.append(standard_signature(whsec_key(secret), msg_id, int(timestamp), body))
    entries = (received or "").split()
    matched = any(hmac.compare_digest(e, x) for e in entries for x in expected)
    note = f"{source}: signed '{{webhook-id}}.{{webhook-timestamp}}.{{body}}'"
    return Check("webhook-signature", " ".join(expected), received, matched, note)


def _same(received: str | None, expected: str) -> bool:
    return received is not None and hmac.compare_digest(received.encode(), expected.encode())


def check_credential(headers: dict[str, str], body: bytes, credential: Credential) -> list[Check]:
    """The headers `credential` adds to a delivery, recomputed over `body`."""
    scheme, config = credential.scheme, credential.config
    if scheme is Scheme.LP_SIGNATURE:
        algorithm, encoding = config.get("algorithm", "sha256"), config.get("encoding", "base64")
        received = _get(headers, "x-liveperson-signature")
        expected = [liveperson_signature(s, body, algorithm, encoding) for s in credential.secrets]
        matched = received is not None and any(hmac.compare_digest(received, x) for x in expected)
        checks = [
            Check(
                "x-liveperson-signature",
                expected[0],
                received,
                matched,
                f"lp-signature: {algorithm}= HMAC of the body, {encoding}",
            )
        ]
        client_id = str(config.get("client_id", ""))
        got = _get(headers, "x-liveperson-client-id")
        checks.append(Check("x-liveperson-client-id", client_id, got, got == client_id, "lp-signature"))
        return checks
    if scheme is Scheme.API_KEY:
        header = str(config.get("header", "x-api-key"))
        received = _get(headers, header)
        key = credential.secrets[0]
        return [Check(header, mask(key), received, _same(received, key), "api-key: the key as-is")]
    if scheme is Scheme.BEARER:
        received = _get(headers, "authorization")
        token = credential.secrets[0]
        matched = _same(received, f"Bearer {token}")
        return [Check("authorization", "Bearer " + mask(token), received, matched, "bearer: the token")]
    return [_standard(headers, body, credential.secrets, "standard credential")]


def check_endpoint(headers: dict[str, str], body: bytes, endpoint: Endpoint) -> list[Check]:
    """What a subscription's profile signs (with its own secret), then its credential's headers."""
    checks: list[Check] = []
    own_standard = endpoint.credential is None or endpoint.credential.scheme is not Scheme.STANDARD
    own_lp = endpoint.credential is None or endpoint.credential.scheme is not Scheme.LP_SIGNATURE
    if endpoint.profile == "standard" and own_standard:
        checks.append(_standard(headers, body, (endpoint.secret,), "subscription secret (standard profile)"))
    elif endpoint.profile == "liveperson-connector" and own_lp:
        received = _get(headers, "x-liveperson-signature")
        expected = liveperson_signature(endpoint.secret, body)
        matched = received is not None and hmac.compare_digest(received, expected)
        note = "subscription secret (liveperson-connector): sha1= HMAC of the body, base64"
        checks.append(Check("x-liveperson-signature", expected, received, matched, note))
    if endpoint.credential is not None:
        checks.extend(check_credential(headers, body, endpoint.credential))
    return checks
