"""Publish: events and their fan-out committed together; duplicates deliver nothing new."""

from __future__ import annotations

from typing import TYPE_CHECKING

from herald.store.database import Database
from herald.store.publish import NewEvent, publish
from herald.store.secretbox import SecretBox
from herald.store.subscriptions import Owner, update_subscription
from herald.store.tables import deliveries, events, queue

if TYPE_CHECKING:
    from conftest import Kit


async def _subs_of(kit: Kit, event_id: str, account_id: str = "a1") -> set[str]:
    rows = await kit.rows(
        deliveries, deliveries.c.account_id == account_id, deliveries.c.event_id == event_id
    )
    return {r["subscription_id"] for r in rows}


async def test_fan_out(db: Database, box: SecretBox, kit: Kit) -> None:
    account_orders = await kit.subscription("a1", event_types=["order.*"])
    account_all = await kit.subscription("a1", event_types=["*"])
    disabled = await kit.subscription("a1", event_types=["*"])
    await update_subscription(db, box, Owner(account_id="a1"), disabled["id"], {"enabled": False})
    other_account = await kit.subscription("a2", event_types=["*"])

    installed = await kit.application("installed")
    await kit.install(installed["id"], "a1")
    installed_sub = await kit.subscription(application_id=installed["id"], event_types=["order.created"])
    turned_off = await kit.application("turned-off")
    await kit.install(turned_off["id"], "a1", enabled=False)
    await kit.subscription(application_id=turned_off["id"], event_types=["*"])
    elsewhere = await kit.application("elsewhere")
    await kit.install(elsewhere["id"], "a2")
    elsewhere_sub = await kit.subscription(application_id=elsewhere["id"], event_types=["*"])

    result = await kit.publish("a1", ("e1", "order.created"), ("e2", "order.paid"), ("e3", "user.created"))
    assert result.ids == ["e1", "e2", "e3"]
    assert result.duplicates == []
    assert result.deliveries == 3 + 2 + 1

    assert await _subs_of(kit, "e1") == {account_orders["id"], account_all["id"], installed_sub["id"]}
    assert await _subs_of(kit, "e2") == {account_orders["id"], account_all["id"]}
    assert await _subs_of(kit, "e3") == {account_all["id"]}

    queued = await kit.rows(queue)
    delivered = await kit.rows(deliveries)
    assert len(queued) == len(delivered) == 6
    assert {q["delivery_id"] for q in queued} == {d["id"] for d in delivered}
    assert all(d["status"] == "pending" and d["attempts"] == 0 for d in delivered)
    assert all(q["lease"] == 0 and q["attempts"] == 0 and q["manual"] is False for q in queued)

    result = await kit.publish("a2", ("e1", "order.created"))  # same id, another account: a new event
    assert result.duplicates == []
    assert await _subs_of(kit, "e1", "a2") == {other_account["id"], elsewhere_sub["id"]}


async def test_events_stored_as_given(kit: Kit) -> None:
    event = NewEvent(
        id="e1", type="t.x", timestamp=1_700_000_000.5, data='{"z": 1, "a": "\u00e9"}', ordering_key="conv-1"
    )
    result = await kit.publish("a1", event)
    assert result.deliveries == 0  # no subscriptions: stored, nothing to deliver
    row = await kit.one(events)
    assert (
        row["account_id"],
        row["id"],
        row["type"],
        row["timestamp"],
        row["data"],
        row["ordering_key"],
    ) == (
        "a1",
        "e1",
        "t.x",
        1_700_000_000.5,
        '{"z": 1, "a": "\u00e9"}',
        "conv-1",
    )


async def test_duplicate_ids_across_calls(kit: Kit) -> None:
    await kit.subscription("a1")
    first = await kit.publish("a1", ("e1", "t"), ("e2", "t"))
    assert first.deliveries == 2
    again = await kit.publish("a1", NewEvent("e1", "other", 2.0, '{"changed":true}'), ("e3", "t"))
    assert again.ids == ["e1", "e3"]
    assert again.duplicates == ["e1"]
    assert again.deliveries == 1
    assert len(await kit.rows(deliveries)) == 3
    assert (await kit.one(events, events.c.id == "e1"))["type"] == "t"  # the first one stands
    only_dups = await kit.publish("a1", ("e1", "t"), ("e2", "t"))
    assert (only_dups.duplicates, only_dups.deliveries) == (["e1", "e2"], 0)
    assert len(await kit.rows(queue)) == 3


async def test_duplicate_ids_inside_one_batch(kit: Kit) -> None:
    await kit.subscription("a1")
    await kit.subscription("a1")
    result = await kit.publish(
        "a1", NewEvent("e1", "t", 1.0, '{"v":1}'), NewEvent("e1", "t", 1.0, '{"v":2}'), ("e2", "t")
    )
    assert result.ids == ["e1", "e1", "e2"]
    assert result.deliveries == 4  # two events x two subscriptions
    assert len(await kit.rows(events)) == 2
    assert (await kit.one(events, events.c.id == "e1"))["data"] == '{"v":1}'
    assert len(await kit.rows(deliveries, deliveries.c.event_id == "e1")) == 2


async def test_ordering_key_only_for_ordered_subscriptions(kit: Kit) -> None:
    ordered = await kit.subscription("a1", ordered=True)
    unordered = await kit.subscription("a1", ordered=False)
    await kit.publish(
        "a1", NewEvent("e1", "t", 1.0, "{}", ordering_key="conv-1"), NewEvent("e2", "t", 1.0, "{}")
    )
    keys = {(q["subscription_id"], q["event_id"]): q["ordering_key"] for q in await kit.rows(queue)}
    assert keys == {
        (ordered["id"], "e1"): "conv-1",
        (ordered["id"], "e2"): None,
        (unordered["id"], "e1"): None,
        (unordered["id"], "e2"): None,
    }


async def test_retry_settings_precedence(kit: Kit) -> None:
    app = await kit.application()
    await kit.install(app["id"], "a1", max_retries=3, retention_time=600)
    inherits = await kit.subscription(application_id=app["id"])
    overrides = await kit.subscription(application_id=app["id"], max_retries=1)
    account_sub = await kit.subscription("a1", max_retries=2)
    plain = await kit.subscription("a1")
    await kit.publish("a1", ("e1", "t"))
    got = {q["subscription_id"]: (q["max_retries"], q["retention_time"]) for q in await kit.rows(queue)}
    assert got == {
        inherits["id"]: (3, 600),
        overrides["id"]: (1, 600),  # the subscription's own setting wins
        account_sub["id"]: (2, None),
        plain["id"]: (None, None),
    }


async def test_large_batch_in_one_call(db: Database, kit: Kit) -> None:
    await kit.subscription("a1")
    batch = [NewEvent(f"e{i}", "t", 1.0, "{}") for i in range(50)]
    result = await publish(db, "a1", batch)
    assert result.deliveries == 50
    assert len(await kit.rows(events)) == len(await kit.rows(queue)) == len(await kit.rows(deliveries)) == 50
