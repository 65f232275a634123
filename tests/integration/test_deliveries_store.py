"""The delivery log: filters, cursor pages, one delivery with attempts and event, resend, tenancy."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import update

from herald.domain.models import DeliveryStatus
from herald.store import queue as q
from herald.store.database import Database
from herald.store.deliveries import DeliveryFilter, get_delivery, list_deliveries, resend
from herald.store.errors import NotFound
from herald.store.publish import NewEvent
from herald.store.tables import deliveries, queue

if TYPE_CHECKING:
    from conftest import Kit


async def _setup(db: Database, kit: Kit) -> dict[str, str]:
    """a1: orders sub (order.*) and an all sub (*); e1/e2 orders, e3 user → 5 deliveries. a2: one."""
    orders = await kit.subscription("a1", event_types=["order.*"])
    everything = await kit.subscription("a1", event_types=["*"])
    await kit.subscription("a2")
    await kit.publish("a1", ("e1", "order.created"), ("e2", "order.paid"), ("e3", "user.created"))
    await kit.publish("a2", ("e1", "order.created"))
    # spread creation times so since/until filters and page order are deterministic
    async with db.write() as conn:
        for event_id, created in (("e1", 1000.0), ("e2", 2000.0), ("e3", 3000.0)):
            await conn.execute(
                update(deliveries)
                .where(deliveries.c.account_id == "a1", deliveries.c.event_id == event_id)
                .values(created_at=created)
            )
    return {"orders": orders["id"], "all": everything["id"]}


async def _list(db: Database, flt: DeliveryFilter, account_id: str = "a1") -> list[dict[str, object]]:
    rows, cursor = await list_deliveries(db, account_id, flt, 100, None)
    assert cursor is None
    return rows


async def test_filters(db: Database, kit: Kit) -> None:
    subs = await _setup(db, kit)
    everything = await _list(db, DeliveryFilter())
    assert len(everything) == 5
    assert all(r["account_id"] == "a1" for r in everything)

    by_sub = await _list(db, DeliveryFilter(subscription_id=subs["orders"]))
    assert {r["event_id"] for r in by_sub} == {"e1", "e2"}
    assert {r["event_id"] for r in await _list(db, DeliveryFilter(event_type="user.created"))} == {"e3"}
    by_event = await _list(db, DeliveryFilter(event_id="e1"))
    assert {r["subscription_id"] for r in by_event} == {subs["orders"], subs["all"]}
    assert {r["event_id"] for r in await _list(db, DeliveryFilter(since=2000.0))} == {"e2", "e3"}
    assert {r["event_id"] for r in await _list(db, DeliveryFilter(until=2000.0))} == {"e1"}
    assert {r["event_id"] for r in await _list(db, DeliveryFilter(since=1500.0, until=2500.0))} == {"e2"}
    combined = await _list(db, DeliveryFilter(subscription_id=subs["all"], event_id="e3"))
    assert len(combined) == 1

    claimed = [c for c in await q.claim(db, 100, 30) if c.account_id == "a1" and c.event_id == "e3"]
    await q.record(db, [kit.record(c) for c in claimed])
    delivered = await _list(db, DeliveryFilter(status=DeliveryStatus.DELIVERED))
    assert [r["event_id"] for r in delivered] == ["e3"]
    assert len(await _list(db, DeliveryFilter(status=DeliveryStatus.PENDING))) == 4
    assert await _list(db, DeliveryFilter(status=DeliveryStatus.DEAD)) == []


async def test_cursor_pages_newest_first(db: Database, kit: Kit) -> None:
    await _setup(db, kit)
    expected = [r["id"] for r in await _list(db, DeliveryFilter())]
    created = [r["created_at"] for r in await _list(db, DeliveryFilter())]
    assert created == sorted(created, reverse=True)
    seen: list[object] = []
    sizes = []
    cursor = None
    for _ in range(10):
        rows, cursor = await list_deliveries(db, "a1", DeliveryFilter(), 2, cursor)
        sizes.append(len(rows))
        seen.extend(r["id"] for r in rows)
        if cursor is None:
            break
    assert sizes == [2, 2, 1]
    assert seen == expected
    # cursors compose with filters
    rows, cursor = await list_deliveries(db, "a1", DeliveryFilter(event_id="e1"), 1, None)
    assert cursor is not None
    rest, end = await list_deliveries(db, "a1", DeliveryFilter(event_id="e1"), 1, cursor)
    assert end is None
    assert {rows[0]["id"], rest[0]["id"]} == {r["id"] for r in await _list(db, DeliveryFilter(event_id="e1"))}


async def test_get_delivery_with_attempts_and_event(db: Database, kit: Kit) -> None:
    await kit.subscription("a1")
    await kit.publish(
        "a1", NewEvent("e1", "order.created", 1234.5, '{"id":"o1","n":[1,2]}', ordering_key="c1")
    )
    [c] = await q.claim(db, 10, 30)
    t0 = time.time()
    await q.record(db, [kit.failure(c, next_attempt_at=t0 - 1)])
    [c2] = await q.claim(db, 10, 30)
    await q.record(db, [kit.record(c2, headers={"webhook-id": c.delivery_id, "x": "y"}, attempted_at=t0 + 1)])

    got = await get_delivery(db, "a1", c.delivery_id)
    assert got["status"] == DeliveryStatus.DELIVERED
    assert got["attempts"] == 2
    assert [(a["attempt"], a["status_code"]) for a in got["attempt_log"]] == [(1, 500), (2, 200)]
    assert got["attempt_log"][1]["request_headers"] == {"webhook-id": c.delivery_id, "x": "y"}
    assert got["attempt_log"][0]["response_body"] == "boom"
    assert got["event"] == {
        "id": "e1",
        "type": "order.created",
        "timestamp": 1234.5,
        "ordering_key": "c1",
        "data": {"id": "o1", "n": [1, 2]},
    }


async def test_get_delivery_without_attempts(db: Database, kit: Kit) -> None:
    await kit.subscription("a1")
    await kit.publish("a1", ("e1", "t"))
    [d] = await kit.rows(deliveries)
    got = await get_delivery(db, "a1", d["id"])
    assert got["attempt_log"] == []
    assert got["status"] == DeliveryStatus.PENDING
    assert got["event"]["data"] == {"n": 1}


async def test_resend_finished_delivery(db: Database, kit: Kit) -> None:
    await kit.subscription("a1")
    await kit.publish("a1", ("e1", "t"))
    [c] = await q.claim(db, 10, 30)
    await q.record(db, [kit.failure(c, next_attempt_at=None)])
    assert (await kit.one(deliveries))["status"] == DeliveryStatus.DEAD
    assert await kit.rows(queue) == []

    before = time.time()
    out = await resend(db, "a1", c.delivery_id)
    assert out["status"] == DeliveryStatus.PENDING
    assert out["finished_at"] is None
    assert out["next_attempt_at"] >= before
    row = await kit.one(queue)
    assert (row["delivery_id"], row["manual"], row["attempts"], row["lease"]) == (c.delivery_id, True, 1, 0)
    assert row["available_at"] <= time.time()
    [again] = await q.claim(db, 10, 30)
    assert again.manual is True
    assert again.attempts == 1
    assert again.delivery_id == c.delivery_id
    await q.record(db, [kit.record(again)])
    final = await get_delivery(db, "a1", c.delivery_id)
    assert final["status"] == DeliveryStatus.DELIVERED
    assert [a["attempt"] for a in final["attempt_log"]] == [1, 2]


async def test_resend_delivered_delivery_sends_again(db: Database, kit: Kit) -> None:
    await kit.subscription("a1")
    await kit.publish("a1", ("e1", "t"))
    [c] = await q.claim(db, 10, 30)
    await q.record(db, [kit.record(c)])
    await resend(db, "a1", c.delivery_id)
    [again] = await q.claim(db, 10, 30)
    assert again.manual is True
    assert (await kit.one(deliveries))["status"] == DeliveryStatus.PENDING


async def test_resend_pending_keeps_its_retry_and_sends_a_new_delivery(db: Database, kit: Kit) -> None:
    await kit.subscription("a1")
    await kit.publish("a1", ("e1", "t"))
    [c] = await q.claim(db, 10, 30)
    retry_at = time.time() + 3600
    await q.record(db, [kit.failure(c, next_attempt_at=retry_at)])
    assert await q.claim(db, 10, 30) == []
    out = await resend(db, "a1", c.delivery_id)
    assert out["id"] != c.delivery_id and out["event_id"] == "e1" and out["attempts"] == 0
    # The retrying delivery's schedule is untouched: same due time, same attempt count, not manual.
    [kept] = await kit.rows(queue, queue.c.delivery_id == c.delivery_id)
    assert (kept["available_at"], kept["attempts"], kept["manual"]) == (retry_at, 1, False)
    original = await get_delivery(db, "a1", c.delivery_id)
    assert original["next_attempt_at"] == retry_at and original["status"] == DeliveryStatus.PENDING
    # The resend is tried once, now, as its own delivery; its failure retries nothing.
    [again] = await q.claim(db, 10, 30)
    assert (again.delivery_id, again.manual, again.attempts) == (out["id"], True, 0)
    await q.record(db, [kit.failure(again, next_attempt_at=None)])
    assert (await get_delivery(db, "a1", out["id"]))["status"] == DeliveryStatus.DEAD
    [kept] = await kit.rows(queue)
    assert (kept["delivery_id"], kept["available_at"]) == (c.delivery_id, retry_at)


async def test_tenant_scoping(db: Database, kit: Kit) -> None:
    await _setup(db, kit)
    [theirs] = await _list(db, DeliveryFilter(), account_id="a2")
    mine = await _list(db, DeliveryFilter())
    assert theirs["id"] not in {r["id"] for r in mine}
    with pytest.raises(NotFound) as info:
        await get_delivery(db, "a1", theirs["id"])
    assert info.value.data == {"field": "delivery_id"}
    with pytest.raises(NotFound):
        await resend(db, "a1", theirs["id"])
    with pytest.raises(NotFound):
        await get_delivery(db, "a1", "dlv_missing")
    assert await _list(db, DeliveryFilter(event_id="e1"), account_id="a3") == []
    # the refused resend changed nothing
    assert (await get_delivery(db, "a2", theirs["id"]))["status"] == DeliveryStatus.PENDING
    assert len(await kit.rows(queue, queue.c.delivery_id == theirs["id"])) == 1
