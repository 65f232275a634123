"""Operational events: emitted inside the caller's transaction, recorded, and queued for the application's
operational URL as an ordinary delivery of its system subscription (both backends)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson
import pytest

from herald.domain.operational import ENDPOINT_DISABLED, INSTALLATION_STATE_CHANGED, system_account
from herald.store import applications as app_store
from herald.store import operational, queue
from herald.store.database import Database
from herald.store.secretbox import SecretBox
from herald.store.tables import deliveries, events, operational_events, subscriptions
from herald.store.tables import queue as queue_table

if TYPE_CHECKING:
    from conftest import Kit


async def test_emit_without_operational_url_only_records(db: Database, kit: Kit) -> None:
    app = await kit.application()
    async with db.write() as conn:
        out = await operational.emit(
            conn, application_id=app["id"], account_id="a1", type=INSTALLATION_STATE_CHANGED,
            data={"installation_id": "ins_1", "state": "FAILED", "previous_state": "UP"},
        )  # fmt: skip
    assert out.delivery_id is None
    row = await kit.one(operational_events, operational_events.c.id == out.id)
    assert (row["application_id"], row["account_id"], row["type"]) == (
        app["id"],
        "a1",
        INSTALLATION_STATE_CHANGED,
    )
    assert orjson.loads(row["data"])["state"] == "FAILED"
    assert await kit.rows(queue_table) == []


async def test_emit_queues_a_delivery_to_the_operational_url(db: Database, box: SecretBox, kit: Kit) -> None:
    app = await kit.application()
    secret = await operational.configure(db, box, app["id"], "https://ops.example.com/hook")
    assert secret is not None and secret.startswith("whsec_")
    sub = await kit.one(subscriptions, subscriptions.c.account_id == system_account(app["id"]))
    assert sub["url"] == "https://ops.example.com/hook" and sub["application_id"] is None
    async with db.write() as conn:
        out = await operational.emit(
            conn, application_id=app["id"], account_id="a1", type=ENDPOINT_DISABLED,
            data={"subscription_id": "sub_x", "url": "https://x", "reason": "r", "trigger": "manual"},
        )  # fmt: skip
    assert out.delivery_id is not None
    delivery = await kit.one(deliveries, deliveries.c.id == out.delivery_id)
    assert delivery["subscription_id"] == sub["id"] and delivery["status"] == "pending"
    event = await kit.one(events, events.c.id == out.id)
    assert event["type"] == ENDPOINT_DISABLED
    # The dispatcher claims it like any other delivery.
    claimed = await queue.claim(db, 10, 30)
    assert [c.delivery_id for c in claimed] == [out.delivery_id]
    assert orjson.loads(claimed[0].event_data)["reason"] == "r"
    listed, cursor = await operational.list_events(db, application_id=app["id"], limit=10, cursor=None)
    assert [e["id"] for e in listed] == [out.id] and cursor is None
    assert listed[0]["delivery_status"] == "pending"

    # Changing the URL keeps the subscription; removing it stops the deliveries.
    assert await operational.configure(db, box, app["id"], "https://ops2.example.com/") is None
    assert (await kit.one(subscriptions, subscriptions.c.id == sub["id"]))[
        "url"
    ] == "https://ops2.example.com/"
    await operational.configure(db, box, app["id"], None)
    assert await kit.rows(subscriptions, subscriptions.c.id == sub["id"]) == []


async def test_emit_rolls_back_with_the_callers_transaction(db: Database, kit: Kit) -> None:
    app = await kit.application()
    with pytest.raises(RuntimeError):
        async with db.write() as conn:
            await operational.emit(
                conn, application_id=app["id"], account_id=None, type=ENDPOINT_DISABLED, data={}
            )
            raise RuntimeError("the state change failed")
    assert await kit.rows(operational_events) == []


async def test_emit_refuses_unknown_types(db: Database) -> None:
    with pytest.raises(ValueError, match="unknown operational event type"):
        async with db.write() as conn:
            await operational.emit(conn, application_id=None, account_id="a1", type="nope", data={})


async def test_a_disabled_operational_endpoint_gets_nothing_new_until_its_url_is_set_again(
    db: Database, box: SecretBox, kit: Kit
) -> None:
    app = await kit.application()
    await operational.configure(db, box, app["id"], "https://ops.example.com/")
    sub_id = (await kit.one(subscriptions, subscriptions.c.account_id == system_account(app["id"])))["id"]
    async with db.write() as conn:
        await conn.execute(
            subscriptions.update()
            .where(subscriptions.c.id == sub_id)
            .values(enabled=False, disabled_reason="gone: x")
        )
    data = {"subscription_id": "sub_x", "url": "https://x", "reason": "r", "trigger": "manual"}
    async with db.write() as conn:
        out = await operational.emit(
            conn, application_id=app["id"], account_id=None, type=ENDPOINT_DISABLED, data=data
        )
    assert out.delivery_id is None and len(await kit.rows(operational_events)) == 1
    await operational.configure(db, box, app["id"], "https://ops.example.com/")
    row = await kit.one(subscriptions, subscriptions.c.id == sub_id)
    assert row["enabled"] is True and row["disabled_reason"] is None


async def test_deleting_the_application_removes_its_operational_subscription(
    db: Database, box: SecretBox, kit: Kit
) -> None:
    app = await kit.application()
    await operational.configure(db, box, app["id"], "https://ops.example.com/")
    async with db.write() as conn:
        await operational.emit(
            conn, application_id=app["id"], account_id=None, type=ENDPOINT_DISABLED, data={}
        )
    await app_store.delete_application(db, app["id"])
    assert await kit.rows(subscriptions, subscriptions.c.account_id == system_account(app["id"])) == []
    assert await kit.rows(queue_table) == []
    [delivery] = await kit.rows(deliveries)
    assert delivery["status"] == "cancelled"
