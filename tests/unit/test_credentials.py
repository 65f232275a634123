"""Every credential scheme's headers, checked by an independent implementation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import time
from collections.abc import Callable

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from herald.domain.credentials import (
    MULTI_SIGNATURE,
    Credential,
    Scheme,
    generate_ed25519,
    mask,
    new_secret,
    public_key_of,
)
from herald.domain.models import ClaimedDelivery, Endpoint
from herald.domain.profiles import get_profile
from herald.domain.signing import generate_whsec

BODY = b'{"commonHeader":{"accountId":"123"},"data":{"convDetails":{"convId":"c1"}}}'


@pytest.mark.parametrize(
    ("algorithm", "encoding"), list(itertools.product(["sha1", "sha256", "sha512"], ["base64", "hex"]))
)
def test_lp_signature_every_algorithm_and_encoding(algorithm: str, encoding: str) -> None:
    cred = Credential(
        "c",
        Scheme.LP_SIGNATURE,
        {"algorithm": algorithm, "encoding": encoding, "client_id": "cid"},
        ("the-key",),
    )
    headers = cred.headers("dlv_1", 1_700_000_000, BODY)
    digest = hmac.new(b"the-key", BODY, getattr(hashlib, algorithm)).digest()
    expected = base64.b64encode(digest).decode() if encoding == "base64" else digest.hex()
    assert headers == {"x-liveperson-client-id": "cid", "x-liveperson-signature": f"{algorithm}={expected}"}


def test_lp_signature_signs_only_with_the_newest_key() -> None:
    cred = Credential(
        "c", Scheme.LP_SIGNATURE, {"algorithm": "sha256", "encoding": "hex", "client_id": "x"}, ("new", "old")
    )
    value = cred.headers("d", 1, BODY)["x-liveperson-signature"]
    assert value == "sha256=" + hmac.new(b"new", BODY, hashlib.sha256).hexdigest()
    assert Scheme.LP_SIGNATURE not in MULTI_SIGNATURE


def test_api_key_and_bearer() -> None:
    assert Credential("c", Scheme.API_KEY, {"header": "x-secret"}, ("k1", "k0")).headers("d", 1, BODY) == {
        "x-secret": "k1"
    }
    assert Credential("c", Scheme.BEARER, {}, ("tok",)).headers("d", 1, BODY) == {
        "authorization": "Bearer tok"
    }


def test_standard_symmetric_verifies_with_the_official_library() -> None:
    secret, now = generate_whsec(), int(time.time())
    headers = Credential("c", Scheme.STANDARD, {}, (secret,)).headers("dlv_9", now, BODY)
    full = {"webhook-id": "dlv_9", "webhook-timestamp": str(now), **headers}
    assert Webhook(secret).verify(BODY, full) is not None


def test_standard_rotation_sends_both_signatures_and_each_verifies() -> None:
    new, old, now = generate_whsec(), generate_whsec(), int(time.time())
    headers = Credential("c", Scheme.STANDARD, {}, (new, old)).headers("dlv_9", now, BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (new, old):
        Webhook(secret).verify(BODY, {"webhook-id": "dlv_9", "webhook-timestamp": str(now), **headers})
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_whsec()).verify(
            BODY, {"webhook-id": "dlv_9", "webhook-timestamp": str(now), **headers}
        )


def test_standard_asymmetric_v1a_verifies_with_cryptography() -> None:
    private, public = generate_ed25519()
    assert private.startswith("whsk_") and public.startswith("whpk_")
    assert public_key_of(private) == public
    headers = Credential("c", Scheme.STANDARD, {"asymmetric": True}, (private,)).headers("dlv_2", 42, BODY)
    kind, signature = headers["webhook-signature"].split(",", 1)
    assert kind == "v1a"
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public.removeprefix("whpk_")))
    key.verify(base64.b64decode(signature), b"dlv_2.42." + BODY)  # raises if wrong
    with pytest.raises(InvalidSignature):
        key.verify(base64.b64decode(signature), b"dlv_2.43." + BODY)


def test_new_secret_and_mask() -> None:
    assert new_secret(Scheme.API_KEY, {}, "given-key") == "given-key"
    assert new_secret(Scheme.STANDARD, {}).startswith("whsec_")
    assert new_secret(Scheme.STANDARD, {"asymmetric": True}).startswith("whsk_")
    assert len(new_secret(Scheme.BEARER, {})) >= 32
    assert mask("abcdefghijkl") == "…ijkl"
    assert "abcd" not in mask("abcd")
    assert public_key_of(generate_whsec()) is None


def test_standard_credential_on_a_data_transporter_profile_is_verifiable(
    make_claimed: Callable[..., ClaimedDelivery],
) -> None:
    """The profile sends no webhook-id/-timestamp of its own; the credential brings the ones it signed."""
    secret, now = generate_whsec(), int(time.time())
    credential = Credential("c", Scheme.STANDARD, {}, (secret,))
    endpoint = Endpoint(
        "sub_1", "https://example.com/dt", "liveperson-data", "x", None, credential=credential
    )
    claimed = make_claimed(event_type="AgentStateChangedEvent")
    request = get_profile("liveperson-data").render(claimed, endpoint, now)
    assert request.headers["webhook-id"] == claimed.delivery_id
    assert request.headers["webhook-timestamp"] == str(now)
    Webhook(secret).verify(request.body, request.headers)  # raises if it does not verify
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(request.body + b" ", request.headers)
