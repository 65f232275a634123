"""The bytes on the wire: exact headers, envelopes and signatures of each profile, checked independently."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from e2e_harness import Api, Receiver, profile_header_names, unique
from standardwebhooks import Webhook, WebhookVerificationError

STANDARD_HEADERS = {
    "host",
    "content-length",
    "content-type",
    "user-agent",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
}
LIVEPERSON_HEADERS = {
    "host",
    "content-length",
    "content-type",
    "user-agent",
    "x-liveperson-account-id",
    "x-liveperson-client-id",
    "x-liveperson-signature",
    "x-herald-delivery-id",
}

CONTENT_EVENT_CHANGE = {
    "sequence": 0,
    "originatorId": "ade2-4b0f",
    "originatorMetadata": {"id": "ade2-4b0f", "role": "CONSUMER"},
    "serverTimestamp": 1528371161893,
    "dialogId": "5491244f-d1a8",
    "conversationId": "5491244f-d1a8",
    "event": {"type": "ContentEvent", "message": "Hello from Consumer ✓ é", "contentType": "text/plain"},
}
CONVERSATION_CHANGE = {
    "changes": [
        {
            "type": "UPSERT",
            "result": {
                "convId": "5491244f-d1a8",
                "conversationDetails": {
                    "participants": [{"id": "ade2-4b0f", "role": "CONSUMER"}],
                    "brandId": "64467156",
                    "state": "OPEN",
                    "startTs": 1528371161882,
                    "metaDataLastUpdateTs": 1528371161882,
                    "ttr": {"ttrType": "PRIORITIZED", "value": 600},
                },
            },
        }
    ]
}


def lp_signature(secret: str, body: bytes) -> str:
    """LivePerson: "sha1=" + Base64(HMAC-SHA1(client_secret, raw body)), computed here from scratch."""
    return "sha1=" + base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha1).digest()).decode()


def assert_single_valued(raw_headers: list[tuple[str, str]]) -> None:
    names = [k.lower() for k, _ in raw_headers]
    assert len(names) == len(set(names)), f"a header was sent twice: {raw_headers}"


@pytest.mark.parametrize("owner", ["account", "application"])
def test_standard_profile_headers_body_and_signature(
    api: Api, receiver: Receiver, account: str, owner: str
) -> None:
    path = receiver.new_path("std")
    if owner == "account":
        sub = api.account_subscription(account, receiver.url(path), ["order.created"])
    else:
        app = api.create_application(unique("std-app"))
        api.install(app["id"], account)
        sub = api.app_subscription(app["id"], receiver.url(path), ["order.created"])
        assert sub["application_id"] == app["id"]
    secret = sub["secret"]
    assert secret.startswith("whsec_")
    assert sub["profile"] == "standard"
    data = {"order": 42, "items": ["a", "b"], "text": 'héllo ✓ "quoted"', "nested": {"x": None, "f": 1.5}}
    event_id = unique("evt-std")
    api.publish(
        account, {"id": event_id, "type": "order.created", "data": data, "timestamp": "2024-05-01T12:00:00Z"}
    )

    [req] = receiver.wait_for(path, 1)
    delivery = api.settled(account, event_id=event_id)
    assert delivery["status"] == "delivered", delivery
    assert delivery["attempts"] == 1

    h = req.headers
    assert req.method == "POST"
    assert_single_valued(req.raw_headers)
    assert {k.lower() for k in profile_header_names(req.raw_headers)} == STANDARD_HEADERS, sorted(h)
    assert h["webhook-id"] == delivery["id"]
    assert abs(int(h["webhook-timestamp"]) - time.time()) < 60
    assert h["webhook-signature"].startswith("v1,")
    assert h["content-type"] == "application/json"
    assert h["user-agent"].startswith("Herald/")
    assert int(h["content-length"]) == len(req.body)

    # The official verifier accepts exactly these bytes and headers ...
    payload = Webhook(secret).verify(req.body, h)
    assert payload == {"type": "order.created", "timestamp": "2024-05-01T12:00:00.000Z", "data": data}
    # ... and an independent recomputation gives the same signature.
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{h['webhook-id']}.{h['webhook-timestamp']}.".encode() + req.body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert h["webhook-signature"] == expected
    # A changed body, another delivery id or another secret does not verify.
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(req.body.replace(b"42", b"43"), h)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(req.body, {**h, "webhook-id": "dlv_other"})
    other = api.account_subscription(account, receiver.url(receiver.new_path("std")), ["nothing.matches"])
    with pytest.raises(WebhookVerificationError):
        Webhook(other["secret"]).verify(req.body, h)

    # The delivery log keeps what was sent.
    [attempt] = delivery["attempt_log"]
    assert attempt["status_code"] == 200
    assert attempt["error_kind"] is None
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        assert attempt["request_headers"][name] == h[name]
    assert delivery["event"]["id"] == event_id
    assert delivery["event"]["data"] == data
    assert delivery["subscription_id"] == sub["id"]


def test_liveperson_account_subscription_headers_and_signature(
    api: Api, receiver: Receiver, account: str
) -> None:
    path = receiver.new_path("lp-acct")
    sub = api.account_subscription(
        account,
        receiver.url(path),
        ["ms.MessagingEventNotification.ContentEvent"],
        profile="liveperson-connector",
    )
    secret, client_id = sub["secret"], sub["client_id"]
    assert secret and not secret.startswith("whsec_")
    assert client_id
    event_id = unique("evt-lp")
    api.publish(
        account,
        {"id": event_id, "type": "ms.MessagingEventNotification.ContentEvent", "data": CONTENT_EVENT_CHANGE},
    )

    [req] = receiver.wait_for(path, 1)
    delivery = api.settled(account, event_id=event_id)
    assert delivery["status"] == "delivered", delivery

    h = req.headers
    assert_single_valued(req.raw_headers)
    assert {k.lower() for k in profile_header_names(req.raw_headers)} == LIVEPERSON_HEADERS, sorted(h)
    assert h["x-liveperson-account-id"] == account
    assert h["x-liveperson-client-id"] == client_id
    assert h["x-liveperson-signature"] == lp_signature(secret, req.body)
    assert h["x-herald-delivery-id"] == delivery["id"]
    assert h["content-type"] == "application/json"
    assert int(h["content-length"]) == len(req.body)
    # The base type on top, the change (with its sub-type) inside body.changes.
    assert json.loads(req.body) == {
        "kind": "notification",
        "type": "ms.MessagingEventNotification",
        "body": {"changes": [CONTENT_EVENT_CHANGE]},
    }
    assert h["x-liveperson-signature"] != lp_signature(secret + "x", req.body)


def test_liveperson_application_subscription_signs_with_the_application(
    api: Api, receiver: Receiver, account: str
) -> None:
    app = api.create_application(unique("lp-app"))
    api.install(app["id"], account)
    disabled_account, foreign_account = unique("acct-off"), unique("acct-none")
    api.install(app["id"], disabled_account, enabled=False)
    path = receiver.new_path("lp-app")
    sub = api.app_subscription(
        app["id"],
        receiver.url(path),
        ["cqm.ExConversationChangeNotification"],
        profile="liveperson-connector",
    )
    assert sub.get("secret") is None, "an application connector subscription signs with the app's secret"
    assert sub["application_id"] == app["id"]

    event_id = unique("evt-lp-app")
    event = {"id": event_id, "type": "cqm.ExConversationChangeNotification", "data": CONVERSATION_CHANGE}
    api.publish(account, event)
    # Not installed, or installed but disabled: nothing is queued for the application's subscription.
    api.publish(disabled_account, event)
    api.publish(foreign_account, event)
    assert api.deliveries(disabled_account) == []
    assert api.deliveries(foreign_account) == []

    [req] = receiver.wait_for(path, 1)
    delivery = api.settled(account, event_id=event_id)
    assert delivery["status"] == "delivered", delivery
    h = req.headers
    assert {k.lower() for k in profile_header_names(req.raw_headers)} == LIVEPERSON_HEADERS, sorted(h)
    assert h["x-liveperson-account-id"] == account
    assert h["x-liveperson-client-id"] == app["client_id"]
    assert h["x-liveperson-signature"] == lp_signature(app["client_secret"], req.body)
    assert h["x-herald-delivery-id"] == delivery["id"]
    # Data that already holds `changes` is the body as is.
    assert json.loads(req.body) == {
        "kind": "notification",
        "type": "cqm.ExConversationChangeNotification",
        "body": CONVERSATION_CHANGE,
    }
    time.sleep(0.3)
    assert len(receiver.requests(path)) == 1, "only the installed, enabled account fires"
