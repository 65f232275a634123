"""Payload filters at publish time: only subscriptions whose filter matches the event data get a delivery."""

from __future__ import annotations

from typing import TYPE_CHECKING

from herald.store.database import Database
from herald.store.publish import NewEvent
from herald.store.secretbox import SecretBox
from herald.store.subscriptions import Owner, get_subscription, update_subscription
from herald.store.tables import deliveries, queue, subscriptions

if TYPE_CHECKING:
    from conftest import Kit


def _event(event_id: str, data: str, type_: str = "order.created") -> NewEvent:
    return NewEvent(id=event_id, type=type_, timestamp=1.0, data=data)


async def _subs_of(kit: Kit, event_id: str) -> set[str]:
    rows = await kit.rows(deliveries, deliveries.c.event_id == event_id)
    return {r["subscription_id"] for r in rows}


async def test_publish_fans_out_only_to_matching_filters(db: Database, box: SecretBox, kit: Kit) -> None:
    unfiltered = await kit.subscription("a1")
    big = await kit.subscription("a1", filter={"amount": {"$gt": 100}})
    sales = await kit.subscription(
        "a1", filter={"$or": [{"convDetails.skill": "sales"}, {"tags": {"$in": ["vip"]}}]}
    )
    app = await kit.application()
    await kit.install(app["id"], "a1")
    app_sub = await kit.subscription(application_id=app["id"], filter={"items.0.sku": {"$regex": "^S-"}})

    result = await kit.publish(
        "a1",
        _event("e1", '{"amount": 500, "convDetails": {"skill": "sales"}}'),
        _event("e2", '{"amount": 5, "tags": ["vip"], "items": [{"sku": "S-1"}]}'),
        _event("e3", '{"amount": "500"}'),  # a string is not a number: no match
        _event("e4", "[1, 2]"),
    )
    assert result.deliveries == 3 + 3 + 1 + 1
    assert await _subs_of(kit, "e1") == {unfiltered["id"], big["id"], sales["id"]}
    assert await _subs_of(kit, "e2") == {unfiltered["id"], sales["id"], app_sub["id"]}
    assert await _subs_of(kit, "e3") == {unfiltered["id"]}
    assert await _subs_of(kit, "e4") == {unfiltered["id"]}
    assert len(await kit.rows(queue)) == 8

    stored = await get_subscription(db, Owner(account_id="a1"), big["id"])
    assert stored["filter"] == {"amount": {"$gt": 100}}


async def test_clearing_a_filter_delivers_everything_again(db: Database, box: SecretBox, kit: Kit) -> None:
    sub = await kit.subscription("a1", filter={"amount": {"$gt": 100}})
    await kit.publish("a1", _event("e1", '{"amount": 1}'))
    assert await _subs_of(kit, "e1") == set()
    await update_subscription(db, box, Owner(account_id="a1"), sub["id"], {"filter": None})
    await kit.publish("a1", _event("e2", '{"amount": 1}'))
    assert await _subs_of(kit, "e2") == {sub["id"]}


async def test_an_invalid_stored_filter_matches_nothing(kit: Kit) -> None:
    sub = await kit.subscription("a1")
    other = await kit.subscription("a1")
    async with kit.db.write() as conn:
        await conn.execute(
            subscriptions.update().where(subscriptions.c.id == sub["id"]).values(filter={"$bogus": 1})
        )
    result = await kit.publish("a1", _event("e1", "{}"))
    assert result.deliveries == 1
    assert await _subs_of(kit, "e1") == {other["id"]}
