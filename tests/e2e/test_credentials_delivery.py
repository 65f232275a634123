"""Credentials end to end: the Data Transporter profile authenticated by each scheme, checked on a real
receiver by independent implementations; the API's rules for secrets, rotation and deletion."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from e2e_harness import Api, Receiver, unique
from standardwebhooks import Webhook

AGENT_EVENT = {
    "agentDetails": {"agentId": "a-1", "agentName": "Ada"},
    "stateCode": "ONLINE",
    "stateDesc": None,
}


def credential(api: Api, account: str, **body: object) -> dict:
    return api.expect(201, "POST", f"/v1/accounts/{account}/credentials", json=body)


def test_data_transporter_with_lp_signature(api: Api, receiver: Receiver, account: str) -> None:
    cred = credential(api, account, name="dt", scheme="lp-signature", algorithm="sha256", encoding="hex")
    assert cred["secret_shown"] and cred["client_id"]
    path = receiver.new_path("dt")
    sub = api.account_subscription(
        account,
        receiver.url(path),
        ["AgentStateChangedEvent"],
        profile="liveperson-data",
        credential_id=cred["id"],
    )
    event_id = unique("evt-dt")
    api.publish(
        account,
        {
            "id": event_id,
            "type": "AgentStateChangedEvent",
            "data": AGENT_EVENT,
            "timestamp": "2026-11-21T10:00:00Z",
        },
    )
    [req] = receiver.wait_for(path, 1)
    assert api.settled(account, event_id=event_id)["status"] == "delivered"

    expected = hmac.new(cred["secret"].encode(), req.body, hashlib.sha256).hexdigest()
    assert req.headers["x-liveperson-signature"] == f"sha256={expected}"
    assert req.headers["x-liveperson-client-id"] == cred["client_id"]
    assert json.loads(req.body) == {
        "commonHeader": {
            "accountId": account,
            "uid": event_id,
            "schemaVersion": "1-0-0",
            "eventTimestamp": 1795255200000,
            "eventType": "AgentStateChangedEvent",
            "webhookSubscriptionId": sub["id"],
        },
        "data": AGENT_EVENT,
    }
    # The secret is never shown again.
    again = api.expect(200, "GET", f"/v1/accounts/{account}/credentials/{cred['id']}")
    assert not again["secret_shown"] and cred["secret"] not in json.dumps(again)


def test_api_key_and_bearer_headers(api: Api, receiver: Receiver, account: str) -> None:
    for body, header, value in (
        ({"scheme": "api-key", "header": "X-Partner-Key", "key": "k" * 20}, "x-partner-key", "k" * 20),
        ({"scheme": "bearer", "token": "t" * 24}, "authorization", "Bearer " + "t" * 24),
    ):
        cred = credential(api, account, name="c", **body)
        path = receiver.new_path("auth")
        api.account_subscription(
            account,
            receiver.url(path),
            ["AgentSnapshotEvent"],
            profile="liveperson-data",
            credential_id=cred["id"],
        )
        api.publish(account, {"type": "AgentSnapshotEvent", "data": {"agentId": "a", "agentName": "b"}})
        [req] = receiver.wait_for(path, 1)
        assert req.headers[header] == value


def test_standard_asymmetric_rotation_sends_both_signatures(
    api: Api, receiver: Receiver, account: str
) -> None:
    cred = credential(api, account, name="ed", scheme="standard", asymmetric=True)
    old_public = cred["public_key"]
    path = receiver.new_path("ed")
    api.account_subscription(account, receiver.url(path), ["x.y"], credential_id=cred["id"])
    rotated = api.expect(
        200, "POST", f"/v1/accounts/{account}/credentials/{cred['id']}/rotate", json={"grace_period": 600}
    )
    assert rotated["previous_active"] and rotated["multiple_signatures"] and "both" in rotated["note"]
    api.publish(account, {"type": "x.y", "data": {"n": 1}})
    [req] = receiver.wait_for(path, 1)
    entries = req.headers["webhook-signature"].split(" ")
    assert [e.split(",")[0] for e in entries] == ["v1a", "v1a"]
    signed = f"{req.headers['webhook-id']}.{req.headers['webhook-timestamp']}.".encode() + req.body
    for public, entry in zip((rotated["public_key"], old_public), entries, strict=True):
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public.removeprefix("whpk_")))
        key.verify(base64.b64decode(entry.split(",")[1]), signed)


def test_standard_symmetric_credential_verifies_with_the_official_library(
    api: Api, receiver: Receiver, account: str
) -> None:
    cred = credential(api, account, name="sym", scheme="standard")
    path = receiver.new_path("sym")
    api.account_subscription(account, receiver.url(path), ["x.y"], credential_id=cred["id"])
    api.publish(account, {"type": "x.y", "data": {"n": 2}})
    [req] = receiver.wait_for(path, 1)
    assert Webhook(cred["secret"]).verify(req.body, req.headers)["data"] == {"n": 2}
    assert abs(int(req.headers["webhook-timestamp"]) - time.time()) < 60


def test_rules_and_errors(api: Api, account: str) -> None:
    bad = api.expect(
        422,
        "POST",
        f"/v1/accounts/{account}/credentials",
        json={"name": "x", "scheme": "bearer", "algorithm": "sha1"},
    )
    assert bad["error"]["data"]["field"] == "algorithm"
    needs = api.expect(
        422,
        "POST",
        f"/v1/accounts/{account}/subscriptions",
        json={"url": "http://127.0.0.1:9/h", "event_types": ["a"], "profile": "liveperson-data"},
    )
    assert needs["error"]["data"]["field"] == "credential_id"
    other = api.expect(
        201, "POST", f"/v1/accounts/{unique('other')}/credentials", json={"name": "o", "scheme": "bearer"}
    )
    foreign = api.expect(
        422,
        "POST",
        f"/v1/accounts/{account}/subscriptions",
        json={"url": "http://127.0.0.1:9/h", "event_types": ["a"], "credential_id": other["id"]},
    )
    assert foreign["error"]["data"]["field"] == "credential_id"
    api.expect(404, "GET", f"/v1/accounts/{account}/credentials/{other['id']}")

    cred = credential(api, account, name="b", scheme="bearer")
    rotated = api.expect(200, "POST", f"/v1/accounts/{account}/credentials/{cred['id']}/rotate", json={})
    assert (
        rotated["secret"] != cred["secret"]
        and not rotated["previous_active"]
        and "at once" in rotated["note"]
    )
    sub = api.account_subscription(account, "http://127.0.0.1:9/h", ["a"], credential_id=cred["id"])
    conflict = api.expect(409, "DELETE", f"/v1/accounts/{account}/credentials/{cred['id']}")
    assert conflict["error"]["type"] == "conflict"
    api.expect(204, "DELETE", f"/v1/accounts/{account}/subscriptions/{sub['id']}")
    api.expect(204, "DELETE", f"/v1/accounts/{account}/credentials/{cred['id']}")
