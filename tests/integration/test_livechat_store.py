"""LiveChat webhooks in the store (SQLite and PostgreSQL): registration limit, listing, unregistering, the
per-license switch, and the publish fan-out deciding by license state and LiveChat filters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
import pytest

from herald.domain.livechat import WEBHOOK_LIMIT
from herald.store import applications as app_store
from herald.store import livechat as store
from herald.store import queue
from herald.store.database import Database
from herald.store.errors import NotFound
from herald.store.publish import NewEvent
from herald.store.secretbox import SecretBox
from herald.store.subscriptions import load_endpoints
from herald.store.tables import deliveries, events, livechat_license_webhooks, subscriptions
from herald.store.tables import queue as queue_table

if TYPE_CHECKING:
    from conftest import Kit

CHAT = {"id": "PJ0MRSHTDG", "users": [{"id": "agent@x.com", "type": "agent"}], "properties": {"p": {"k": 1}}}


async def register(
    db: Database, box: SecretBox, app: dict[str, Any], action: str = "incoming_chat", **options: Any
) -> str:
    return await store.register_webhook(
        db,
        box,
        app["id"],
        url="https://example.com/hook",
        action=action,
        secret_key="s3cret",
        description=None,
        options={
            "version": "v3.3",
            "type": "license",
            "owner_client_id": app["client_id"],
            "filters": {},
            "additional_data": [],
            **options,
        },
    )


def chat_event(event_id: str, **extra: Any) -> NewEvent:
    return NewEvent(
        id=event_id, type="incoming_chat", timestamp=1.0, data=orjson.dumps({"chat": CHAT}).decode(), **extra
    )


async def delivered_to(kit: Kit, event_id: str) -> set[str]:
    return {r["subscription_id"] for r in await kit.rows(deliveries, deliveries.c.event_id == event_id)}


async def test_three_webhooks_per_action_per_client(db: Database, box: SecretBox, kit: Kit) -> None:
    app, other = await kit.application(), await kit.application("other")
    ids = [await register(db, box, app) for _ in range(WEBHOOK_LIMIT)]
    with pytest.raises(store.LimitReached):
        await register(db, box, app)
    await register(db, box, app, "incoming_event")  # another action has its own limit
    await register(db, box, other)  # so has another client
    listed = await store.list_webhooks(db, app["id"])
    assert [r["id"] for r in listed][:3] == ids and len(listed) == 4
    assert listed[0]["livechat"]["owner_client_id"] == app["client_id"]
    # The secret is stored encrypted, and decrypted for delivery.
    row = await kit.one(subscriptions, subscriptions.c.id == ids[0])
    assert row["secret"] != "s3cret" and row["profile"] == "livechat"
    assert (await load_endpoints(db, box, [ids[0]]))[ids[0]].secret == "s3cret"

    with pytest.raises(NotFound):
        await store.unregister_webhook(db, other["id"], ids[0])  # not its webhook
    await store.unregister_webhook(db, app["id"], ids[0])
    with pytest.raises(NotFound):
        await store.unregister_webhook(db, app["id"], ids[0])
    await register(db, box, app)  # room again


async def test_license_state_defaults_on_and_a_disable_survives_reinstall(
    db: Database, box: SecretBox, kit: Kit
) -> None:
    app = await kit.application()
    installation = await kit.install(app["id"], "104130623")
    # "Webhooks are always automatically enabled for the licences that install your application."
    assert await store.license_webhooks_enabled(db, app["id"], "104130623")
    await store.set_license_webhooks(db, app["id"], "104130623", False)
    assert not await store.license_webhooks_enabled(db, app["id"], "104130623")
    await store.set_license_webhooks(db, app["id"], "104130623", True)
    assert await store.license_webhooks_enabled(db, app["id"], "104130623")
    await store.set_license_webhooks(db, app["id"], "104130623", False)
    await app_store.delete_installation(db, app["id"], installation["id"])
    await kit.install(app["id"], "104130623")
    assert not await store.license_webhooks_enabled(db, app["id"], "104130623")  # still disabled
    assert len(await kit.rows(livechat_license_webhooks)) == 1


async def test_webhooks_fire_only_where_installed_and_enabled(db: Database, box: SecretBox, kit: Kit) -> None:
    app = await kit.application()
    hook = await register(db, box, app, additional_data=["chat_properties", "chat_presence_user_ids"])
    await kit.install(app["id"], "a1", max_retries=5, retention_time=600)  # LivePerson's settings
    await kit.publish("a1", chat_event("e1"))
    assert await delivered_to(kit, "e1") == {hook}  # enabled by installing, never switched
    await store.set_license_webhooks(db, app["id"], "a1", False)
    await kit.publish("a1", chat_event("e1b"))
    assert await delivered_to(kit, "e1b") == set()  # the license turned them off
    await store.set_license_webhooks(db, app["id"], "a1", True)
    await store.set_license_webhooks(db, app["id"], "a2", True)  # enabled but not installed
    await kit.publish("a1", chat_event("e2"))
    await kit.publish("a2", chat_event("e3"))
    assert await delivered_to(kit, "e2") == {hook}
    # The installation's LivePerson retry settings do not apply: the profile's policy does.
    row = await kit.one(queue_table, queue_table.c.event_id == "e2")
    assert (row["max_retries"], row["retention_time"]) == (None, None)
    assert await delivered_to(kit, "e3") == set()
    await store.set_license_webhooks(db, app["id"], "a1", False)
    await kit.publish("a1", chat_event("e4"))
    assert await delivered_to(kit, "e4") == set()

    # The event's context is stored with it and claimed with the delivery.
    stored = await kit.one(events, events.c.id == "e2")
    assert orjson.loads(stored["context"]) == {
        "chat_properties": {"p": {"k": 1}},
        "chat_presence_user_ids": ["agent@x.com"],
    }
    claimed = [c for c in await queue.claim(db, 10, 30) if c.event_id == "e2"]
    assert claimed and orjson.loads(claimed[0].event_context or b"") == orjson.loads(stored["context"])


async def test_livechat_filters_decide_at_publish(db: Database, box: SecretBox, kit: Kit) -> None:
    app = await kit.application()
    await kit.install(app["id"], "a1")
    await store.set_license_webhooks(db, app["id"], "a1", True)
    mine = await register(db, box, app, filters={"only_my_chats": True})
    agent = await register(db, box, app, filters={"chat_presence": {"user_ids": {"values": ["agent@x.com"]}}})
    nobody = await register(db, box, app, filters={"chat_presence": {"user_ids": {"values": ["nobody"]}}})
    await kit.publish("a1", chat_event("e1"))
    assert await delivered_to(kit, "e1") == {agent}
    await kit.publish("a1", chat_event("e2", context={"source_client_id": app["client_id"]}))
    assert await delivered_to(kit, "e2") == {mine, agent}
    assert nobody not in await delivered_to(kit, "e2")
    # A native event type is not a LiveChat action: no context stored.
    await kit.publish("a1", ("e3", "order.created"))
    assert (await kit.one(events, events.c.id == "e3"))["context"] is None


async def test_deleting_the_application_removes_its_license_switches(
    db: Database, box: SecretBox, kit: Kit
) -> None:
    app = await kit.application()
    await store.set_license_webhooks(db, app["id"], "a1", True)
    await app_store.delete_application(db, app["id"])
    assert await kit.rows(livechat_license_webhooks) == []


async def test_application_keeps_a_given_client_id(db: Database, box: SecretBox) -> None:
    app = await app_store.create_application(db, box, "lc", None, client_id="asXdesldiAJSq9padj")
    assert app["client_id"] == "asXdesldiAJSq9padj"
    found = await store.application_by_client_id(db, "asXdesldiAJSq9padj")
    assert found is not None and found["id"] == app["id"]
    with pytest.raises(Exception, match="taken"):
        await app_store.create_application(db, box, "again", None, client_id="asXdesldiAJSq9padj")
