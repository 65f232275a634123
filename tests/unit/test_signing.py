"""Signature schemes, checked against the official Standard Webhooks library and an independent HMAC."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from herald.domain.signing import (
    WHSEC_PREFIX,
    generate_client_secret,
    generate_whsec,
    liveperson_signature,
    standard_signature,
    whsec_key,
)

BODY = b'{"type":"order.created","data":{"id":"o_1","note":"caf\xc3\xa9 \xe2\x98\x95"}}'


def _headers(msg_id: str, ts: int, signature: str) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signature}


def test_standard_signature_verifies_with_official_library() -> None:
    secret = generate_whsec()
    now = int(time.time())
    signature = standard_signature(whsec_key(secret), "msg_1", now, BODY)
    assert signature.startswith("v1,")
    payload = Webhook(secret).verify(BODY, _headers("msg_1", now, signature))
    assert payload["data"]["id"] == "o_1"


@pytest.mark.parametrize(
    ("field", "value"),
    [("body", BODY + b" "), ("id", "msg_2"), ("timestamp", None)],
)
def test_standard_signature_binds_body_id_and_timestamp(field: str, value: object) -> None:
    secret = generate_whsec()
    now = int(time.time())
    signature = standard_signature(whsec_key(secret), "msg_1", now, BODY)
    body, msg_id, ts = BODY, "msg_1", now
    if field == "body":
        body = value  # type: ignore[assignment]
    elif field == "id":
        msg_id = value  # type: ignore[assignment]
    else:
        ts = now - 1
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, _headers(msg_id, ts, signature))


def test_standard_signature_with_wrong_secret_fails() -> None:
    now = int(time.time())
    signature = standard_signature(whsec_key(generate_whsec()), "msg_1", now, BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_whsec()).verify(BODY, _headers("msg_1", now, signature))


def test_standard_signature_matches_spec_computation() -> None:
    key = bytes(range(32))
    expected = base64.b64encode(hmac.new(key, b"m.5." + BODY, hashlib.sha256).digest()).decode()
    assert standard_signature(key, "m", 5, BODY) == "v1," + expected


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512"])
@pytest.mark.parametrize("encoding", ["base64", "hex"])
def test_liveperson_signature(algorithm: str, encoding: str) -> None:
    secret = "s3cr3t-client-secret"
    digest = hmac.new(secret.encode(), BODY, getattr(hashlib, algorithm)).digest()
    encoded = base64.b64encode(digest).decode() if encoding == "base64" else digest.hex()
    assert liveperson_signature(secret, BODY, algorithm, encoding) == f"{algorithm}={encoded}"


def test_liveperson_signature_defaults_to_sha1_base64() -> None:
    secret = "abc"
    digest = hmac.new(b"abc", BODY, hashlib.sha1).digest()
    assert liveperson_signature(secret, BODY) == "sha1=" + base64.b64encode(digest).decode()
    assert liveperson_signature(secret, BODY) != liveperson_signature(secret, BODY + b"x")


def test_generate_whsec_format() -> None:
    secrets = {generate_whsec() for _ in range(50)}
    assert len(secrets) == 50
    for secret in secrets:
        assert secret.startswith(WHSEC_PREFIX)
        raw = base64.b64decode(secret.removeprefix(WHSEC_PREFIX), validate=True)
        assert len(raw) == 32
        assert whsec_key(secret) == raw


def test_whsec_key_accepts_unprefixed_secret() -> None:
    raw = bytes(range(32))
    assert whsec_key(base64.b64encode(raw).decode()) == raw


def test_generate_client_secret_is_url_safe_and_unique() -> None:
    values = {generate_client_secret() for _ in range(50)}
    assert len(values) == 50
    assert all(re.fullmatch(r"[A-Za-z0-9_\-]{43,}", v) for v in values)
