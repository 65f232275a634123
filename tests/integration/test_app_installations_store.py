"""LivePerson app installations over applications, installations and subscriptions (both backends)."""

from __future__ import annotations

from typing import Any

import pytest

from herald.store import app_installations as store
from herald.store import applications as app_store
from herald.store.database import Database
from herald.store.errors import NotFound
from herald.store.secretbox import SecretBox
from herald.store.subscriptions import Owner, list_subscriptions, load_endpoints

CONTENT = "ms.MessagingEventNotification.ContentEvent"
CONVERSATION = "cqm.ExConversationChangeNotification"


def manifest(**webhooks: Any) -> dict[str, Any]:
    return {
        "client_name": "Example",
        "description": "optional",
        "enabled": True,
        "grant_types": ["client_credentials"],
        "scope": "msg.consumer",
        "capabilities": {"webhooks": webhooks},
    }


async def test_create_get_replace_delete(db: Database, box: SecretBox) -> None:
    hooks = {
        "retry": {"retention_time": 86400},
        CONTENT: {"endpoint": "https://a.example/lp", "max_retries": 1},
        CONVERSATION: {"endpoint": "https://b.example/lp"},
    }
    created = await store.create(db, box, "acct-1", manifest(**hooks))
    assert created["client_secret"]
    assert created["manifest"]["capabilities"]["webhooks"] == {
        "retry": {"retention_time": 86400},
        CONVERSATION: {"endpoint": "https://b.example/lp", "max_retries": 0},
        CONTENT: {"endpoint": "https://a.example/lp", "max_retries": 1},
    }
    assert created["manifest"]["description"] == "optional"
    assert created["manifest"]["scope"] == "msg.consumer"
    app_id = created["id"]

    subs, _ = await list_subscriptions(db, Owner(application_id=app_id), 50, None)
    assert {s["profile"] for s in subs} == {"liveperson-connector"}
    assert sorted(s["event_types"][0] for s in subs) == sorted([CONTENT, CONVERSATION])
    endpoints = await load_endpoints(db, box, [s["id"] for s in subs])
    assert {e.client_id for e in endpoints.values()} == {created["client_id"]}

    got = await store.get(db, "acct-1", app_id)
    assert "client_secret" not in got
    assert got["manifest"] == created["manifest"]
    with pytest.raises(NotFound):
        await store.get(db, "acct-2", app_id)

    new = manifest(**{CONTENT: {"endpoint": "https://c.example/lp", "max_retries": 5}})
    new["enabled"] = False
    out, changed = await store.replace(db, box, "acct-1", app_id, new)
    assert sorted(changed) == sorted(s["id"] for s in subs)
    assert out["enabled"] is False
    assert out["client_id"] == created["client_id"]
    assert out["manifest"]["capabilities"]["webhooks"] == {
        CONTENT: {"endpoint": "https://c.example/lp", "max_retries": 5}
    }
    assert out["subscription_ids"][CONTENT] == created["subscription_ids"][CONTENT]

    removed = await store.delete(db, "acct-1", app_id)
    assert removed == [created["subscription_ids"][CONTENT]]
    with pytest.raises(NotFound):
        await app_store.get_application(db, app_id)
    with pytest.raises(NotFound):
        await store.delete(db, "acct-1", app_id)


async def test_a_plain_application_is_not_an_app_installation(db: Database, box: SecretBox) -> None:
    app = await app_store.create_application(db, box, "plain", "not json")
    await app_store.create_installation(db, app["id"], "acct-1", True, None, None)
    with pytest.raises(NotFound):
        await store.get(db, "acct-1", app["id"])
    with pytest.raises(NotFound):
        await store.delete(db, "acct-1", app["id"])
    await app_store.get_application(db, app["id"])
