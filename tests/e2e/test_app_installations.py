"""LivePerson app installations from the manifest: deliveries on a real receiver, checked independently."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest
from e2e_harness import Api, Receiver, profile_header_names, unique
from test_signatures import CONTENT_EVENT_CHANGE, CONVERSATION_CHANGE, LIVEPERSON_HEADERS, lp_signature

CONTENT = "ms.MessagingEventNotification.ContentEvent"
CONVERSATION = "cqm.ExConversationChangeNotification"
HOOK = f"capabilities.webhooks.{CONTENT}"
OTHERS = (
    "ms.MessagingEventNotification.RichContentEvent",
    "ms.MessagingEventNotification.ChatStateEvent",
    "ms.MessagingEventNotification.AcceptStatusEvent",
)


def manifest(receiver: Receiver, paths: dict[str, str]) -> dict[str, Any]:
    """The example of liveperson.md, with the receiver's URLs."""
    hooks: dict[str, Any] = {"retry": {"retention_time": 86400}}
    hooks[CONTENT] = {"endpoint": receiver.url(paths[CONTENT]), "max_retries": 1}
    for event_type in OTHERS:
        hooks[event_type] = {"endpoint": receiver.url(paths["other"])}
    hooks[CONVERSATION] = {"endpoint": receiver.url(paths[CONVERSATION]), "max_retries": 3}
    return {
        "client_name": "Example webhooks configuration",
        "description": "optional",
        "enabled": True,
        "grant_types": ["client_credentials"],
        "scope": "msg.consumer",
        "capabilities": {"webhooks": hooks},
    }


def install(api: Api, receiver: Receiver, account: str) -> tuple[dict[str, Any], dict[str, str]]:
    paths = {key: receiver.new_path("lp-inst") for key in (CONTENT, CONVERSATION, "other")}
    body = manifest(receiver, paths)
    created = api.expect(201, "POST", f"/v1/accounts/{account}/app-installations", json=body)
    return created, paths


def test_manifest_deliveries_are_signed_with_the_installation_secret(
    api: Api, receiver: Receiver, account: str
) -> None:
    created, paths = install(api, receiver, account)
    client_id, secret = created["client_id"], created["client_secret"]
    assert client_id and secret
    assert created["id"].startswith("app")
    expected_manifest = manifest(receiver, paths)
    expected_manifest["capabilities"]["webhooks"].update(
        {t: {**expected_manifest["capabilities"]["webhooks"][t], "max_retries": 0} for t in OTHERS}
    )
    assert created["manifest"] == expected_manifest

    content_id, conversation_id = unique("evt-lpi-content"), unique("evt-lpi-conv")
    api.publish(account, {"id": content_id, "type": CONTENT, "data": CONTENT_EVENT_CHANGE})
    api.publish(account, {"id": conversation_id, "type": CONVERSATION, "data": CONVERSATION_CHANGE})

    [content_req] = receiver.wait_for(paths[CONTENT], 1)
    [conversation_req] = receiver.wait_for(paths[CONVERSATION], 1)
    for req in (content_req, conversation_req):
        h = req.headers
        assert {k.lower() for k in profile_header_names(req.raw_headers)} == LIVEPERSON_HEADERS, sorted(h)
        assert h["x-liveperson-account-id"] == account
        assert h["x-liveperson-client-id"] == client_id
        assert h["x-liveperson-signature"] == lp_signature(secret, req.body)
        assert h["x-liveperson-signature"] != lp_signature(secret + "x", req.body)
    assert json.loads(content_req.body) == {
        "kind": "notification",
        "type": "ms.MessagingEventNotification",
        "body": {"changes": [CONTENT_EVENT_CHANGE]},
    }
    assert json.loads(conversation_req.body)["type"] == CONVERSATION
    assert api.settled(account, event_id=content_id)["status"] == "delivered"
    assert api.settled(account, event_id=conversation_id)["status"] == "delivered"
    time.sleep(0.3)
    assert receiver.requests(paths["other"]) == []
    assert len(receiver.requests(paths[CONTENT])) == 1


def test_disabled_by_put_delivers_nothing(api: Api, receiver: Receiver, account: str) -> None:
    created, paths = install(api, receiver, account)
    body = manifest(receiver, paths)
    body["enabled"] = False
    out = api.expect(200, "PUT", f"/v1/accounts/{account}/app-installations/{created['id']}", json=body)
    assert out["enabled"] is False and out["manifest"]["enabled"] is False
    api.publish(account, {"id": unique("evt-lpi-off"), "type": CONTENT, "data": CONTENT_EVENT_CHANGE})
    time.sleep(0.5)
    assert receiver.requests(paths[CONTENT]) == []
    assert api.deliveries(account) == []


def test_get_put_delete_round_trip(api: Api, receiver: Receiver, account: str) -> None:
    created, paths = install(api, receiver, account)
    url = f"/v1/accounts/{account}/app-installations/{created['id']}"
    got = api.expect(200, "GET", url)
    assert "client_secret" not in got
    assert got["manifest"] == created["manifest"]
    assert got["client_id"] == created["client_id"]
    assert got["state"] == "UP"

    # Replace: ContentEvent moves, the conversation webhook goes, no retry policy any more.
    moved = receiver.new_path("lp-inst-moved")
    body: dict[str, Any] = {
        "client_name": "renamed",
        "capabilities": {"webhooks": {CONTENT: {"endpoint": receiver.url(moved), "max_retries": 5}}},
    }
    out = api.expect(200, "PUT", url, json=body)
    assert out["client_id"] == created["client_id"]
    assert out["manifest"] == {
        "client_name": "renamed",
        "enabled": True,
        "grant_types": ["client_credentials"],
        "capabilities": {"webhooks": {CONTENT: {"endpoint": receiver.url(moved), "max_retries": 5}}},
    }
    assert out["subscription_ids"][CONTENT] == created["subscription_ids"][CONTENT]
    assert api.expect(200, "GET", url) == out

    event_id = unique("evt-lpi-moved")
    api.publish(account, {"id": event_id, "type": CONTENT, "data": CONTENT_EVENT_CHANGE})
    api.publish(account, {"id": unique("evt-lpi-gone"), "type": CONVERSATION, "data": CONVERSATION_CHANGE})
    [req] = receiver.wait_for(moved, 1)
    assert req.headers["x-liveperson-signature"] == lp_signature(created["client_secret"], req.body)
    time.sleep(0.3)
    assert receiver.requests(paths[CONVERSATION]) == []

    api.expect(204, "DELETE", url)
    api.expect(404, "GET", url)
    api.expect(404, "DELETE", url)
    api.expect(404, "GET", f"/v1/applications/{created['id']}")


def test_another_account_cannot_see_it(api: Api, receiver: Receiver, account: str) -> None:
    created, _ = install(api, receiver, account)
    other = unique("acct-other")
    url = f"/v1/accounts/{other}/app-installations/{created['id']}"
    api.expect(404, "GET", url)
    api.expect(404, "DELETE", url)
    api.expect(404, "PUT", url, json={"client_name": "x", "capabilities": {"webhooks": {}}})
    # A plain application is not an app installation.
    app = api.create_application(unique("plain"))
    api.install(app["id"], account)
    api.expect(404, "GET", f"/v1/accounts/{account}/app-installations/{app['id']}")


def _with(body: dict[str, Any], change: Any) -> dict[str, Any]:
    out = copy.deepcopy(body)
    change(out)
    return out


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: b["capabilities"]["webhooks"].update(foo={"endpoint": "https://x.example"}),
         "capabilities.webhooks.foo"),
        (lambda b: b["capabilities"].update(bar={}), "capabilities.bar"),
        (lambda b: b["capabilities"]["webhooks"][CONTENT].pop("endpoint"), f"{HOOK}.endpoint"),
        (lambda b: b["capabilities"]["webhooks"][CONTENT].update(endpoint="ftp://x.example/"),
         f"{HOOK}.endpoint"),
        (lambda b: b["capabilities"]["webhooks"][CONTENT].update(max_retries=6),
         f"{HOOK}.max_retries"),
        (lambda b: b["capabilities"]["webhooks"][CONTENT].update(max_retries=-1),
         f"{HOOK}.max_retries"),
        (lambda b: b["capabilities"]["webhooks"]["retry"].update(retention_time=1),
         "capabilities.webhooks.retry.retention_time"),
        (lambda b: b["capabilities"]["webhooks"]["retry"].update(retention_time=259_201),
         "capabilities.webhooks.retry.retention_time"),
        (lambda b: b.pop("client_name"), "client_name"),
        (lambda b: b.pop("capabilities"), "capabilities"),
    ],
)  # fmt: skip
def test_bad_manifests_are_refused_with_the_field_path(
    api: Api, receiver: Receiver, account: str, change: Any, field: str
) -> None:
    good = manifest(receiver, {CONTENT: "/a", CONVERSATION: "/b", "other": "/c"})
    resp = api.request("POST", f"/v1/accounts/{account}/app-installations", json=_with(good, change))
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["data"]["field"] == field, resp.text


def test_put_validates_like_post(api: Api, receiver: Receiver, account: str) -> None:
    created, paths = install(api, receiver, account)
    body = manifest(receiver, paths)
    body["capabilities"]["webhooks"]["foo"] = {"endpoint": "https://x.example"}
    resp = api.request("PUT", f"/v1/accounts/{account}/app-installations/{created['id']}", json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["data"]["field"] == "capabilities.webhooks.foo"
