"""Signature checks of captured requests (herald.domain.verify): each scheme and profile recomputed over the
exact body, checked against what a real render produced, and refused for a tampered body."""

from __future__ import annotations

import pytest

from herald.domain.credentials import Credential, Scheme, generate_ed25519
from herald.domain.models import ClaimedDelivery, Endpoint
from herald.domain.profiles import get_profile
from herald.domain.signing import generate_whsec
from herald.domain.verify import check_credential, check_endpoint

DELIVERY = ClaimedDelivery(
    seq=1,
    delivery_id="dlv_1",
    account_id="acct",
    subscription_id="sub_1",
    event_id="evt_1",
    event_type="order.paid",
    event_timestamp=1_700_000_000.0,
    event_data=b'{"amount":42}',
    attempts=0,
    lease=1,
    max_retries=None,
    retention_time=None,
    manual=False,
    created_at=1_700_000_000.0,
)

CREDENTIALS = [
    Credential(
        "c1", Scheme.LP_SIGNATURE, {"algorithm": "sha256", "encoding": "hex", "client_id": "cid"}, ("k1",)
    ),
    Credential("c2", Scheme.API_KEY, {"header": "x-key"}, ("the-api-key-123",)),
    Credential("c3", Scheme.BEARER, {}, ("the-bearer-token",)),
    Credential("c4", Scheme.STANDARD, {"asymmetric": False}, (generate_whsec(), generate_whsec())),
    Credential("c5", Scheme.STANDARD, {"asymmetric": True}, (generate_ed25519()[0],)),
]


def rendered(endpoint: Endpoint) -> tuple[dict[str, str], bytes]:
    request = get_profile(endpoint.profile).render(DELIVERY, endpoint, 1_700_000_100)
    return {k.lower(): v for k, v in request.headers.items()}, request.body


@pytest.mark.parametrize("credential", CREDENTIALS, ids=lambda c: c.scheme.value + str(c.config))
def test_each_credential_scheme_matches_its_own_render_and_not_a_tampered_body(
    credential: Credential,
) -> None:
    # On a Data Transporter subscription: a standard credential brings the webhook-id/-timestamp it signs.
    endpoint = Endpoint(
        "sub_1", "https://x", "liveperson-data", generate_whsec(), None, credential=credential
    )
    headers, body = rendered(endpoint)
    checks = check_credential(headers, body, credential)
    assert checks and all(c.matched for c in checks), checks
    tampered = check_credential(headers, body.replace(b"42", b"43"), credential)
    if credential.scheme in (Scheme.API_KEY, Scheme.BEARER):
        assert all(c.matched for c in tampered)  # not signatures: the body does not enter them
        for check in checks:  # and the secret itself is never echoed as "expected"
            assert credential.secrets[0] not in (check.expected or "")
    else:
        assert not all(c.matched for c in tampered)


def test_wrong_secret_shows_expected_and_received() -> None:
    endpoint = Endpoint("sub_1", "https://x", "standard", generate_whsec(), None)
    headers, body = rendered(endpoint)
    [check] = check_endpoint(
        headers, body, Endpoint("sub_1", "https://x", "standard", generate_whsec(), None)
    )
    assert check.header == "webhook-signature" and not check.matched
    assert check.received == headers["webhook-signature"] and check.expected != check.received
    [good] = check_endpoint(headers, body, endpoint)
    assert good.matched and good.expected == good.received


def test_connector_profile_and_missing_headers() -> None:
    endpoint = Endpoint("sub_1", "https://x", "liveperson-connector", "client-secret", "cid")
    headers, body = rendered(endpoint)
    [check] = check_endpoint(headers, body, endpoint)
    assert check.header == "x-liveperson-signature" and check.matched
    [absent] = check_endpoint({}, body, endpoint)
    assert not absent.matched and absent.received is None
    no_id = check_endpoint(
        {"webhook-signature": "v1,x"}, body, Endpoint("s", "https://x", "standard", generate_whsec(), None)
    )
    assert not no_id[0].matched and "missing" in no_id[0].note
